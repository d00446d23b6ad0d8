"""With no ``db-session-scope-factory``, migrate writes the short scope discovery finds for the
endpoint's session provider, or skips the endpoint saying why; a configured factory wins."""

from __future__ import annotations

import ast
import shutil
import textwrap

import pytest

pytest.importorskip("ast_grep_py")

from flake8_db_session.config import Settings  # noqa: E402
from flake8_db_session.migrate import migrate_source  # noqa: E402
from flake8_db_session.project import context_for_path  # noqa: E402

SYNC_DB = """\
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

SessionLocal = sessionmaker(bind=create_engine("sqlite://"))


def get_db():
    db = SessionLocal()
    try:
        yield db
        db.commit()
    finally:
        db.close()


db_scope = contextmanager(get_db)
"""

ASYNC_DEPS = """\
from contextlib import asynccontextmanager
from typing import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

async_session_maker = async_sessionmaker(create_async_engine("sqlite+aiosqlite://"))


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    async with async_session_maker() as session:
        yield session
        await session.commit()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        yield session
"""

MAKER_ONLY_DB = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker(bind=create_engine("sqlite://"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
"""

SYNC_ROUTES = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from .db import get_db

router = APIRouter()


@router.get("/count")
async def count(db: Session = Depends(get_db)):
    n = db.execute("select 1").scalar()
    return {"n": n}
"""


def project(tmp_path, files: dict[str, str]):
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    for name, text in files.items():
        (app / name).write_text(textwrap.dedent(text))
    return app


def run(path, settings: Settings | None = None):
    settings = settings or Settings(root=str(path.parent.parent))
    module, is_package, index = context_for_path(str(path), settings)
    outcome = migrate_source(path.read_text(), str(path), settings, module=module, is_package=is_package, index=index)
    assert not outcome.error, outcome.error
    ast.parse(outcome.after)
    return outcome


def test_discovered_sync_scope_wrapping_the_provider_is_written_and_imported(tmp_path):
    app = project(tmp_path, {"db.py": SYNC_DB, "routes.py": SYNC_ROUTES})
    outcome = run(app / "routes.py")
    assert [(e.function, e.action) for e in outcome.endpoints] == [("count", "moved")]
    assert "from .db import db_scope\n" in outcome.after
    assert "    with db_scope() as db:\n        n = db.execute" in outcome.after
    assert "fresh_db_session" not in outcome.after


def test_discovered_async_scope_for_async_endpoints_and_skipped_for_sync_ones(tmp_path):
    app = project(
        tmp_path,
        {
            "deps.py": ASYNC_DEPS,
            "routes.py": """\
                from fastapi import APIRouter, Depends
                from sqlalchemy.ext.asyncio import AsyncSession

                from app import deps

                router = APIRouter()


                @router.get("/a")
                async def a(db: AsyncSession = Depends(deps.get_session)):
                    return {"n": await db.scalar("select 1")}


                @router.get("/b")
                def b(db: AsyncSession = Depends(deps.get_session)):
                    return {"n": 1 if db else 0}
                """,
        },
    )
    outcome = run(app / "routes.py")
    assert "    async with deps.session_scope() as db:\n        return" in outcome.after
    (moved, skipped) = outcome.endpoints
    assert (moved.function, moved.action) == ("a", "moved")
    assert (skipped.function, skipped.action, skipped.reason) == ("b", "skipped", "no-scope-factory")
    assert "asynchronous" in skipped.detail


def test_no_short_scope_in_the_project_skips_with_the_reason(tmp_path):
    app = project(tmp_path, {"db.py": MAKER_ONLY_DB, "routes.py": SYNC_ROUTES.replace("async def", "def")})
    outcome = run(app / "routes.py")
    (endpoint,) = outcome.endpoints
    assert (endpoint.action, endpoint.reason) == ("skipped", "no-scope-factory")
    assert "opens app.db.SessionLocal, not a context manager" in endpoint.detail
    assert outcome.after == (app / "routes.py").read_text()


def test_configured_scope_factory_wins_over_the_discovered_one(tmp_path):
    db = SYNC_DB + "\n\n@contextmanager\ndef audited_scope():\n    with SessionLocal() as s:\n        yield s\n"
    app = project(tmp_path, {"db.py": db, "routes.py": SYNC_ROUTES})
    settings = Settings(root=str(tmp_path), scope_factory="app.db:audited_scope")
    outcome = run(app / "routes.py", settings)
    assert "from app.db import audited_scope\n" in outcome.after
    assert "    with audited_scope() as db:\n" in outcome.after
    assert "db_scope" not in outcome.after


def _scope_calls(text: str) -> list[str]:
    return [
        ast.unparse(item.context_expr)
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.With, ast.AsyncWith))
        for item in node.items
    ]


def test_cli_dry_run_and_write_use_the_discovered_scope(tmp_path, run_cli):
    source = tmp_path / "src"
    source.mkdir()
    project(source, {"db.py": SYNC_DB, "routes.py": SYNC_ROUTES})
    original = (source / "app" / "routes.py").read_text()

    dry = run_cli("migrate", "app", cwd=source)
    assert dry.returncode == 0, dry.stderr
    assert "+from .db import db_scope\n" in dry.stdout
    assert "+    with db_scope() as db:\n" in dry.stdout
    assert "1 moved into a short scope" in dry.stderr
    assert (source / "app" / "routes.py").read_text() == original  # a dry run writes nothing

    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    written = run_cli("migrate", "--write", "--no-diff", "app", cwd=copy)
    assert written.returncode == 0, written.stderr
    text = (copy / "app" / "routes.py").read_text()
    assert _scope_calls(text) == ["db_scope()"]
    assert "Depends(get_db)" not in text
    check = run_cli("check", "--select", "DBS001", "app", cwd=copy)
    assert "DBS001" not in check.stdout, check.stdout


LOCAL_PROVIDER_ROUTES = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from .db import {maker}

router = APIRouter()


def get_db():
    db = {maker}()
    try:
        yield db
    finally:
        db.close()


@router.get("/count")
def count(db: Session = Depends(get_db)):
    return {{"n": db.execute("select 1").scalar()}}
"""


def test_a_provider_of_the_same_sessionmaker_gets_the_conventional_scope_beside_it(tmp_path):
    db = SYNC_DB.replace("db_scope =", "fresh_db_session =") + "OtherLocal = sessionmaker()\n"
    app = project(tmp_path, {"db.py": db, "routes.py": LOCAL_PROVIDER_ROUTES.format(maker="SessionLocal")})
    outcome = run(app / "routes.py")
    assert [(e.action, e.detail) for e in outcome.endpoints] == [("moved", "")]
    assert "from app.db import fresh_db_session\n" in outcome.after
    assert "    with fresh_db_session() as db:\n" in outcome.after

    other = tmp_path / "other"
    other.mkdir()
    app = project(other, {"db.py": db, "routes.py": LOCAL_PROVIDER_ROUTES.format(maker="OtherLocal")})
    (endpoint,) = run(app / "routes.py").endpoints
    assert (endpoint.action, endpoint.reason) == ("skipped", "no-scope-factory")
    assert "opens app.db.OtherLocal, not a context manager" in endpoint.detail


def test_a_provider_outside_the_project_gets_the_context_manager_the_module_already_opens(tmp_path):
    routes = """\
        from typing import Annotated

        from fastapi import APIRouter, Depends
        from sqlalchemy.ext.asyncio import AsyncSession
        from outside.deps import injectable_session

        from app.deps import session_scope

        router = APIRouter()
        DbSession = Annotated[AsyncSession, Depends(injectable_session)]


        async def warm_up():
            async with session_scope() as session:
                await session.scalar("select 1")


        @router.get("/a")
        async def a(db: DbSession):
            return {"n": await db.scalar("select 1")}


        @router.get("/b")
        def b(db: DbSession):
            return {"n": 1 if db else 0}
        """
    app = project(tmp_path, {"deps.py": ASYNC_DEPS, "routes.py": routes})
    outcome = run(app / "routes.py")
    assert "    async with session_scope() as db:\n        return" in outcome.after
    assert [(e.function, e.action, e.reason) for e in outcome.endpoints] == [
        ("a", "moved", ""),
        ("b", "skipped", "no-scope-factory"),
    ]
    assert "no short scope found for outside.deps.injectable_session" in outcome.endpoints[1].detail
