# module: app.api.deps
"""DBS002: session dependencies in non-endpoint functions (helper dependencies)."""
from typing import Annotated

from fastapi import Depends, Security
from sqlalchemy.orm import Session

from app.db import get_db, get_session, get_async_db


def get_current_user(token: str = Depends(lambda: "t"), db: Session = Depends(get_db)):  # DBS002
    return db.get(object, token)


async def get_current_admin(db: Annotated[Session, Security(get_async_db)]):  # DBS002
    return db


class ToolService:
    def __init__(self, db: Session = Depends(get_session)):  # DBS002
        self.db = db


def outer():
    def inner(db: Session = Depends(get_db)):  # DBS002
        return db

    return inner


def unused_helper(db: Session = Depends(get_db)):  # DBS002
    return 1


def get_other(value: str = Depends(lambda: "v")):
    return value
