"""A small SQLModel model set for the eval files ``tests/cases/dbs00N_sqlmodel*.py``, executed by
the soundness suite against the same SQLite file (and aiosqlite engine) as ``models.py``.

Shaped like a real SQLModel + async codebase: ``table=True`` classes with ``Field(...)``,
``sa_column=`` and plain annotated columns (some inherited from a non-table base), ``Relationship(...)`` with and without
``sa_relationship_kwargs={"lazy": ...}``, properties over relationships, a non-table schema
class, and project-specific scopes: ``session_scope()`` (sync) and ``async_session_scope()``
(``AsyncSession(engine, expire_on_commit=False)``, commit on success, rollback on error),
plus ``ScopeProvider.scope()``, a scope that is a method.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import List, Optional

from sqlalchemy import Column, String
from sqlmodel import Field, Relationship, Session, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from soundness.models import async_engine, engine


class SquadBase(SQLModel):
    """Fields shared by the table and its schemas (SQLModel's documented pattern)."""

    name: str
    rank: int = 0


class Squad(SquadBase, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    motto: str = Field(default="", sa_column=Column(String, nullable=False, default=""))
    # lazy="select" (SQLModel's default): loaded on first access, through the session.
    heroes: List["Hero"] = Relationship(back_populates="squad", sa_relationship_kwargs={"order_by": "Hero.id"})
    # Loaded with the squad: safe after the session closed, and inside an async scope.
    badges: List["Badge"] = Relationship(sa_relationship_kwargs={"lazy": "selectin", "order_by": "Badge.id"})
    # Never loaded on access: must be eager-loaded in the query, inside the scope too.
    missions: List["Mission"] = Relationship(sa_relationship_kwargs={"lazy": "raise", "order_by": "Mission.id"})

    @property
    def badge_names(self) -> list:
        return [badge.name for badge in self.badges]

    @property
    def hero_names(self) -> list:
        return [hero.name for hero in self.heroes]

    def title(self) -> str:
        return f"{self.name}: {self.motto}"


class Hero(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    squad_id: Optional[int] = Field(default=None, foreign_key="squad.id")
    squad: Optional[Squad] = Relationship(back_populates="heroes")


class Badge(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    squad_id: Optional[int] = Field(default=None, foreign_key="squad.id")


class Mission(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    squad_id: Optional[int] = Field(default=None, foreign_key="squad.id")


class SquadRead(SquadBase):
    """Not a table: a schema, what an endpoint returns instead of the row."""

    id: int


@contextmanager
def session_scope() -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


@asynccontextmanager
async def async_session_scope() -> AsyncIterator[AsyncSession]:
    async with AsyncSession(async_engine, expire_on_commit=False) as session:
        try:
            yield session
            await session.commit()
        except Exception:
            await session.rollback()
            raise


class ScopeProvider:
    """Opens sessions for a service (``provider.scope()``)."""

    @asynccontextmanager
    async def scope(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(async_engine, expire_on_commit=False) as session:
            yield session
            await session.commit()


provider = ScopeProvider()
_created = False


def reset() -> None:
    """Squad 1 "red" (heroes ann and bob, badge "gold", mission "rescue"); squad 2 "blue"."""
    global _created
    if not _created:
        SQLModel.metadata.create_all(engine)
        _created = True
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
    with Session(engine) as session:
        red = Squad(id=1, name="red", motto="first", heroes=[Hero(name="ann"), Hero(name="bob")])
        session.add_all([red, Squad(id=2, name="blue"), Badge(name="gold", squad_id=1), Mission(name="rescue", squad_id=1)])
        session.commit()


def hero_and_squad_names() -> set:
    with Session(engine) as session:
        return set(session.exec(select(Hero.name)).all()) | set(session.exec(select(Squad.name)).all())
