"""The cheap traversals the checks use instead of walking every tree: same answers, less work."""

from __future__ import annotations

import ast
import re
import textwrap

import hypothesmith
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flake8_db_session.analysis import analyze
from flake8_db_session.analysis.context import (
    ModuleContext,
    match_lines,
    module_names,
    walk,
    word_lines,
)
from flake8_db_session.analysis.orm_services import facts_of_source, tree_facts
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


SERVICE = """
class TeamService:
    def kept(self, data):
        team = Team(**data)
        self.db.add(team)
        return team

    def built(self, data):
        team = Team(**data)
        if data:
            return team
        for x in data:
            try:
                other = Team(name=x)
            except ValueError:
                return other
        return self.kept(data)

    def merged(self, data):
        team = Team(**data)
        self.db.merge(team)
        return team

    def normalized(self, data):
        team = Team(**data)
        self.db.\uff41\uff44\uff44(team)  # NFKC-normalized by the parser
        return team

def nested(data):
    def inner():
        session.add_all([team])
    team = Team(**data)
    return team
"""


def _facts_both_ways(source: str):
    tree = ast.parse(source)
    names = module_names(tree, "app.services", False)
    return tree_facts(tree.body, names, produce=True), tree_facts(tree.body, names, produce=True, text=source)


def test_service_facts_read_from_statements_where_no_keeping_call_is_spelled():
    # The functions whose lines spell no add/add_all/merge are read without their expressions:
    # the same facts, whatever the line ends.
    for source in (SERVICE, SERVICE.replace("\n", "\r\n"), SERVICE.replace("\n", "\r")):
        plain, with_text = _facts_both_ways(source)
        assert with_text == plain
        # The objects handed to add, merge, a normalized add and add_all (in a nested function
        # the walk reads) are held: only "built" may return one no session holds.
        assert list(with_text.produces) == ["TeamService.built"]
    assert [o.target for o in _facts_both_ways(SERVICE)[1].produces["TeamService.built"]] == ["TeamService.kept", "Team"]


def test_service_facts_of_a_module_the_parser_reads_in_another_encoding():
    # UTF-7 spells "add" as "+AGE-dd": the text decoded as UTF-8 shows no such call.
    data = b"# coding: utf-7\nfrom m import Team\ndef f(session, d):\n    x = Team(**d)\n    session.+AGE-dd(x)\n    return x\n"
    tree = ast.parse(data)
    assert facts_of_source(data, "m.py", "m", False, None) == tree_facts(tree.body, module_names(tree, "m", False), produce=True)
    assert facts_of_source(data, "m.py", "m", False, None).produces == {}


def test_service_facts_are_the_same_with_and_without_the_text_on_any_grammar():
    # hypothesmith rarely writes a function that returns something: see the next test too.
    @settings(max_examples=40, deadline=None)
    @given(hypothesmith.from_grammar())
    def check(source):
        plain, with_text = _facts_both_ways(source)
        assert list(with_text.produces.items()) == list(plain.produces.items())
        assert with_text == plain

    check()


# Statements of service functions: builds, returns, keeping calls spelled in code, in strings,
# comments, decorators, lambdas and nested functions, over continued lines.
SIMPLE = [
    "x = Team(**d)", "y = Team(name=n)", "z = copy.deepcopy(x)", "return x", "return y", "return z",
    "return [Team(a=1) for _ in d]", "return self.other(d)", "return helper(d)", "session.add(x)",
    "self.db.merge(y)", "db.add_all([z])", "session.\\\n        add(y)", "s = 'add merge'", "# add x",
    "w = lambda: session.add(z)", "pass", "x = y = None", "return Team.model_validate(d)",
]
COMPOUND = [
    "if d:\n{body}\nelse:\n{body}", "for n in d:\n{body}", "try:\n{body}\nexcept ValueError:\n{body}\nfinally:\n{body}",
    "with session.begin():\n{body}", "while d:\n{body}", "match d:\n    case 1:\n{body2}",
    "def inner():\n{body}", "@dec(session.add(x))\ndef decorated():\n{body}", "class Inner:\n{body}",
]


def _block(draw, depth: int) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 2 and draw(st.booleans()):
            shape = draw(st.sampled_from(COMPOUND))
            inner = textwrap.indent("\n".join(_block(draw, depth + 1)), "    ")
            lines.extend(shape.format(body=inner, body2=textwrap.indent(inner, "    ")).split("\n"))
        else:
            lines.extend(draw(st.sampled_from(SIMPLE)).split("\n"))
    return lines


@st.composite
def service_modules(draw) -> str:
    parts = ["from app.models import Team", "import copy"]
    for number in range(draw(st.integers(1, 4))):
        body = textwrap.indent("\n".join(_block(draw, 0)), "    ")
        function = f"def f{number}(self, d, session):\n{body}"
        if draw(st.booleans()):
            function = "class S%d:\n%s" % (number, textwrap.indent(function, "    "))
        parts.append(function)
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join("\n\n".join(parts).split("\n")) + "\n"


@settings(max_examples=300, deadline=None)
@given(service_modules())
def test_service_facts_are_the_same_with_and_without_the_text(source):
    try:
        ast.parse(source)
    except SyntaxError:  # a "return" in a class body, "match" bodies that do not line up
        assume(False)
    plain, with_text = _facts_both_ways(source)
    assert list(with_text.produces.items()) == list(plain.produces.items())
    assert with_text == plain
