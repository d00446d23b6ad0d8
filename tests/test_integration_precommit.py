"""pre-commit end to end, in a small FastAPI project in a temporary git repository.

pre-commit installs the hooks from this repository's committed HEAD into its own virtualenv, from the
package index: the path a consumer takes. `try-repo` uses a throwaway store (one install per call);
`pre-commit run` with a consumer config installs once per revision into PRE_COMMIT_HOME, which
.ci/run shares across the whole run.
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
    pytest.mark.skipif(
        not (ROOT / ".git").exists(),
        reason="try-repo needs this repository as a git checkout",
    ),
]

DB = """\
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
"""

CLEAN_ROUTES = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import fresh_db_session, get_db

router = APIRouter()


@router.get("/health")
def health():
    with fresh_db_session() as db:
        db.execute("SELECT 1")
    return {"ok": True}
"""

# Appended to routes.py by the tests: a new request-scoped session, then its fix.
NEW_ENDPOINT = """

@router.get("/tools")
def list_tools(db: Session = Depends(get_db)):
    return {"count": db.execute("SELECT 1").scalar()}
"""
FIXED_ENDPOINT = """

@router.get("/tools")
def list_tools():
    with fresh_db_session() as db:
        return {"count": db.execute("SELECT 1").scalar()}
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
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
    routes.write_text(CLEAN_ROUTES)
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
    """``pre-commit try-repo`` at this repository's committed HEAD.

    An explicit ``--ref`` keeps try-repo from snapshotting uncommitted edits of a shared work tree;
    in a CI clone HEAD is the code under test either way.
    """
    git(project, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    head = git(ROOT, "rev-parse", "HEAD").strip()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(ROOT),
            hook,
            "--ref",
            head,
            "--all-files",
            "--color",
            "never",
            *extra,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_per_file_hook_fails_on_a_new_session_dependency_and_passes_after_the_fix(
    tmp_path,
):
    routes = make_project(tmp_path)
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


LEGACY_ENDPOINT = """

@router.get("/legacy")
def legacy_tools(db: Session = Depends(get_db)):
    return {"count": db.execute("SELECT 1").scalar()}
"""


def consumer_config(project: Path, *hooks: str) -> None:
    """A consumer's .pre-commit-config.yaml pinning this repository at its committed HEAD."""
    rev = git(ROOT, "rev-parse", "HEAD").strip()
    lines = [
        "repos:",
        f"  - repo: {json.dumps(str(ROOT))}",
        f"    rev: {rev}",
        "    hooks:",
    ]
    lines += [f"      - id: {hook}" for hook in hooks]
    (project / ".pre-commit-config.yaml").write_text("\n".join(lines) + "\n")


def pre_commit_run(
    project: Path, hook: str, *extra: str
) -> subprocess.CompletedProcess:
    """``pre-commit run``: installs the hook once per revision into PRE_COMMIT_HOME, then reuses it."""
    git(project, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    # `language: system` hooks find the command of this interpreter's environment, activated or not.
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(sys.executable), env.get("PATH", "")]
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "run",
            hook,
            "--all-files",
            "--color",
            "never",
            *extra,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_ratchet_hook_stops_a_new_endpoint_and_keeps_the_baseline_in_step(tmp_path):
    routes = make_project(tmp_path)
    routes.write_text(routes.read_text() + LEGACY_ENDPOINT)
    consumer_config(tmp_path, "flake8-db-session-ratchet", "flake8-db-session-baseline")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "a legacy endpoint")
    baseline = tmp_path / ".db-session-baseline.json"

    # Day one: the manual-stage hook records the legacy count.
    recorded = pre_commit_run(
        tmp_path, "flake8-db-session-baseline", "--hook-stage", "manual"
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    entries = json.loads(baseline.read_text())["entries"]
    assert [(e["module"], e["code"], e["function"], e["count"]) for e in entries] == [
        ("app/routes.py", "DBS001", "legacy_tools", 1)
    ]
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "burndown baseline")
    unchanged = pre_commit_run(tmp_path, "flake8-db-session-ratchet")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr

    # A new Depends(get_db) endpoint grows the module over its baseline: the ratchet names it.
    routes.write_text(routes.read_text() + NEW_ENDPOINT)
    grown = pre_commit_run(tmp_path, "flake8-db-session-ratchet")
    assert grown.returncode == 1, grown.stdout + grown.stderr
    assert "DBS100" in grown.stdout and "list_tools" in grown.stdout
    assert "legacy_tools" not in grown.stdout  # the legacy endpoint is in the baseline

    # Fixing the new one and migrating the legacy one shrinks the count: the hook rewrites the
    # baseline (pre-commit fails the run once because a file changed), and the next run passes.
    text = routes.read_text().replace(NEW_ENDPOINT, FIXED_ENDPOINT)
    routes.write_text(
        text.replace(
            "def legacy_tools(db: Session = Depends(get_db)):",
            "def legacy_tools(db=None):",
        )
    )
    shrunk = pre_commit_run(tmp_path, "flake8-db-session-ratchet")
    assert (
        shrunk.returncode == 1 and "files were modified by this hook" in shrunk.stdout
    ), shrunk.stdout
    assert json.loads(baseline.read_text())["entries"] == []
    passed = pre_commit_run(tmp_path, "flake8-db-session-ratchet")
    assert passed.returncode == 0, passed.stdout + passed.stderr


# The `repo: local` route of docs/integrations.md, for teams that pin the tool in their own environment.
REPO_LOCAL_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: flake8-db-session
        name: flake8-db-session
        entry: flake8-db-session check
        language: system
        types: [python]
        require_serial: true
"""


def test_repo_local_hook_uses_the_installed_command(tmp_path):
    routes = make_project(tmp_path)
    (tmp_path / ".pre-commit-config.yaml").write_text(REPO_LOCAL_CONFIG)
    routes.write_text(routes.read_text() + NEW_ENDPOINT)
    failing = pre_commit_run(tmp_path, "flake8-db-session")
    assert failing.returncode == 1 and "DBS001" in failing.stdout, (
        failing.stdout + failing.stderr
    )
    routes.write_text(routes.read_text().replace(NEW_ENDPOINT, FIXED_ENDPOINT))
    fixed = pre_commit_run(tmp_path, "flake8-db-session")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_hook_manifest_is_valid_and_says_what_the_docs_promise():
    manifest = ROOT / ".pre-commit-hooks.yaml"
    check = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    from pre_commit.clientlib import load_manifest

    hooks = {hook["id"]: hook for hook in load_manifest(str(manifest))}
    per_file = hooks["flake8-db-session"]
    assert (per_file["entry"], per_file["types"], per_file["require_serial"]) == (
        "flake8-db-session check",
        ["python"],
        True,
    )
    ratchet = hooks["flake8-db-session-ratchet"]
    assert ratchet["entry"] == "flake8-db-session check --baseline"
    assert (
        ratchet["pass_filenames"],
        ratchet["always_run"],
        ratchet["require_serial"],
    ) == (False, True, True)
    rewrite = hooks["flake8-db-session-baseline"]
    assert (rewrite["entry"], rewrite["stages"], rewrite["pass_filenames"]) == (
        "flake8-db-session baseline",
        ["manual"],
        False,
    )


ROUTER_HEADER = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()
"""


def router_module(*names: str) -> str:
    return ROUTER_HEADER + "".join(
        LEGACY_ENDPOINT.replace("legacy_tools", name).replace("/legacy", f"/{name}") for name in names
    )


def commit_through_hooks(project: Path, message: str) -> subprocess.CompletedProcess:
    """A real `git commit`: the installed git hook runs pre-commit, which stashes unstaged changes."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
         "commit", "-m", message],
        cwd=project, capture_output=True, text=True, env=env, timeout=600,
    )


def test_moving_an_endpoint_commits_with_the_baseline_following_and_the_manual_hook_flow(tmp_path):
    """The documented legacy setup (ratchet hook + manual baseline hook) through real commits."""
    make_project(tmp_path)
    items, users = tmp_path / "app" / "items.py", tmp_path / "app" / "users.py"
    items.write_text(router_module("list_items", "delete_item"))
    users.write_text(router_module("list_users"))
    consumer_config(tmp_path, "flake8-db-session-ratchet", "flake8-db-session-baseline")
    baseline = tmp_path / ".db-session-baseline.json"
    recorded = pre_commit_run(tmp_path, "flake8-db-session-baseline", "--hook-stage", "manual")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "legacy endpoints and their baseline")
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)

    # Move delete_item from items.py to users.py: the ratchet passes the move and rewrites the
    # baseline so the entry follows it; pre-commit stops this commit because a file changed.
    items.write_text(router_module("list_items"))
    users.write_text(router_module("list_users", "delete_item"))
    git(tmp_path, "add", "-A")
    first = commit_through_hooks(tmp_path, "move delete_item")
    output = first.stdout + first.stderr
    assert first.returncode == 1 and "files were modified by this hook" in output, output
    assert "DBS100" not in output
    assert "moved delete_item DBS001 app/items.py -> app/users.py" in output
    entries = {(e["module"], e["function"]) for e in json.loads(baseline.read_text())["entries"]}
    assert entries == {("app/items.py", "list_items"), ("app/users.py", "delete_item"), ("app/users.py", "list_users")}
    git(tmp_path, "add", ".db-session-baseline.json")
    second = commit_through_hooks(tmp_path, "move delete_item")
    assert second.returncode == 0, second.stdout + second.stderr

    # Migrate one endpoint: the commit tightens the baseline and leaves it unstaged. Rewriting it by
    # hand with unstaged changes needs --all-files (pre-commit then does not stash them; a stash
    # would conflict with the rewrite and be rolled back), as docs/burndown.md says.
    users.write_text(router_module("list_users"))
    git(tmp_path, "add", "app/users.py")
    tightened = commit_through_hooks(tmp_path, "migrate delete_item")
    assert tightened.returncode == 1 and "tightened .db-session-baseline.json" in tightened.stdout + tightened.stderr
    assert git(tmp_path, "status", "--porcelain", ".db-session-baseline.json").startswith(" M")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    manual = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "flake8-db-session-baseline", "--hook-stage", "manual",
         "--all-files", "--color", "never"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    assert "Stashing" not in manual.stdout + manual.stderr and "conflicted" not in manual.stdout + manual.stderr
    assert git(tmp_path, "status", "--porcelain", ".db-session-baseline.json").startswith(" M")
    entries = {(e["module"], e["function"]) for e in json.loads(baseline.read_text())["entries"]}
    assert entries == {("app/items.py", "list_items"), ("app/users.py", "list_users")}
    git(tmp_path, "add", ".db-session-baseline.json")
    done = commit_through_hooks(tmp_path, "migrate delete_item")
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(tmp_path, "status", "--porcelain") == ""
