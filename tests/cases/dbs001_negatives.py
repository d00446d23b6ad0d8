# module: app.services.negatives
"""Look-alikes that are not session dependencies: none of these is a finding."""
import contextlib

from fastapi import APIRouter
from sqlalchemy.orm import Session

router = APIRouter()


def Depends(dependency):  # a local function named Depends is not FastAPI's
    return dependency


def get_db():
    yield Session()


@contextlib.asynccontextmanager
async def get_db_cm():
    yield Session()


@router.get("/local-depends")
def local_depends(db=Depends(get_db)):
    return db


async def calls_are_not_dependencies():
    async with get_db_cm() as db:  # a call of a context manager
        pass
    db = next(get_db())  # a manual scope (DBS008's business), not DBS001/DBS002
    for db in get_db():
        pass
    return db


@router.get("/uses-other")
def other_dependency(x=Depends(get_db_cm)):
    return x
