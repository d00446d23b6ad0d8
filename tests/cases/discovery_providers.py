# module: app.routers.discovered
"""Discovery with no configuration: providers found by what they hand out, by their return
annotation, or by the session-typed parameter that uses them; scopes and homonyms stay out."""
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, AsyncIterator

import requests
from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from app.settings import get_settings, http_client, vendor_session

router = APIRouter()
SessionLocal = sessionmaker()
AsyncMaker = async_sessionmaker()


def provide_db():  # no annotation: a generator over a sessionmaker result
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


provide_scope = contextmanager(provide_db)


async def provide_async() -> AsyncIterator[AsyncSession]:
    async with AsyncMaker() as session:
        yield session


def make_session() -> Session:  # returns a session
    return SessionLocal()


def session_for_jobs() -> Session:  # a provider nobody uses as a dependency: never a finding
    return SessionLocal()


@asynccontextmanager
async def get_db():  # a context manager named like a provider: a scope, not a dependency
    async with AsyncMaker() as session:
        yield session


AsyncDb = Annotated[AsyncSession, Depends(provide_async)]


@router.get("/a")
def generator_provider(db=Depends(provide_db)):  # DBS001:27 "open a short scope with provide_scope() instead"
    return db


@router.get("/b")
async def async_provider(db: AsyncSession = Depends(provide_async)):  # DBS001:45 "provide_async on endpoint async_provider"
    return db


@router.get("/c")
def returning_provider(db=Depends(make_session)):  # DBS001:27 "open a short scope with SessionLocal() instead"
    return db


@router.get("/d")
def typed_parameter(db: Session = Depends(vendor_session)):  # DBS001:35 "vendor_session"
    return db


@router.get("/e")
async def through_alias(db: AsyncDb):  # DBS001:29 "provide_async"
    return db


@router.get("/f")
def not_a_session(settings=Depends(get_settings), http: requests.Session = Depends(http_client)):
    return settings, http


@router.get("/g")
async def uses_scope():
    async with get_db() as session:
        return await session.get(object, 1)


@router.get("/h")
def job_runner():
    with session_for_jobs() as db:
        return db.get(object, 1)
