"""Discovery end to end: a project whose provider, alias, scope and helpers have none of the
default names, through real flake8 (also -j 2 and one file at a time, as an editor lints) and the
standalone command, which must agree exactly; configuration that adds to or turns off discovery;
the --discovered listing and the hint instead of a silent pass."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from evalcases import run_case

DB = '''
from contextlib import asynccontextmanager
from typing import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

AsyncMaker = async_sessionmaker(expire_on_commit=False)


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    async with AsyncMaker() as session:
        yield session


async def _get_session() -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        yield session
'''
DEPS = '''
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from pkg.db import _get_session

SessionDep = Annotated[AsyncSession, Depends(_get_session)]
DbDep = Depends(_get_session)
'''
AUTH = '''
from pkg.deps import SessionDep


async def current_user(db: SessionDep):
    return db


async def audit(db: SessionDep, event: str):
    return db, event


def public_helper(db: SessionDep):
    return db
'''
ROUTES = '''
from fastapi import APIRouter, Depends

from pkg.auth import audit, current_user
from pkg.db import session_scope
from pkg.deps import DbDep, SessionDep

router = APIRouter()


@router.get("/a")
async def read_a(db: SessionDep):
    await audit(db, "a")
    return 1


@router.get("/b")
async def read_b(db=DbDep, user=Depends(current_user)):
    return user


@router.get("/c")
async def read_c():
    async with session_scope() as db:
        return await db.get(object, 1)
'''
EXPECTED = sorted([
    ("pkg/auth.py:5:28: DBS002 session dependency _get_session in helper dependency current_user makes every "
     "endpoint using it hold a session; open a short scope with session_scope() inside the helper instead"),
    ("pkg/auth.py:13:23: DBS002 session dependency _get_session in helper dependency public_helper makes every "
     "endpoint using it hold a session; open a short scope with session_scope() inside the helper instead"),
    ("pkg/routes.py:12:22: DBS001 request-scoped session dependency _get_session on endpoint read_a; open a short "
     "scope with session_scope() instead"),
    ("pkg/routes.py:18:21: DBS001 request-scoped session dependency _get_session on endpoint read_b; open a short "
     "scope with session_scope() instead"),
])


@pytest.fixture
def project(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in (("db", DB), ("deps", DEPS), ("auth", AUTH), ("routes", ROUTES)):
        (package / f"{name}.py").write_text(text)
    return tmp_path


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def lines(output: str) -> list[str]:
    return sorted(line.replace(os.sep, "/").removeprefix("./") for line in output.splitlines() if line.strip())


def test_flake8_and_check_agree_with_no_configuration(project):
    flake8 = run("flake8", "--select", "DBS", "pkg", cwd=project)
    parallel = run("flake8", "--select", "DBS", "-j", "2", "pkg", cwd=project)
    check = run("flake8_db_session", "check", "pkg", cwd=project)
    assert lines(flake8.stdout) == EXPECTED, flake8.stderr
    assert lines(parallel.stdout) == EXPECTED
    assert lines(check.stdout) == EXPECTED, check.stderr
    assert check.returncode == 1 and not check.stderr


def test_one_file_at_a_time_as_an_editor_lints(project):
    """A helper's references live in another module: linting it alone gives the same findings."""
    found = []
    for name in ("auth", "db", "deps", "routes"):
        found += lines(run("flake8", "--select", "DBS", f"pkg/{name}.py", cwd=project).stdout)
    assert sorted(found) == EXPECTED


def test_unreferenced_status_and_direct_calls(project):
    result = run("flake8_db_session", "check", "--format", "json", "pkg/auth.py", cwd=project)
    import json

    findings = json.loads(result.stdout)
    findings = findings if isinstance(findings, list) else findings["findings"]
    status = {f["function"]: f.get("status") for f in findings}
    assert status == {"current_user": "plain", "public_helper": "unreferenced"}  # audit: called directly


def test_an_empty_dependency_list_means_discovery_only(project):
    (project / "setup.cfg").write_text("[flake8]\ndb-session-dependencies =\n")
    assert lines(run("flake8_db_session", "check", "pkg", cwd=project).stdout) == EXPECTED
    assert lines(run("flake8", "--select", "DBS", "pkg", cwd=project).stdout) == EXPECTED


def test_discovery_off_with_no_names_is_a_config_error(project):
    (project / "setup.cfg").write_text("[flake8]\ndb-session-dependencies =\ndb-session-discover = false\n")
    check = run("flake8_db_session", "check", "pkg", cwd=project)
    assert check.returncode == 2 and check.stdout == ""
    assert len(check.stderr.strip().splitlines()) == 1 and "db-session-discover is false" in check.stderr
    flake8 = run("flake8", "--select", "DBS", "pkg", cwd=project)
    assert flake8.returncode != 0 and "db-session-discover is false" in flake8.stderr
    (project / "pyproject.toml").write_text('[tool.flake8-db-session]\ndb-session-dependencies = []\ndb_session_discover = false\n')
    (project / "setup.cfg").unlink()
    assert run("flake8_db_session", "check", "pkg", cwd=project).returncode == 2


def test_discovery_off_hints_instead_of_passing_silently(project):
    (project / "setup.cfg").write_text("[flake8]\ndb-session-discover = false\n")
    check = run("flake8_db_session", "check", "pkg", cwd=project)
    assert check.returncode == 0 and check.stdout == ""
    hint = check.stderr.strip().splitlines()
    assert len(hint) == 1 and "no session dependency found" in hint[0] and "pkg/" in hint[0].replace(os.sep, "/")
    # Naming the provider brings the findings back, with the configured messages.
    (project / "setup.cfg").write_text("[flake8]\ndb-session-discover = false\ndb-session-dependencies = _get_session\n")
    check = run("flake8_db_session", "check", "pkg", cwd=project)
    assert [line.split(": ")[1].split()[0] for line in lines(check.stdout)] == ["DBS002", "DBS002", "DBS001", "DBS001"]
    assert "fresh_db_session()" in check.stdout and not check.stderr


def test_report_lists_what_was_discovered(project):
    result = run("flake8_db_session", "report", "--discovered", "pkg", cwd=project)
    listing = result.stdout[result.stdout.index("discovered ("):].replace(os.sep, "/")
    assert "provider pkg.db._get_session" in " ".join(listing.split())
    assert "pkg/db.py:16" in listing and "short scope: pkg.db.session_scope" in listing
    assert "scope    pkg.db.session_scope" in listing and "maker    pkg.db.AsyncMaker" in listing
    assert "alias    pkg.deps.SessionDep" in listing and "alias    pkg.deps.DbDep" in listing
    check = run("flake8_db_session", "check", "--discovered", "pkg", cwd=project)
    assert "provider pkg.db._get_session" in " ".join(check.stderr.split())


def test_the_eval_files_agree_with_a_project_index():
    """The single-file analysis (no index) and the file-backed index give the same eval results."""
    from flake8_db_session.config import Settings
    from flake8_db_session.project import project_index

    for name in ("discovery_providers.py", "discovery_helpers.py"):
        want, got, _ = run_case(name)
        assert want == got
        index = project_index((os.path.join(os.path.dirname(__file__), "cases"),), Settings())
        want, got, _ = run_case(name, index)
        assert want == got


def test_history_follows_references_made_by_another_module(project):
    """auth.py is the same blob at both commits; at the second, routes.py starts using
    public_helper as a dependency: its status must change, with and without the cache."""
    import csv

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
            cwd=project, check=True, capture_output=True,
        )

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "one")
    routes = project / "pkg" / "routes.py"
    routes.write_text(
        ROUTES.replace("import audit, current_user", "import audit, current_user, public_helper").replace(
            "async def read_a(db: SessionDep):", "async def read_a(db: SessionDep, user=Depends(public_helper)):"
        )
    )
    git("commit", "-qam", "two")
    for extra in ((), ("--no-cache",), ()):  # the third run reads the cache the first one wrote
        result = run("flake8_db_session", "history", "--format", "csv", *extra, cwd=project)
        totals = [row for row in csv.DictReader(result.stdout.splitlines()) if row["module"] == "TOTAL"]
        assert [(row["DBS002"], row["unreferenced"]) for row in totals] == [("2", "1"), ("2", "0")], result.stderr
    check = run("flake8_db_session", "check", "--format", "json", "pkg", cwd=project)
    import json

    assert {f["function"]: f["status"] for f in json.loads(check.stdout) if f["code"] == "DBS002"} == {
        "current_user": "plain", "public_helper": "plain"
    }


def test_an_unsaved_buffer_counts_its_own_references(project, monkeypatch):
    """What a module hands to Depends is read from the package's facts only when the analyzed
    text is the file on disk: a buffer that adds a route using a helper makes that helper a
    dependency before it is saved (and the saved file, read from the package's facts, agrees)."""
    import ast

    from flake8_db_session import project as project_module
    from flake8_db_session.config import load_settings
    from flake8_db_session.plugin import lint_tree

    monkeypatch.chdir(project)
    monkeypatch.setenv("FLAKE8_DB_SESSION_NO_CACHE", "1")
    project_module.reset_caches()
    settings = load_settings(str(project))
    route = '\n\nfrom fastapi import APIRouter, Depends\n\nr = APIRouter()\n\n\n@r.get("/p")\nasync def p(x=Depends(public_helper)):\n    return x\n'

    def status_of(text: str) -> dict[str, str]:
        source_lines = text.splitlines(keepends=True)
        findings = lint_tree(ast.parse(text), os.path.join("pkg", "auth.py"), source_lines, settings, str(project), None)
        return {f.function: f.status for f in findings if f.code == "DBS002"}

    on_disk = (project / "pkg" / "auth.py").read_text()
    assert status_of(on_disk)["public_helper"] == "unreferenced"
    assert status_of(on_disk + route)["public_helper"] == "plain"  # the buffer, not saved
    (project / "pkg" / "auth.py").write_text(on_disk + route)
    project_module.reset_caches()
    assert status_of(on_disk + route)["public_helper"] == "plain"  # saved: from the package's facts
