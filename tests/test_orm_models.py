"""Model discovery with no ``db-session-model-modules``: declarative, registry-mapped and SQLModel
``table=True`` classes found by following a project's imports through the file-backed index; the
loader strategy of each relationship; the core itself reads no files."""

from __future__ import annotations

import ast
import os
import textwrap

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from flake8_db_session.analysis import analyze
from flake8_db_session.analysis.models import _member_reads, summarize_source
from flake8_db_session.config import Settings
from flake8_db_session.project import context_for_path

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flake8_db_session")

PROJECT = {
    "app/__init__.py": "",
    "app/db.py": """
        from contextlib import asynccontextmanager, contextmanager
        from sqlalchemy.orm import sessionmaker
        from sqlmodel import Session
        from sqlmodel.ext.asyncio.session import AsyncSession

        SessionLocal = sessionmaker(expire_on_commit=False)

        @contextmanager
        def session_scope():
            with Session(ENGINE, expire_on_commit=False) as session:
                yield session
                session.commit()

        @asynccontextmanager
        async def async_scope():
            async with AsyncSession(ASYNC_ENGINE, expire_on_commit=False) as session:
                yield session
                await session.commit()
    """,
    "app/models/__init__.py": """
        from .declarative import Team
        from .mapped import Port
        from .tables import Hero, HeroRead, Squad
    """,
    "app/models/declarative.py": """
        from typing import List
        from sqlalchemy.orm import Mapped, as_declarative, relationship

        @as_declarative()
        class Base:
            pass

        class Team(Base):
            members: Mapped[List["Member"]] = relationship()
            tags: Mapped[List["Tag"]] = relationship(lazy="selectin")
    """,
    "app/models/mapped.py": """
        from typing import List
        from sqlalchemy.orm import Mapped, registry, relationship

        reg = registry()

        @reg.mapped
        class Port:
            ships: Mapped[List["Ship"]] = relationship()
    """,
    "app/models/tables.py": """
        from typing import List, Optional
        from sqlalchemy import Column, String
        from sqlmodel import Field, Relationship, SQLModel

        class SquadBase(SQLModel):
            name: str

        class Squad(SquadBase, table=True):
            id: Optional[int] = Field(default=None, primary_key=True)
            motto: str = Field(sa_column=Column(String))
            heroes: List["Hero"] = Relationship(back_populates="squad")
            badges: list["Badge"] = Relationship(sa_relationship_kwargs={"lazy": "joined"})

            @property
            def badge_names(self):
                return [badge.name for badge in self.badges]

        class Hero(SQLModel, table=True):
            id: Optional[int] = Field(default=None, primary_key=True)
            squad: "Squad | None" = Relationship(back_populates="heroes")

        class HeroRead(SquadBase):
            id: int
    """,
    "app/routes.py": """
        from sqlmodel import select
        from app.db import SessionLocal, async_scope, session_scope
        from app.models import Hero, HeroRead, Port, Squad, Team

        def declarative():
            with SessionLocal() as db:
                team = db.get(Team, 1)
            return team.members, team.tags  # DBS005

        def registry_mapped():
            with SessionLocal() as db:
                port = db.get(Port, 1)
            return port.ships  # DBS005

        def sqlmodel_table():
            with session_scope() as session:
                heroes = session.exec(select(Hero)).all()
            return [hero.squad for hero in heroes]  # DBS005

        def sqlmodel_eager_property():
            with session_scope() as session:
                squad = session.get(Squad, 1)
            return squad.badge_names, squad.motto

        def sqlmodel_schema():
            with session_scope() as session:
                hero = HeroRead.model_validate(session.get(Hero, 1))
            return hero.squad

        async def sqlmodel_async():
            async with async_scope() as session:
                squad = await session.get(Squad, 1)
                return len(squad.heroes)  # DBS009
    """,
}


def _write(root) -> str:
    for relative, text in PROJECT.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(root / "app" / "routes.py")


def _expected(source: str) -> set[tuple[int, str]]:
    found = set()
    for number, line in enumerate(source.splitlines(), start=1):
        if "# DBS" in line:
            found.update((number, code) for code in line.split("#", 1)[1].split())
    return found


def test_models_are_discovered_without_configuration(tmp_path):
    path = _write(tmp_path)
    # The project's scopes by qualified name, as scope discovery hands them to the rules.
    settings = Settings(root=str(tmp_path), scopes=("SessionLocal", "app.db.session_scope", "app.db.async_scope"))
    module, is_package, index = context_for_path(path, settings)
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    findings = analyze(source, path, settings, module=module, is_package=is_package, index=index)
    got = {(f.line, f.code) for f in findings}
    assert got == _expected(source), sorted((f.line, f.code, f.message) for f in findings)


def test_sqlmodel_summary_columns_relationships_and_strategies():
    source = textwrap.dedent(PROJECT["app/models/tables.py"]).encode()
    summary = summarize_source(source, "tables.py", "app.models.tables", False)
    squad = summary.classes["Squad"]
    assert squad.table and not summary.classes["SquadBase"].table
    assert {"id", "motto"} <= squad.columns
    assert dict((name, lazy) for name, _, lazy in squad.relationships) == {"heroes": "select", "badges": "joined"}
    hero = summary.classes["Hero"]
    assert hero.relationships == (("squad", "app.models.tables.Squad", "select"),)


def test_loader_strategies_are_read_as_sqlalchemy_documents_them():
    source = textwrap.dedent(
        """
        from sqlalchemy.orm import DeclarativeBase, DynamicMapped, Mapped, WriteOnlyMapped, relationship
        from sqlmodel import Relationship, SQLModel

        class Base(DeclarativeBase):
            pass

        class Team(Base):
            a: Mapped[list["X"]] = relationship()
            b: Mapped[list["X"]] = relationship(lazy=True)
            c: Mapped[list["X"]] = relationship(lazy=False)
            d: Mapped[list["X"]] = relationship(lazy=None)
            e: DynamicMapped["X"] = relationship()
            f: WriteOnlyMapped["X"] = relationship()
            g: Mapped[list["X"]] = relationship(lazy="raise")

        class Squad(SQLModel, table=True):
            h: list["X"] = Relationship(sa_relationship_kwargs=dict(lazy="subquery"))
            i: list["X"] = Relationship(sa_relationship=relationship(lazy="immediate"))
        """
    ).encode()
    summary = summarize_source(source, "m.py", "m", False)
    strategies = {
        name: lazy for cls in summary.classes.values() for name, _, lazy in cls.relationships
    }
    assert strategies == {
        "a": "select", "b": "select", "c": "joined", "d": "noload", "e": "dynamic", "f": "write_only",
        "g": "raise", "h": "subquery", "i": "immediate",
    }


def test_the_model_core_opens_no_files():
    """Model discovery, scopes and the expression analysis ask the project index for other
    modules' text; they never open, stat or list files themselves."""
    forbidden = {"open", "stat", "listdir", "scandir", "read_bytes", "read_text", "isfile", "exists"}
    for name in ("models.py", "scopes.py", "orm_expressions.py"):
        with open(os.path.join(PACKAGE, "analysis", name), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        calls = {
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert not calls & forbidden, (name, calls & forbidden)


def _member_reads_by_every_attribute(reads, wanted):
    """The closure as first written: every pass looks at every attribute each member reads."""
    found = {member: attrs & wanted for member, attrs in reads.items()}
    for _ in range(3):
        changed = False
        for member, attrs in reads.items():
            through = found[member].union(*(found.get(other, frozenset()) for other in attrs if other != member))
            if through != found[member]:
                found[member] = frozenset(through)
                changed = True
        if not changed:
            break
    return {member: frozenset(attrs) for member, attrs in found.items() if attrs}


WORDS = ["a", "b", "c", "d", "team", "owner", "members", "<object_session>", "x"]


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(st.sampled_from(WORDS[:6]), st.frozensets(st.sampled_from(WORDS), max_size=6), max_size=6),
    st.sets(st.sampled_from(WORDS), max_size=4),
)
def test_member_reads_follow_members_as_a_walk_over_every_attribute_does(reads, wanted):
    assert _member_reads(reads, wanted) == _member_reads_by_every_attribute(reads, wanted)
