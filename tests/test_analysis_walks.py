"""The cheap traversals the checks use instead of walking every tree: same answers, less work."""

from __future__ import annotations

import ast
import re

import hypothesmith
from hypothesis import given, settings

from flake8_db_session.analysis import analyze
from flake8_db_session.analysis.context import (
    ModuleContext,
    match_lines,
    walk,
    word_lines,
)
from flake8_db_session.config import Settings

SOURCE = '''
from fastapi import APIRouter, Depends
from app.db import get_db

router = APIRouter()

@router.get(
    "/multi",
    dependencies=[Depends(get_db)],
)
def multi():
    def inner(): register(dependencies=[1])
    return 1

x = 1; router.add_api_route("/a", handler)

class Box:
    if True:
        found = make(dependencies=[2])
'''


def _calls(nodes):
    """Lines of the registering calls and the calls with ``dependencies=`` among ``nodes``."""
    return sorted(
        node.lineno
        for node in nodes
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", "") == "add_api_route" or any(k.arg == "dependencies" for k in node.keywords))
    )


def test_nodes_at_matches_finds_what_a_full_walk_finds_on_those_lines():
    tree = ast.parse(SOURCE)
    ctx = ModuleContext.build(tree, "x.py", Settings(), source=SOURCE, lines=SOURCE.splitlines(keepends=True))
    for pattern in (("dependencies", "add_api_route"), re.compile(r"\bdependencies\s*=|add_api_route")):
        assert _calls(ctx.nodes_at_matches(pattern)) == _calls(ast.walk(tree)) == [7, 12, 15, 19]
    # Without text, everything is walked.
    bare = ModuleContext.build(tree, "x.py", Settings())
    assert _calls(bare.nodes_at_matches(("dependencies",))) == [7, 12, 15, 19]


def test_match_lines_are_one_based_and_unique():
    assert match_lines(re.compile("a"), "a a\nb\na") == [1, 3]
    assert word_lines(("b", "a"), "a a\nb\nab") == [1, 2, 3]


@settings(max_examples=25, deadline=None)
@given(hypothesmith.from_grammar())
def test_walk_visits_the_nodes_ast_walk_visits(source):
    tree = ast.parse(source)
    expected = sorted(id(n) for n in ast.walk(tree) if not isinstance(n, ast.expr_context))
    assert sorted(id(n) for n in walk(tree)) == expected


def test_endpoint_tags_from_the_body_text_and_tree():
    source = """
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from app.db import get_db

router = APIRouter()

@router.get("/unused")
def unused(db=Depends(get_db)):
    '''The db word in a docstring is not a use.'''
    return 1

@router.get("/closed")
def closed(db=Depends(get_db)):
    rows = db.query(1)
    db.close()
    return rows

@router.get("/stream")
def stream(db=Depends(get_db)):
    return StreamingResponse(iter([db]))
"""
    tags = {f.function: set(f.tags) for f in analyze(source, "x.py")}
    assert tags == {"unused": {"unused"}, "closed": {"mitigated"}, "stream": {"streaming"}}
