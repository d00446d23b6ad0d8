"""pre-commit end to end: `pre-commit try-repo <this repository> <hook>` in a small FastAPI project.

pre-commit installs the hook from this repository's committed HEAD (plus a temporary commit of
uncommitted tracked changes) into its own virtualenv, from the package index: the real path a
consumer takes. Set PRE_COMMIT_HOME to share its cache between runs (.ci/run does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="try-repo needs this repository as a git checkout"),
]



DB = '''\
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


fresh_db_session = contextmanager(get_db)
'''

CLEAN_ROUTES = '''\
from fastapi import APIRouter

from app.db import fresh_db_session

router = APIRouter()


@router.get("/health")
def health():
    with fresh_db_session() as db:
        db.execute("SELECT 1")
    return {"ok": True}
'''

# Appended to routes.py by the tests: a new request-scoped session, then its fix.
NEW_ENDPOINT = '''

@router.get("/tools")
def list_tools(db: Session = Depends(get_db)):
    return {"count": db.execute("SELECT 1").scalar()}
'''
FIXED_ENDPOINT = '''

@router.get("/tools")
def list_tools():
    with fresh_db_session() as db:
        return {"count": db.execute("SELECT 1").scalar()}
'''
ROUTES_IMPORTS = "from fastapi import Depends\nfrom sqlalchemy.orm import Session\n\nfrom app.db import get_db\n"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout


def make_project(root: Path) -> Path:
    """A committed FastAPI project with no finding; returns the routes module's path."""
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "db.py").write_text(DB)
    routes = root / "app" / "routes.py"
    routes.write_text(ROUTES_IMPORTS + "\n" + CLEAN_ROUTES)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return routes


def line_of(path: Path, needle: str) -> int:
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def try_repo(project: Path, hook: str, *extra: str) -> subprocess.CompletedProcess:
    git(project, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--all-files", "--color", "never", *extra],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_per_file_hook_fails_on_a_new_session_dependency_and_passes_after_the_fix(tmp_path):
    routes = make_project(tmp_path)
    clean = try_repo(tmp_path, "flake8-db-session")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    routes.write_text(routes.read_text() + NEW_ENDPOINT)
    failing = try_repo(tmp_path, "flake8-db-session")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    line = line_of(routes, "Depends(get_db)")
    column = routes.read_text().splitlines()[line - 1].index("Depends(get_db)") + 1
    assert f"app/routes.py:{line}:{column}: DBS001" in failing.stdout

    routes.write_text(routes.read_text().replace(NEW_ENDPOINT, FIXED_ENDPOINT))
    fixed = try_repo(tmp_path, "flake8-db-session")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "DBS001" not in fixed.stdout
