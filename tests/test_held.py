"""held-across-await: the eval files are checked both ways, the JSON field, cross-module helpers
through the real command, and the history cache's round trip."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from evalcases import case_files, expectations, run_case

from flake8_db_session.analysis import analyze
from flake8_db_session.analysis.findings import HELD_TAG, HeldPoint
from flake8_db_session.burndown.cache import finding_from_json, finding_to_json

HELD_FILES = case_files("dbs001_held")


@pytest.mark.parametrize("name", HELD_FILES)
def test_held_tag_exactly_where_the_eval_file_says(name: str) -> None:
    """A finding is held-across-await iff its expectation carries a "held across" fragment."""
    _want, _got, findings = run_case(name)
    source = (Path(__file__).parent / "cases" / name).read_text(encoding="utf-8")
    held_lines = {line for line, _text, _code, _col, fragment in expectations(source) if fragment and "held across" in fragment}
    sites = [f for f in findings if f.code in ("DBS001", "DBS002")]
    assert sites, name
    wrong = [
        f"{name}:{f.line}: held={HELD_TAG in f.tags} {[p.describe() for p in f.held_across]}"
        for f in sites
        if (HELD_TAG in f.tags) != (f.line in held_lines) or bool(f.held_across) != (HELD_TAG in f.tags)
    ]
    assert not wrong, "\n".join(wrong)


def test_points_and_open_at_return() -> None:
    _want, _got, findings = run_case("dbs001_held.py")
    by_function = {f.function: f for f in findings}
    blocking = by_function["blocking"]
    assert [(p.call, p.kind) for p in blocking.held_across] == [("requests.post", "blocking"), ("subprocess.run", "blocking")]
    assert by_function["via_helper"].held_across[0].via == "client.get"
    assert by_function["await_then_query"].open_at_return  # the query is the last thing it does
    assert not by_function["commit_then_await"].open_at_return
    assert not by_function["finally_commit"].open_at_return


def test_finding_round_trips_through_the_history_cache() -> None:
    (finding,) = [f for f in run_case("dbs001_held.py")[2] if f.function == "blocking"]
    back = finding_from_json(json.loads(json.dumps(finding_to_json(finding))))
    assert back == finding
    assert all(isinstance(point, HeldPoint) for point in back.held_across)


def test_a_decorator_that_reads_the_session_opens_it_before_the_body() -> None:
    source = textwrap.dedent(
        """
        from fastapi import APIRouter, Depends
        from app.db import get_db
        from app.rbac import require_permission
        router = APIRouter()

        @router.get("/x")
        @require_permission("x.read")
        async def x(db=Depends(get_db)):
            return await client.get("u")
        """
    )
    from flake8_db_session.config import settings_from_mapping

    plain = analyze(source, "x.py")
    configured = analyze(source, "x.py", settings_from_mapping({"db-session-session-decorators": "require_permission"}, root="."))
    assert HELD_TAG not in plain[0].tags
    assert HELD_TAG in configured[0].tags


ROUTER = '''\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db
from app.services.tool_service import ToolService
from app.services import notify
from app.services.auth_service import AuthService

router = APIRouter()
tool_service = ToolService()


@router.post("/tools/{tool_id}/invoke")
async def invoke(tool_id: int, db: Session = Depends(get_db)):
    return await tool_service.invoke_tool(db, tool_id)


@router.post("/tools")
async def create(name: str, db: Session = Depends(get_db)):
    return await tool_service.create_tool(db=db, name=name)


@router.get("/tools/{tool_id}/ping")
async def ping(tool_id: int, db: Session = Depends(get_db)):
    return await notify.ping_owner(db, tool_id)


@router.post("/login")
async def login(name: str, db: Session = Depends(get_db)):
    return await AuthService(db).authenticate(name)
'''

SERVICE = '''\
import httpx
from sqlalchemy.orm import Session

from app.models import Tool


class ToolService:
    async def invoke_tool(self, db: Session, tool_id: int):
        tool = db.get(Tool, tool_id)
        async with httpx.AsyncClient() as client:
            return (await client.post(tool.url)).json()

    async def create_tool(self, db: Session, name: str):
        db.add(Tool(name=name))
        db.commit()
        await self.announce(name)
        return {"name": name}

    async def announce(self, name):
        pass
'''

AUTH = '''\
import asyncio


class AuthService:
    def __init__(self, db):
        self.db = db

    def _fetch(self, name):
        return self.db.execute("select 1 where :name", {"name": name}).scalar()

    def _audit(self, name):
        self.db.add(object())
        self.db.commit()

    async def authenticate(self, name):
        user = self._fetch(name)
        await asyncio.sleep(0.2)  # a password hash check, with the transaction open
        self._audit(name)
        await asyncio.sleep(0)  # after the commit in _audit: nothing open
        return user
'''

NOTIFY = '''\
import time


def ping_owner(session, tool_id):
    owner = session.execute("select owner from tools where id = :id", {"id": tool_id}).scalar()
    time.sleep(0.5)
    return owner
'''


def test_helpers_in_other_modules_through_the_command(tmp_path: Path, run_cli) -> None:
    app = tmp_path / "app"
    (app / "services").mkdir(parents=True)
    for path, text in {
        "__init__.py": "",
        "db.py": "def get_db():\n    yield None\n",
        "models.py": "class Tool: ...\n",
        "routes.py": ROUTER,
        "services/__init__.py": "",
        "services/tool_service.py": SERVICE,
        "services/notify.py": NOTIFY,
        "services/auth_service.py": AUTH,
    }.items():
        (app / path).write_text(text)
    proc = run_cli("check", "--format", "json", "app")
    assert proc.returncode == 1, proc.stderr
    findings = {f["function"]: f for f in json.loads(proc.stdout)}
    assert findings["invoke"]["held_across"] == [
        {"line": 15, "call": "tool_service.invoke_tool", "kind": "async with", "via": "async with httpx.AsyncClient"},
        {"line": 15, "call": "tool_service.invoke_tool", "kind": "await", "via": "client.post"},
    ]
    assert HELD_TAG in findings["invoke"]["status"]
    assert findings["create"]["held_across"] == []  # the service commits before it awaits
    assert findings["ping"]["held_across"] == [{"line": 25, "call": "notify.ping_owner", "kind": "blocking", "via": "time.sleep"}]
    assert findings["login"]["held_across"] == [
        {"line": 30, "call": "AuthService(db).authenticate", "kind": "await", "via": "asyncio.sleep"}
    ]


def test_burndown_report_and_history_chart_show_the_held_count(tmp_path: Path, run_cli) -> None:
    from flake8_db_session.burndown import chart
    from flake8_db_session.burndown.counts import count_findings
    from flake8_db_session.burndown.history import Commit, History, Point

    findings = run_case("dbs001_held.py")[2]
    counts = count_findings(findings, root=str(Path(__file__).parent / "cases"))
    held = sum(HELD_TAG in f.tags for f in findings)
    assert counts.totals.statuses[HELD_TAG] == held == 10
    history = History(
        [Point(Commit("a" * 40, 1_700_000_000, "first"), counts, 1), Point(Commit("b" * 40, 1_700_086_400, "second"), counts, 1)],
        ("DBS001", "DBS002"),
    )
    assert "held-across-await" in chart.render_table(history).splitlines()[0]
    svg = chart.render_image(history, "svg").decode()
    assert f"held across an await ({held})" in svg


def test_report_endpoints_through_the_command(tmp_path: Path, run_cli) -> None:
    source = (Path(__file__).parent / "cases" / "dbs001_held.py").read_text(encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "held.py").write_text(source)
    table = run_cli("report", "--endpoints", "app")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["priority", "path", "line", "function"]
    # Two waits each: the highest, then by path and line.
    assert [line.split()[:4] for line in lines[2:4]] == [
        ["402", "app/held.py", "90", "blocking"],
        ["402", "app/held.py", "109", "async_with"],
    ]
    assert lines[-1] == "19 sites, 10 held across an await or blocking call"
    rows = json.loads(run_cli("report", "--endpoints", "--format", "json", "app").stdout)
    assert [r["priority"] for r in rows] == sorted((r["priority"] for r in rows), reverse=True)
    by_function = {r["function"]: r for r in rows}
    assert by_function["query_then_await"]["held_across"] == [{"line": 27, "call": "client.get", "kind": "await"}]
    assert by_function["query_then_await"]["priority"] == 401
    assert by_function["await_then_query"]["priority"] == 200  # open at return
    assert by_function["commit_then_await"]["priority"] == 100  # used, released before return
    assert {"path", "line", "function", "tags", "held_across", "priority"} <= set(rows[0])
    assert by_function["closed_early"]["tags"] == ["mitigated"]


def test_priority_tiers() -> None:
    from flake8_db_session.analysis import Finding
    from flake8_db_session.burndown.endpoints import endpoint_rows, priority

    def site(line: int, tags: set[str], points: int = 0, open_at_return: bool = False) -> Finding:
        held = tuple(HeldPoint(line, f"client.get{i}") for i in range(points))
        return Finding("app.py", line, 0, "DBS001", "DBS001 x", f"f{line}", tags=frozenset(tags), held_across=held, open_at_return=open_at_return)

    sites = [
        site(1, {"unused"}),
        site(2, set()),
        site(3, set(), open_at_return=True),
        site(4, {"streaming"}, open_at_return=True),
        site(5, {HELD_TAG}, points=3, open_at_return=True),
        site(6, {HELD_TAG, "streaming"}, points=1),
    ]
    assert [priority(f) for f in sites] == [0, 100, 200, 300, 403, 451]
    assert [row.line for row in endpoint_rows(sites)] == [6, 5, 4, 3, 2, 1]
