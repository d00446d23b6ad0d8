"""No input crashes the core: generated programs, deep nesting, huge and odd files."""

from __future__ import annotations

import ast

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flake8_db_session.analysis import analyze, analyze_tree
from flake8_db_session.config import Settings
from flake8_db_session.plugin import Plugin
from flake8_db_session.runner import check_source

SETTINGS = Settings(session_decorators=("require_permission",))


def analyze_all_ways(source: str) -> None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    analyze_tree(tree, "gen.py", SETTINGS, source=source)
    analyze_tree(tree, "gen.py", SETTINGS)  # tree only, as a host that passes no text
    list(Plugin(tree, "gen.py", source.splitlines(keepends=True)).run())


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar())
def test_generated_programs_never_crash(source: str) -> None:
    analyze_all_ways(source)


# from_node builds programs through libcst and is slow: fewer examples keep the suite fast.
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_node())
def test_generated_syntax_trees_never_crash(source: str) -> None:
    analyze_all_ways(source)


FASTAPI_SHAPES = [
    "from fastapi import Depends, Security as S\n",
    "from typing import Annotated\nA = Annotated[Session, Depends(get_db)]\n",
    "@router.get('/x')\n",
    "@router.websocket('/x', dependencies=[Depends(get_db)])\n",
    "def f(db=Depends(get_db), *, q: A, **kw):\n    db.close()\n",
    "async def g(db: A = S(dependency=get_db, scope='function')):\n    return StreamingResponse(db)\n",
    "app.add_api_route('/x', f)\n",
    "class C:\n    def m(self, db=Depends()):\n        pass\n",
    "x = Depends(*a, **k)\n",
    "router = APIRouter(dependencies=[Depends(get_db), x, *rest])\n",
    "def h(db=Depends(lambda: 1)):\n    pass\n",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FASTAPI_SHAPES), min_size=1, max_size=8))
def test_combinations_of_fastapi_shapes_never_crash(parts: list[str]) -> None:
    source = "".join(parts)
    analyze_all_ways(source)


def test_deep_expression_chain() -> None:
    # Deep enough to overflow a recursive visitor, shallow enough for the parser.
    source = "from fastapi import Depends\nx = " + " + ".join(["Depends(get_db)"] * 2_500) + "\n"
    assert analyze(source) == []
    assert check_source(source.encode(), "deep.py", SETTINGS).error == ""


def test_too_deep_for_the_parser_is_an_error_not_a_crash() -> None:
    source = "x = " + " + ".join(["a"] * 100_000) + "\n"
    result = check_source(source.encode(), "deep.py", SETTINGS)
    assert result.error.startswith("cannot parse: RecursionError")


def test_deeply_nested_functions_and_classes() -> None:
    lines = []
    for depth in range(90):
        keyword = "class" if depth % 2 else "def"
        lines.append("    " * depth + (f"class C{depth}:" if keyword == "class" else f"def f{depth}(db=Depends(get_db)):"))
    lines.append("    " * 90 + "pass")
    source = "\n".join(lines) + "\n"
    findings = analyze(source)
    assert len(findings) == 45
    assert findings[-1].function.count(".") == 88


def test_huge_file() -> None:
    endpoint = "@router.get('/e{0}')\ndef e{0}(db=Depends(get_db)):\n    return db.query(1)\n\n"
    source = "from fastapi import Depends\n" + "".join(endpoint.format(i) for i in range(3000))
    assert len(analyze(source)) == 3000


def test_odd_files_never_raise() -> None:
    for data in (b"", b"\xef\xbb\xbf", b"\x00", b"\xff\xfe", b"# coding: made-up\n", b"\r\n\r\n", b"x = (" * 300):
        result = check_source(data, "odd.py", SETTINGS)
        assert result.findings == []


def test_an_internal_error_skips_the_file_and_never_stops_flake8(tmp_path):
    """A bug in a check: flake8 and the standalone command go on with the other files."""
    import subprocess
    import sys

    (tmp_path / "boom.py").write_text("from fastapi import Depends\n@r.get('/')\ndef a(db=Depends(get_db)):\n    pass\n")
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "sitecustomize.py").write_text(
        "import flake8_db_session.analysis as a\n"
        "def boom(ctx):\n"
        "    if ctx.path.endswith('boom.py'):\n"
        "        raise TypeError('injected')\n"
        "    return []\n"
        "a.CHECKS.append(boom)\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    for command in (["flake8", "--select", "DBS", "boom.py", "ok.py"], ["flake8_db_session", "check", "boom.py", "ok.py"]):
        result = subprocess.run(
            [sys.executable, "-m", *command], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert "boom.py" in result.stderr and "internal error, file skipped: TypeError: injected" in result.stderr
    assert result.returncode == 2  # the standalone command: an input it could not check
