# module: app.api.helpers
"""DBS002 only where FastAPI resolves the helper: referenced as a dependency, what a dependency
factory returns, a class or callable instance used as one, an override; not a function that is
only called directly; a public helper nobody references is reported (status unreferenced)."""
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()
app = FastAPI()
DbSession = Annotated[Session, Depends(get_db)]


def current_user(db: Session = Depends(get_db)):  # DBS002:32 "in helper dependency current_user"
    return db


def requires_access(permission: str):  # a dependency factory
    def check(db: DbSession):  # DBS002:19 "requires_access.check"
        return permission, db

    return check


class Pagination:  # a class dependency: FastAPI calls __init__
    def __init__(self, db: Session = Depends(get_db)):  # DBS002:38 "Pagination.__init__"
        self.db = db


class Checker:  # a callable instance: FastAPI calls __call__
    def __call__(self, db: DbSession):  # DBS002:28 "Checker.__call__"
        return db


class Repository:  # instantiated inside Depends(...): __call__ again
    def __init__(self, name: str):
        self.name = name

    async def __call__(self, db: DbSession):  # DBS002:34 "Repository.__call__"
        return db


checker = Checker()


def override_user(db: DbSession):  # DBS002:23 "override_user"
    return db


async def load_items(session: DbSession):  # a plain function called directly: not a helper dependency
    return session


class Service:
    def refresh(self, db: Session = Depends(get_db)):  # a method called directly: not one either
        return db


def library_helper(db: Session = Depends(get_db)):  # DBS002:34 "library_helper"
    return db


def _dead_helper(db: Session = Depends(get_db)):  # private and unused: nothing resolves it
    return db


@router.get("/items", dependencies=[Depends(requires_access("read")), Depends(checker)])
async def list_items(user=Depends(current_user), page: Pagination = Depends(Pagination), repo=Depends(Repository("x"))):
    with_session = Depends(lambda: None)
    items = await load_items(session=user)
    Service().refresh(db=user)
    return items, page, repo, with_session


app.dependency_overrides[current_user] = override_user
