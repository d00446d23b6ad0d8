"""The project index parses another module only when it must, and once per process."""

from __future__ import annotations

import ast

import pytest

from flake8_db_session import project
from flake8_db_session.analysis import analyze_tree
from flake8_db_session.config import Settings

DEPS = """
from typing import Annotated
from fastapi import Depends
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

SessionLocal = sessionmaker()


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
    owner: Mapped[Owner] = relationship()

def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()

DbSession = Annotated[Session, Depends(get_db)]
"""
# A module that only re-exports the alias (and is large in real code bases).
API = "from pkg.deps import DbSession as DbSession  # re-export\nfrom pkg.deps import get_db\n"
ROUTER = """
from fastapi import APIRouter
from pkg.api import DbSession
from pkg.deps import Item, SessionLocal

router = APIRouter()

@router.get("/items")
def list_items(db: DbSession):
    with SessionLocal() as scoped:
        item = scoped.get(Item, 1)
    return item
"""


@pytest.fixture
def tree_of(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "deps.py").write_text(DEPS)
    (tmp_path / "pkg" / "api.py").write_text(API)
    for directory in ("pkg/routers", "pkg/legacy"):  # no __init__.py: each gets its own import root
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "items.py").write_text(ROUTER)
    monkeypatch.setattr(project, "_INDEXES", {})
    monkeypatch.setattr(project, "_SHARED", {})
    parsed: list[str] = []
    real_parse = ast.parse

    def counting_parse(source, filename="<unknown>", *args, **kwargs):
        parsed.append(str(filename))
        return real_parse(source, filename, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", counting_parse)
    return tmp_path, parsed


def _check(path: str, settings: Settings):
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    module, is_package, index = project.context_for_path(path, settings)
    tree = ast.parse(source, filename=path)
    return index, analyze_tree(tree, path, settings, source=source, module=module, is_package=is_package, index=index)


def test_a_module_is_parsed_once_across_import_roots_and_a_reexport_is_followed_from_text(tree_of):
    root, parsed = tree_of
    settings = Settings(root=str(root))
    first_index, first = _check(str(root / "pkg" / "routers" / "items.py"), settings)
    second_index, second = _check(str(root / "pkg" / "legacy" / "items.py"), settings)
    assert first_index is not second_index  # different import roots
    for findings in (first, second):
        assert [f.code for f in findings] == ["DBS001", "DBS003"]
        assert "get_db" in findings[0].message
    deps = str(root / "pkg" / "deps.py")
    # deps.py: once for its aliases, once for its ORM summary, whichever index asks.
    assert parsed.count(deps) == 2
    assert not [p for p in parsed if p.endswith("api.py")]  # the re-export came from its text


def test_reexport_target_reads_import_statements():
    from flake8_db_session.analysis.names import reexport_target

    text = "from .db import (\n    SessionLocal as SL,  # factory\n    get_db,\n)\nfrom ..x.y import DbSession\n"
    assert reexport_target(text, "pkg.sub.mod", False, "SL") == "pkg.sub.db.SessionLocal"
    assert reexport_target(text, "pkg.sub.mod", False, "get_db") == "pkg.sub.db.get_db"
    assert reexport_target(text, "pkg.sub.mod", False, "DbSession") == "pkg.x.y.DbSession"
    assert reexport_target(text, "pkg.sub", True, "get_db") == "pkg.sub.db.get_db"
    assert reexport_target(text, "pkg.sub.mod", False, "SessionLocal") is None  # bound as SL only


def test_a_relative_reexport_in_a_package_init_is_followed(tree_of):
    root, parsed = tree_of
    (root / "pkg" / "__init__.py").write_text("from .deps import DbSession  # the public name\n")
    router = root / "pkg" / "routers" / "public.py"
    router.write_text(ROUTER.replace("from pkg.api import DbSession", "from pkg import DbSession"))
    _index, findings = _check(str(router), Settings(root=str(root)))
    assert [f.code for f in findings] == ["DBS001", "DBS003"]
    assert not [p for p in parsed if p.endswith("__init__.py")]
