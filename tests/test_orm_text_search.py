"""The text tests of the checks, searched from a literal for speed, find exactly what the plain
patterns they replace find (``\\b`` and line-start anchors make ``re`` try every position)."""

from __future__ import annotations

import ast
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_db_session.analysis.astutil import word_matches
from flake8_db_session.analysis.dependencies import annotated_words, spells_annotation
from flake8_db_session.analysis.orm_expressions import instance_lines, rebinds_in
from flake8_db_session.analysis.orm_gate import CallMarkers, bound_from_call, has_other_breaks
from flake8_db_session.analysis.orm_services import may_produce, service_facts, top_level_lines
from flake8_db_session.analysis.orm_values import walk_breadth_first
from flake8_db_session.analysis.syntax import from_imports
from flake8_db_session.burndown.counts import grep_count, grep_pattern
from flake8_db_session.project import _candidates_in
from flake8_db_session.runner import has_file_noqa

# Source-like text: the words and punctuation the patterns look at, in any order.
PIECES = [
    "return", "await", "deepcopy", "copy", "pickle", "loads", "model_validate", "Team", "team", "x",
    "_Team", "é", "1", "self", "cls", "svc", "TeamService", "db", ".", "(", ")", "**", "*", "=", "==",
    ":", ",", "[", "]", " ", "\t", "\n", "  ", "append", "for", "in", "a", "as", "user", "users", "select",
    "next", "get_db", "fresh_db", "ÿ", "पानी", "l·l", "℘", "ा", "·",
]
# The names the per-name tests look for: plain, a prefix of another piece, one with a non-ASCII letter.
# "पानी", "l·l" and "℘" are identifiers with characters that are not word characters (``\w``).
NAMES = st.sampled_from(["user", "db", "a", "team", "x", "get_db", "fresh_db", "é", "पानी", "l·l", "℘"])
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


# The per-name patterns the text tests above replaced (each was compiled once per name).
def rebinding_pattern(name):
    return re.compile(
        rf"\b{name}[ \t]*(?::[^=\n]*)?=(?!=)|\bas[ \t]+{name}\b|\bfor[ \t]+{name}\b|\b{name}[ \t]*,|,[ \t]*{name}[ \t]*="
    )


def bound_from_call_patterns(name):
    return (
        re.compile(rf"\b{re.escape(name)}[ \t]*(?::[^=\n]*)?=[ \t]*(?:await[ \t]+)?[\w.]+(?:\([^\n]*\))?(?:\.\w+)*\("),
        re.compile(rf"\bfor[ \t]+{re.escape(name)}[ \t]+in[ \t]+[^\n]*\("),
    )


def markers_pattern(factories):
    alternatives = "".join(r"|\b" + re.escape(name) + r"\s*\(" for name in sorted(factories))
    return re.compile(r"\b[A-Z]\w*\s*\(|\bselect\(|\bnext\(" + alternatives)


@settings(max_examples=600, deadline=None)
@given(source_text, NAMES)
def test_rebinds_in_finds_what_the_per_name_pattern_finds(text, name):
    assert rebinds_in(text, name) == (rebinding_pattern(name).search(text) is not None)


@settings(max_examples=600, deadline=None)
@given(source_text, NAMES)
def test_bound_from_call_finds_what_the_per_name_patterns_find(text, name):
    expected = any(pattern.search(text) for pattern in bound_from_call_patterns(name))
    assert bound_from_call(text, name) == expected


@settings(max_examples=600, deadline=None)
@given(source_text, st.sets(NAMES, max_size=3))
def test_call_markers_find_what_the_module_pattern_finds(text, factories):
    assert CallMarkers(factories).search(text) == (markers_pattern(factories).search(text) is not None)


def test_the_per_name_searches_on_examples():
    assert rebinds_in("    for user in users:\n", "user")
    assert rebinds_in("    user: User = get()\n", "user")
    assert rebinds_in("    a, user = pair\n", "user")
    assert not rebinds_in("    if user == other:\n", "user")
    assert not rebinds_in("    users = []\n", "user")
    assert bound_from_call("    user = await svc.get(db, 1)\n", "user")
    assert bound_from_call("    for user in svc.all(db):\n", "user")
    assert not bound_from_call("    user = other\n", "user")
    assert CallMarkers({"fresh_db"}).search("    with fresh_db () as db:\n")
    assert not CallMarkers({"fresh_db"}).search("    with my_fresh_db() as db:\n")
    # A configured name that is not an identifier keeps the plain pattern.
    assert CallMarkers({"a-b"}).search("x = a-b(1)") == (markers_pattern({"a-b"}).search("x = a-b(1)") is not None)


@settings(max_examples=600, deadline=None)
@given(source_text, st.sampled_from(["db", "DbSession", "deps", "a", "Team", "é", "x.y", "a b", "पानी", "l·l"]))
def test_spells_annotation_is_the_substring_test(text, name):
    # the DBS001 text gate: ``": " + name`` in the text, found from one scan of it
    text = text.replace("=", ": ")  # more annotations than the pieces give
    assert spells_annotation(text, annotated_words(text), name) == (": " + name in text)


def test_names_with_characters_that_are_not_word_characters_keep_the_plain_patterns():
    # ``\w+`` stops inside "पानी" (a vowel sign) and ``\b`` differs next to "℘" or a middle dot.
    assert spells_annotation("db: पानी.DbSession", annotated_words("db: पानी.DbSession"), "पानी")
    assert not rebinds_in("    with f() as पानी:\n", "पानी")
    assert not rebinds_in("℘ = 1", "℘")
    assert rebinds_in("a·bᢅ,", "ᢅ")
    assert not CallMarkers({"℘_session"}).search("db = ℘_session()")
    assert bound_from_call("for a·b in svc.all(db):", "a·b")


# The import and alias lines of other modules' texts (re-exports, alias candidates), as the
# line-anchored patterns they replace found them.
IMPORT_PIECES = [
    "from", "import", "as", "type", "Annotated[", "Depends(", "Security(", "get_db", ".", "..", "x", "(",
    ")", ",", "#", ":", "=", " ", "\t", "\n", "  ", "Session", "é",
]
import_text = st.lists(st.sampled_from(IMPORT_PIECES), max_size=40).map("".join)
FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.MULTILINE)
ALIAS_LINE = re.compile(r"^(?:type\s+)?(\w+)\s*(?::[^=\n]*)?=\s*[\w.]*(?:Annotated\[|Depends\(|Security\()", re.MULTILINE)
IMPORT_LIST = re.compile(r"^[ \t]*from[ \t]+\.*[\w.]*[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.MULTILINE)


@settings(max_examples=400, deadline=None)
@given(import_text)
def test_from_imports_are_the_line_anchored_matches(text):
    assert from_imports(text) == FROM_IMPORT.findall(text)


@settings(max_examples=400, deadline=None)
@given(import_text)
def test_alias_candidates_are_the_line_anchored_matches(text):
    imported = {word for statement in IMPORT_LIST.findall(text) for word in re.findall(r"\w+", statement)}
    assert _candidates_in(text) == (frozenset(ALIAS_LINE.findall(text)), frozenset(imported))


NOQA_PIECES = ["#", " ", "\t", "\n", "flake8", "FLAKE8", "Flake8", "8", ":", "=", "noqa", "NOQA", "x", "utf-8"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(NOQA_PIECES), max_size=30).map("".join))
def test_file_noqa_is_any_line_flake8_skips(text):
    from flake8 import defaults

    assert has_file_noqa(text) == any(defaults.NOQA_FILE.match(line) for line in text.split("\n"))


BREAK_PIECES = ["a", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029", "é", " "]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(BREAK_PIECES), max_size=20).map("".join))
def test_other_line_breaks_are_those_of_the_character_class(text):
    assert has_other_breaks(text) == bool(re.search("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", text))


TOP_PIECES = ["class", "def", "x", "=", "Cls", "(", ")", ":", "#", "@", "'", '"', "]", "}", " ", "\t", "\n", "\n\n", "é", "a.b"]
TOP_LEVEL_LINE = re.compile(r"^[^\s#)\]}'\"@]", re.MULTILINE)
INSTANCE = re.compile(r"^(\w+)[ \t]*(?::[^=\n]*)?=[ \t]*((?:\w+\.)*[A-Z]\w*)[ \t]*\(", re.MULTILINE)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOP_PIECES), max_size=40).map("".join))
def test_top_level_lines_and_instances_are_the_line_anchored_matches(text):
    assert top_level_lines(text) == [m.start() for m in TOP_LEVEL_LINE.finditer(text)]
    expected = {target: f"m.{cls}" for target, cls in INSTANCE.findall(text)}
    if "->" not in text and "= " not in text:
        expected = {}  # the facts of a text with neither: none, whatever the lines say
    assert service_facts(text, "m", {}).instances == expected


GREP_PIECES = ["Depends", "Security", "(", ")", " ", "\n", "get_db", "get_dbx", "deps.", "x", "_", "é", ".", "$", "Depends(get_db"]
# Configured names: plain, dotted, and last parts that spell the words grep looks for.
GREP_NAMES = ["get_db", "app.deps.get_session", "fastapi.Depends", "Security", "x$Security", "get_db(Depends("]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(GREP_PIECES), max_size=30).map("".join), st.lists(st.sampled_from(GREP_NAMES), min_size=1, max_size=3))
def test_grep_count_is_the_number_of_word_boundary_matches(text, names):
    pattern = grep_pattern(names)
    boundary = re.compile(pattern.pattern.replace("(?<!\\w)", "\\b", 1))
    assert boundary.pattern.startswith("\\b(?:Depends|Security)")
    assert grep_count(text, pattern) == len(boundary.findall(text))


def test_grep_count_of_a_name_that_spells_depends():
    pattern = grep_pattern(["fastapi.Depends", "get_db"])
    assert grep_count("Depends(Depends(get_db))", pattern) == 1  # one match, as the pattern finds them


KEEPING_PIECES = ["add", "add_all", "merge", "address", "s.add(", "_add", "x", " ", "(", "\n", "\r\n", "\r", "é", "\u210c"]
KEEPING = re.compile(r"\b(?:add|add_all|merge)(?!\w)")


class _Span:
    def __init__(self, lineno: int, end_lineno: int | None) -> None:
        self.lineno, self.end_lineno = lineno, end_lineno


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.sampled_from(KEEPING_PIECES), max_size=30).map("".join),
    st.lists(st.tuples(st.integers(1, 12), st.integers(0, 4)), min_size=1, max_size=6),
)
def test_keeping_spans_are_the_lines_that_spell_a_keeping_word(text, spans):
    """A function may keep what it builds when the text of its lines (as the parser numbers them)
    spells ``add``/``add_all``/``merge`` as a word, or is not ASCII; asked in any order."""
    from flake8_db_session.analysis.context import lines_aligned
    from flake8_db_session.analysis.orm_services import _KeepingSpans

    starts = [0, *(found.end() for found in re.finditer(r"\r\n?|\n", text))]
    lines = text.splitlines(keepends=True)
    plain = _KeepingSpans(text)
    with_lines = _KeepingSpans(text, lines if lines_aligned(lines, text) else ())  # as the analyzed module has them
    for keeping, (first, length) in [(k, span) for span in spans for k in (plain, with_lines)]:
        last = first + length
        if not text:
            expected = True
        elif KEEPING.search(text) is None and text.isascii():
            expected = False  # no function of this module keeps anything
        elif first > len(starts):
            expected = True
        else:
            span = text[starts[first - 1] : starts[last] if last < len(starts) else len(text)]
            expected = KEEPING.search(span) is not None or not span.isascii()
        assert keeping.possible(_Span(first, last)) == expected, (text, first, last)
    anything = not text or KEEPING.search(text) is not None or not text.isascii()
    assert _KeepingSpans(text).possible(_Span(1, None)) is anything
