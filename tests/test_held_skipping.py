"""The held-across walk skips expressions whose lines spell no session, carrier or wait: it must
find exactly what the full walk finds, on the eval files and on the shapes that defeat a text
search done carelessly (a name bound later in a loop, an alias of a blocking call, a client
opened by ``with``, identifiers in another Unicode form, line breaks ``str.splitlines`` adds)."""

from __future__ import annotations

import ast
import os
import textwrap

import pytest
from evalcases import CASES, case_files

from flake8_db_session.analysis import analyze, held
from flake8_db_session.analysis.context import ModuleContext
from flake8_db_session.config import Settings

HEAD = """\
import asyncio
import time
from time import sleep as nap

import httpx
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()
"""

SHAPES = {
    "bound_later_in_a_loop": """
        @router.get("/a")
        async def a(db: Session = Depends(get_db)):
            for i in range(3):
                if i:
                    await s.execute(q)
                s = db
                await client.get("x")
    """,
    "blocking_alias": """
        @router.get("/b")
        async def b(db: Session = Depends(get_db)):
            db.execute(q)
            nap(1)
            time.sleep(2)
    """,
    "client_opened_by_with": """
        @router.get("/c")
        async def c(db: Session = Depends(get_db)):
            with httpx.Client() as web:
                db.execute(q)
                web.get("u")
    """,
    "carrier_bound_later": """
        @router.get("/d")
        async def d(db: Session = Depends(get_db)):
            repo = Repository(db)
            await asyncio.sleep(1)
            repo.load()
            await asyncio.sleep(2)
    """,
    "other_unicode_form": """
        @router.get("/e")
        async def e(db: Session = Depends(get_db)):
            \uff44\uff42.execute(q)
            await client.get("x")
    """,
}


def _outcomes(ctx: ModuleContext) -> list[tuple[str, str, bool, object]]:
    found = []
    for function, qualname in ctx.functions:
        args = function.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            for entry in (False, True):
                outcome = held.analyze_function(ctx, function, qualname, arg.arg, open_on_entry=entry)
                found.append((qualname, arg.arg, entry, outcome))
    return found


def _context(source: str, path: str) -> ModuleContext:
    tree = ast.parse(source, path)
    return ModuleContext.build(tree, path, Settings(), source=source, lines=source.splitlines(keepends=True))


def _sources() -> list[tuple[str, str]]:
    sources = [(name, HEAD + textwrap.dedent(body)) for name, body in SHAPES.items()]
    for name in case_files("dbs00"):
        with open(os.path.join(CASES, name), encoding="utf-8") as handle:
            sources.append((name, handle.read()))
    return sources


@pytest.mark.parametrize(("name", "source"), _sources(), ids=[name for name, _ in _sources()])
def test_skipping_finds_what_the_full_walk_finds(name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    skipping = _outcomes(_context(source, name))
    monkeypatch.setattr(held._Flow, "_find_marks", lambda self, body: None)
    assert _outcomes(_context(source, name)) == skipping


def _points(source: str) -> dict[str, list[tuple[str, str]]]:
    return {
        f.function: [(point.call, point.kind) for point in f.held_across]
        for f in analyze(source, "app/routes.py", module="app.routes")
        if f.code == "DBS001"
    }


def test_the_shapes_are_held_across_their_waits() -> None:
    source = HEAD + "".join(textwrap.dedent(body) for body in SHAPES.values())
    assert _points(source) == {
        "a": [("client.get", "await")],
        "b": [("nap", "blocking"), ("time.sleep", "blocking")],
        "c": [("web.get", "blocking")],
        "d": [("asyncio.sleep", "await")],
        "e": [("client.get", "await")],
    }


@pytest.mark.parametrize("separator", ["\x0c", "\x1c", "\u2028", "\r"])
def test_lines_split_where_the_parser_does_not(separator: str) -> None:
    """A form feed (or a separator inside a string) is a line break to ``str.splitlines`` only:
    the line numbers of the text then differ from the tree's, and nothing is skipped."""
    body = textwrap.dedent(SHAPES["bound_later_in_a_loop"])
    # A lone carriage return is a line break to both; the others only to ``str.splitlines``.
    head = HEAD.replace("\n", "\r", 1) if separator == "\r" else HEAD + f"NOTE = 'a{separator}b'\n"
    source = head + body
    assert _points(source) == {"a": [("client.get", "await")]}
