"""The ORM pass's text tests, searched from a literal for speed, find exactly what the plain
patterns they replace find (``\\b`` and line-start anchors make ``re`` try every position)."""

from __future__ import annotations

import ast
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_db_session.analysis.orm_expressions import instance_lines
from flake8_db_session.analysis.orm_services import may_produce
from flake8_db_session.analysis.orm_values import walk_breadth_first, word_matches

# Source-like text: the words and punctuation the patterns look at, in any order.
PIECES = [
    "return", "await", "deepcopy", "copy", "pickle", "loads", "model_validate", "Team", "team", "x",
    "_Team", "é", "1", "self", "cls", "svc", "TeamService", "db", ".", "(", ")", "**", "*", "=", "==",
    ":", ",", "[", "]", " ", "\t", "\n", "  ", "append", "for", "in", "a",
]
source_text = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)

PRODUCING = re.compile(
    r"\b[A-Z]\w*\(\s*\*\*|\breturn[ \t]+(?:await[ \t]+)?(?:\w+\.)*[A-Z]\w*\(|\.model_validate\(|\bdeepcopy\(|"
    r"\bcopy\.copy\(|\bpickle\.loads\("
)
INSTANCE_LINE = re.compile(r"^[ \t]*(\w+)[ \t]*=[ \t]*(?:\w+\.)*[A-Z]\w*[ \t]*\(([^\n]*)", re.MULTILINE)
HOLDER_STORE = re.compile(
    r"\b(?:self|cls)\.\w+(?:\[[^\n]*\])?[ \t]*=(?!=)|\b(?:self|cls)\.\w+\.(?:append|add|update|setdefault|extend|insert)\("
)


@settings(max_examples=400, deadline=None)
@given(source_text)
def test_may_produce_finds_what_the_word_boundary_pattern_finds(text):
    assert may_produce(text) == (PRODUCING.search(text) is not None)


@settings(max_examples=400, deadline=None)
@given(source_text)
def test_instance_lines_are_the_line_anchored_matches(text):
    assert instance_lines(text) == INSTANCE_LINE.findall(text)


@settings(max_examples=400, deadline=None)
@given(source_text)
def test_word_matches_start_where_the_boundary_pattern_matches(text):
    pattern = re.compile(
        r"(?:self|cls)\.\w+(?:\[[^\n]*\])?[ \t]*=(?!=)|(?:self|cls)\.\w+\.(?:append|add|update|setdefault|extend|insert)\("
    )
    assert (next(word_matches(pattern, text), None) is not None) == (HOLDER_STORE.search(text) is not None)


def test_the_literal_searches_on_examples():
    assert may_produce("    return Team(name=name)\n")
    assert may_produce("x = Team(**cached)")
    assert not may_produce("x = xTeam(**cached)")  # the class must start the word
    assert not may_produce("value = mydeepcopy(team)")
    assert instance_lines("svc = TeamService(db)\nx == Team(1)\na = b = Team(2)\n") == [("svc", "db)")]


def test_breadth_first_walk_is_ast_walk_without_contexts():
    tree = ast.parse("def f(db):\n    team = db.get(Team, 1)\n    for m in team.members:\n        print(m.name)\n")
    expected = [node for node in ast.walk(tree) if not isinstance(node, ast.expr_context)]
    assert walk_breadth_first(tree) == expected
