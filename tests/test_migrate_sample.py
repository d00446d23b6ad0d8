"""Proof of the codemod on the sample app: same responses, fewer DBS001, the session released early.

A copy of tests/sample_app is migrated with the real command; the app runs in subprocesses (so the
original and the migrated package never share a process) on its own SQLite file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from flake8_db_session import runner
from flake8_db_session.config import load_settings

TESTS = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(TESTS, "sample_app")

pytestmark = pytest.mark.integration


def _copy(dest) -> str:
    target = os.path.join(str(dest), "sample_app")
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _python(args, cwd, db_file, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(cwd), SAMPLE_APP_DATABASE_URL=f"sqlite:///{db_file}")
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-W", "ignore", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _probe(root, name):
    proc = _python(["-m", "sample_app.probe"], root, os.path.join(str(root), f"{name}.sqlite3"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _dbs001(package: str) -> int:
    settings = load_settings(package)
    result = runner.run(runner.discover([package], settings), settings, jobs=1)
    assert not result.errors
    return sum(1 for f in result.findings if f.code == "DBS001")


def _migrate(package: str, *extra: str):
    return subprocess.run(
        [sys.executable, "-m", "flake8_db_session", "migrate", ".", *extra],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """(root, package, before probe, after probe, DBS001 before/after, summary JSON, first run output)."""
    root = tmp_path_factory.mktemp("sample")
    package = _copy(root)
    before = _probe(root, "before")
    count_before = _dbs001(package)
    summary_file = os.path.join(str(root), "summary.json")
    run = _migrate(package, "--write", "--summary-json", summary_file)
    assert run.returncode == 0, run.stderr
    with open(summary_file, encoding="utf-8") as handle:
        summary = json.load(handle)
    after = _probe(root, "after")
    return {
        "root": root,
        "package": package,
        "before": before,
        "after": after,
        "count_before": count_before,
        "count_after": _dbs001(package),
        "summary": summary,
        "run": run,
    }


def test_responses_identical_after_migration(migrated):
    assert migrated["after"]["responses"] == migrated["before"]["responses"]
    statuses = [r["status"] for r in migrated["after"]["responses"]]
    assert 201 in statuses and 404 in statuses and 500 not in statuses


def test_dbs001_drops_by_the_number_migrated(migrated):
    summary = migrated["summary"]
    migrated_count = sum(1 for e in summary if e["action"] in ("moved", "removed"))
    assert migrated_count >= 8
    assert migrated["count_before"] - migrated["count_after"] == migrated_count
    skipped = {e["function"]: e["reason"] for e in summary if e["action"] == "skipped"}
    assert skipped == {"author_summary": "decorator-db", "export_books": "streaming"}


def test_session_released_before_the_slow_step(migrated):
    # Before: the request-scoped session still holds its connection while the audit event is
    # published. After: the short scope has closed, nothing is checked out.
    assert migrated["before"]["checked_out_during_slow_step"] == 1
    assert migrated["after"]["checked_out_during_slow_step"] == 0


def test_the_apps_own_api_tests_pass_on_the_migrated_copy(migrated):
    root = migrated["root"]
    proc = _python(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "addopts=",
         "--rootdir", str(root), os.path.join(migrated["package"], "test_api.py")],
        root,
        os.path.join(str(root), "api-tests.sqlite3"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout


def test_second_run_changes_nothing(migrated):
    run = _migrate(migrated["package"])
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # no diff
    assert "0 moved" in run.stderr and "would change 0 files" in run.stderr


def test_dry_run_prints_a_diff_and_leaves_files_alone(tmp_path):
    package = _copy(tmp_path)
    books = os.path.join(package, "routers", "books.py")
    with open(books, encoding="utf-8") as handle:
        original = handle.read()
    run = _migrate(package)
    assert run.returncode == 0, run.stderr
    assert "+++ b/./routers/books.py" in run.stdout
    assert "+    with fresh_db_session() as db:" in run.stdout
    assert "skipped:" in run.stderr and "decorator-db (1)" in run.stderr
    with open(books, encoding="utf-8") as handle:
        assert handle.read() == original
