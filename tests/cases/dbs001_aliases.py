# module: app.routers.aliased
"""DBS001 through type aliases: the finding sits at each annotation that uses the alias."""
from typing import Annotated, TypeAlias

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()

DbSession = Annotated[Session, Depends(get_db)]
DbSessionTA: TypeAlias = Annotated[Session, Depends(get_db, scope="function")]
DbDep = Depends(get_db)
NotASession = Annotated[str, Depends(lambda: "x")]


@router.get("/a")
def uses_alias(db: DbSession):  # DBS001
    return db


@router.get("/b")
async def uses_typealias(item: int, db: DbSessionTA):  # DBS001
    return item


@router.get("/c")
def uses_depends_value(db: Session = DbDep):  # DBS001
    return db


@router.get("/d", dependencies=[DbDep])  # DBS001
def route_dependency_value():
    return {}


@router.get("/e")
def not_a_session(value: NotASession):
    return value


def helper(db: DbSession):  # DBS002
    return db
