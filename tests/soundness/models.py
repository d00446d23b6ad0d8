"""The one small model set the ORM eval files import and the soundness suite executes them with.

Shaped like the real target: ``SessionLocal`` with ``expire_on_commit=False``, a ``get_db``
generator that commits on success, rolls back on error and closes, and
``fresh_db_session = contextmanager(get_db)``. ``ExpiringSession`` keeps SQLAlchemy's default
(``expire_on_commit=True``). A file-backed SQLite database, so the pool counts checked-out
connections (DBS008) like a real pool.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import List, Optional

from sqlalchemy import ForeignKey, create_engine, event
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

_DIRECTORY = tempfile.mkdtemp(prefix="dbs-soundness-")
engine = create_engine(f"sqlite:///{os.path.join(_DIRECTORY, 'soundness.db')}")


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    members: Mapped[List[Member]] = relationship(back_populates="team", order_by="Member.id")
    # Loaded with the team: safe to read after the session closed.
    tags: Mapped[List[Tag]] = relationship(lazy="selectin", order_by="Tag.id")

    @property
    def member_names(self) -> list:
        return [member.name for member in self.members]

    def label(self) -> str:
        return self.name.upper()


class Member(Base):
    __tablename__ = "member"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    team: Mapped[Team] = relationship(back_populates="members")


class Tag(Base):
    __tablename__ = "tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("team.id"))


SessionLocal = sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)
ExpiringSession = sessionmaker(bind=engine)
# The same database through asyncio (aiosqlite): lazy loads inside the scope raise MissingGreenlet.
async_engine = create_async_engine(f"sqlite+aiosqlite:///{os.path.join(_DIRECTORY, 'soundness.db')}")
AsyncSessionLocal = async_sessionmaker(async_engine, expire_on_commit=False)


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
        db.commit()
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


fresh_db_session = contextmanager(get_db)


@event.listens_for(engine, "connect")
def _fast_sqlite(connection, _record):  # durability is irrelevant for a scratch database
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA journal_mode=MEMORY")


_created = False


def reset() -> None:
    """A fresh database: team 1 "core" with members ann and bob and tag "a"; team 2 "ops"."""
    global _created
    if not _created:
        Base.metadata.create_all(engine)
        _created = True
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    with SessionLocal() as db:
        core = Team(id=1, name="core", members=[Member(name="ann"), Member(name="bob")])
        db.add_all([core, Team(id=2, name="ops"), Tag(name="a", team_id=1)])
        db.commit()


def names_in_database() -> set:
    with SessionLocal() as db:
        teams = {team.name for team in db.query(Team)}
        members = {member.name for member in db.query(Member)}
    return teams | members
