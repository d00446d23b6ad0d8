"""flake8/ruff conventions of the standalone command, through the real program (a subprocess)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flake8_db_session.cli import build_parser
from terminal import run_with_terminal_stderr

DB = """\
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker(bind=create_engine("sqlite://"), expire_on_commit=False)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


fresh_db_session = contextmanager(get_db)
"""
ROUTES = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()


@router.get("/a")
def a(db: Session = Depends(get_db)):
    return {"n": db.execute("SELECT 1").scalar()}


@router.get("/b")
def b(db: Session = Depends(get_db)):
    return {"n": db.execute("SELECT 2").scalar()}


def helper(db: Session = Depends(get_db)):
    return db.execute("SELECT 3").scalar()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db.py").write_text(DB)
    (tmp_path / "app" / "routes.py").write_text(ROUTES)
    return tmp_path


def run(project: Path, *args: str, input: str | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "flake8_db_session", *args],
        cwd=project, capture_output=True, text=True, input=input, env=env, timeout=300,
    )


def test_statistics_count_and_the_closing_line(project):
    done = run(project, "check", "--statistics", "--count", "app")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("app/routes.py:")]) == 3
    assert lines[-3:] == [
        "2     DBS001 session dependency (Depends(get_db)) declared on an endpoint",
        "1     DBS002 session dependency inside a helper dependency (every endpoint using it holds a session)",
        "3",
    ]
    assert done.stderr == ""  # piped: no closing line, stderr as flake8 leaves it
    code, _out, shown = run_with_terminal_stderr("check", "app", cwd=project)
    assert code == 1 and shown == "Found 3 findings (2 DBS001, 1 DBS002) in 3 files.\n"
    # Beside a machine format the counts go to stderr, so stdout stays parseable.
    as_json = run(project, "check", "--format", "json", "--count", "app")
    assert len(json.loads(as_json.stdout)) == 3 and as_json.stderr == "3\n"


def test_show_source_puts_a_caret_under_the_column(project):
    done = run(project, "check", "--show-source", "app/routes.py")
    first, source, caret = done.stdout.splitlines()[:3]
    column = int(first.split(":")[2])
    assert source == 'def a(db: Session = Depends(get_db)):'
    assert caret == " " * (column - 1) + "^" and source[column - 1:].startswith("Depends(get_db)")


def test_color_always_never_and_auto_off_when_piped(project):
    always = run(project, "check", "--color", "always", "app").stdout
    assert "\033[1m" in always and "\033[31mDBS001\033[0m" in always.replace("\033[1m\033[31m", "\033[31m")
    assert "\033[" not in run(project, "check", "--color", "never", "app").stdout
    assert "\033[" not in run(project, "check", "app").stdout  # auto, and stdout is a pipe
    written = project / "out.txt"
    run(project, "check", "--color", "always", "-o", str(written), "app")
    assert "\033[" not in written.read_text()  # never into a file


def test_stdin_display_name_names_the_findings_and_selects_per_file_ignores(project):
    source = (project / "app" / "routes.py").read_text()
    named = run(project, "check", "--stdin-display-name", "app/routes.py", "-", input=source)
    assert named.returncode == 1
    assert all(line.startswith("app/routes.py:") for line in named.stdout.splitlines())
    ignored = run(project, "check", "--stdin-display-name", "app/routes.py",
                  "--per-file-ignores", "app/routes.py: DBS001", "-", input=source)
    assert " DBS001 " not in ignored.stdout and " DBS002 " in ignored.stdout
    plain = run(project, "check", "-", input=source)
    assert plain.stdout.startswith("-:10:")  # the default name, as before


def test_output_file_on_every_command_that_writes(project):
    out = project / "out"
    out.mkdir()
    assert run(project, "check", "-o", str(out / "check.txt"), "app").returncode == 1
    assert " DBS001 " in (out / "check.txt").read_text()
    assert run(project, "report", "-o", str(out / "report.txt"), "app").returncode == 0
    assert "TOTAL" in (out / "report.txt").read_text()
    assert run(project, "explain", "DBS001", "-o", str(out / "explain.txt")).returncode == 0
    assert (out / "explain.txt").read_text().startswith("DBS001 ")
    done = run(project, "baseline", "-o", str(out / "baseline.json"), "app")
    assert done.returncode == 0 and json.loads((out / "baseline.json").read_text())["entries"]
    assert not (project / ".db-session-baseline.json").exists()
    pytest.importorskip("ast_grep_py")
    done = run(project, "migrate", "-o", str(out / "migrate.diff"), "app")
    assert done.returncode == 0 and done.stdout == ""
    assert (out / "migrate.diff").read_text().startswith("--- a/app/routes.py")
    # history has -o too (tests/test_history_outputs.py writes through it)
    history = next(a for a in build_parser()._subparsers._group_actions[0].choices["history"]._actions
                   if "-o" in a.option_strings)
    assert "--output-file" in history.option_strings


def test_argument_errors_show_the_subcommand_usage(project):
    for command in ("report", "baseline", "history", "explain", "migrate", "check"):
        done = run(project, command, "--no-such-flag")
        assert done.returncode == 2
        assert done.stderr.startswith(f"usage: flake8-db-session {command} ")
        assert f"flake8-db-session {command}: error: unrecognized arguments: --no-such-flag" in done.stderr


def test_every_option_has_help_including_the_configuration_flags():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    missing = []
    for name, sub in subcommands.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {action.option_strings or action.dest}")
    assert missing == []
    check_help = subcommands["check"].format_help()
    for flag in ("--db-session-dependencies", "--per-file-ignores", "--statistics", "--color"):
        assert flag in check_help


def test_explain_marks_opt_in_rules_and_speaks_json(project):
    table = run(project, "explain").stdout.splitlines()
    dbs009 = next(line for line in table if line.startswith("DBS009"))
    assert "(opt-in: enable with extend-select)" in dbs009
    assert "opt-in" not in next(line for line in table if line.startswith("DBS001"))
    rules = json.loads(run(project, "explain", "--format", "json").stdout)
    assert {r["code"]: r["default_enabled"] for r in rules}["DBS009"] is False
    one = json.loads(run(project, "explain", "dbs005", "--format", "json").stdout)
    assert one["code"] == "DBS005" and one["bad"] and one["good"] and "{" in one["message"]


def test_check_baseline_fails_on_new_ratcheted_findings_and_on_other_codes_as_the_readme_says(project):
    """README: `check --baseline` lists only what is new for the ratcheted codes and reports and fails
    on findings of the other codes exactly as `check` does."""
    assert run(project, "baseline", "app").returncode == 0
    clean = run(project, "check", "--baseline", "app")
    assert clean.returncode == 0 and clean.stdout == ""
    routes = project / "app" / "routes.py"
    routes.write_text(routes.read_text() + (
        "\n\ndef reopened(db: Session):\n    db.close()\n    return db.execute('SELECT 1')\n"
    ))
    other = run(project, "check", "--baseline", "app")
    assert other.returncode == 1 and " DBS007 " in other.stdout and " DBS001 " not in other.stdout
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "reports and fails\non findings of the other codes" in readme.replace("\n", " ").replace(
        "reports and fails on findings", "reports and fails\non findings")


def test_the_closing_line_says_when_the_baseline_is_out_of_date(project):
    assert run(project, "baseline", "app").returncode == 0
    routes = project / "app" / "routes.py"
    routes.write_text(routes.read_text().replace('def b(db: Session = Depends(get_db)):', "def b():\n    db = None"))
    code, _out, shown = run_with_terminal_stderr("check", "--baseline", "--frozen-baseline", "app", cwd=project)
    assert code == 1 and shown.endswith("Found 0 findings in 3 files; the baseline is out of date (see above).\n")
