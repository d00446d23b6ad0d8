# module: app.routers.held
"""DBS001/DBS002 held-across-await: what the open transaction of a request-scoped session is
held across. A finding whose expectation carries the fragment "held across" must be tagged
held-across-await; every other DBS001/DBS002 finding here must not be (tests/test_held.py)."""
import asyncio
import subprocess
import time

import httpx
import requests
from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db import fresh_db_session, get_async_db, get_db
from app.models import Tool

router = APIRouter()
client = httpx.AsyncClient()


# Query, then await: the connection and the transaction are held across the HTTP call.
@router.get("/query-then-await")
async def query_then_await(db: Session = Depends(get_db)):  # DBS001:42 "held across client.get at line 27"
    tool = db.get(Tool, 1)
    response = await client.get(tool.url)
    return response.json()


# Await, then query: no connection is checked out before the first use.
@router.get("/await-then-query")
async def await_then_query(db: Session = Depends(get_db)):  # DBS001:42
    response = await client.get("https://upstream.example/tools")
    return db.get(Tool, response.json()["id"])


# Query, commit, then await: commit hands the connection back to the pool.
@router.post("/commit-then-await")
async def commit_then_await(db: Session = Depends(get_db)):  # DBS001:43
    db.add(Tool(name="x"))
    db.commit()
    await client.post("https://upstream.example/notify")
    return {"ok": True}


# A loop that queries and sleeps: the next iteration's sleep, and this one's, hold it.
@router.get("/poll")
def poll(db: Session = Depends(get_db)):  # DBS001:24 "held across time.sleep at line 53"
    for _ in range(10):
        if db.execute(select(Tool).where(Tool.ready)).first():
            break
        time.sleep(1)
    return {"ready": True}


# A loop that sleeps first and queries after: the query of one iteration is still open at the
# sleep of the next.
@router.get("/poll-late")
async def poll_late(db: Session = Depends(get_db)):  # DBS001:35 "held across asyncio.sleep at line 62"
    while True:
        await asyncio.sleep(1)
        if db.scalar(select(Tool.id)):
            return {"ready": True}


# A short scope that closes before the await: not a DBS001 site at all.
@router.get("/scoped")
async def scoped():
    with fresh_db_session() as db:
        names = [t.name for t in db.scalars(select(Tool))]
    await client.post("https://upstream.example/names", json=names)
    return names


# A branch that commits and one that does not: held on the second path.
@router.post("/branch")
async def branch(flag: bool, db: Session = Depends(get_db)):  # DBS001:44 "held across client.post at line 84"
    tool = db.get(Tool, 1)
    if flag:
        db.commit()
    else:
        tool.name = "y"
    await client.post("https://upstream.example/changed")
    return {"ok": True}


# Blocking calls: requests, subprocess.
@router.post("/blocking")
def blocking(db: Session = Depends(get_db)):  # DBS001:28 "held across requests.post at line 92"
    tool = db.get(Tool, 1)
    requests.post("https://upstream.example/hook", json={"id": tool.id})
    subprocess.run(["true"], check=True)
    return {"ok": True}


# AsyncSession: awaits on the session itself are database uses, not waits on something else.
@router.get("/async-session")
async def async_session(db: AsyncSession = Depends(get_async_db)):  # DBS001:44
    result = await db.execute(select(Tool))
    tools = result.scalars().all()
    await db.commit()
    await asyncio.sleep(0)
    return [t.id for t in tools]


# AsyncSession: query, then an async with over an HTTP client.
@router.get("/async-with")
async def async_with(db: AsyncSession = Depends(get_async_db)):  # DBS001:41 "held across async with httpx.AsyncClient"
    tool = await db.get(Tool, 1)
    async with httpx.AsyncClient() as http:
        response = await http.get(tool.url)
    return response.json()


# A helper of the same module that uses the session it is given and then awaits.
async def refresh_from_upstream(session: Session, tool_id: int) -> dict:
    tool = session.get(Tool, tool_id)
    response = await client.get(tool.url)
    return response.json()


@router.post("/via-helper")
async def via_helper(tool_id: int, db: Session = Depends(get_db)):  # DBS001:50 "held across refresh_from_upstream (via client.get)"
    return await refresh_from_upstream(db, tool_id)


# A helper that commits before it awaits: followed, and not held.
async def save_then_notify(session: Session, name: str) -> None:
    session.add(Tool(name=name))
    session.commit()
    await client.post("https://upstream.example/notify", json={"name": name})


@router.post("/via-committing-helper")
async def via_committing_helper(name: str, db: Session = Depends(get_db)):  # DBS001:58
    await save_then_notify(db, name)
    return {"ok": True}


# The session closed early (mitigated), before the slow call.
@router.get("/closed-early")
async def closed_early(db: Session = Depends(get_db)):  # DBS001:38
    url = db.get(Tool, 1).url
    db.close()
    return (await client.get(url)).json()


# A helper dependency that queries and then awaits: DBS002, held.
async def current_tool(tool_id: int, db: Session = Depends(get_db)) -> Tool:  # DBS002:52 "held across asyncio.sleep"
    tool = db.get(Tool, tool_id)
    await asyncio.sleep(0.1)
    return tool


# try/finally: the finally commits, even on the return path.
@router.post("/finally-commit")
async def finally_commit(db: Session = Depends(get_db)):  # DBS001:40
    try:
        db.get(Tool, 1)
        return {"ok": True}
    finally:
        db.commit()
        await client.post("https://upstream.example/done")


# A service built around the session: its methods are followed with self.db as the session.
class AuditService:
    def __init__(self, db: Session) -> None:
        self.db = db

    async def record(self, event: str) -> None:
        self.db.add(Tool(name=event))
        await asyncio.sleep(0)


class ToolService:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.audit = AuditService(db)  # shares the session: its calls are database uses

    async def refresh(self, tool_id: int) -> dict:
        tool = self.db.get(Tool, tool_id)
        return (await client.get(tool.url)).json()

    async def login(self, name: str) -> Tool:
        tool = self.db.scalar(select(Tool).where(Tool.name == name))
        self.db.commit()  # released before the slow part
        await asyncio.sleep(0.1)
        return tool

    def _fetch(self, name: str) -> Tool:
        return self.db.scalar(select(Tool).where(Tool.name == name))

    async def authenticate(self, name: str) -> Tool:
        tool = self._fetch(name)  # uses self.db without being given it
        await asyncio.sleep(0.1)  # stands for a password hash check
        self.db.commit()
        return tool

    async def rename(self, tool_id: int, name: str) -> None:
        tool = self.db.get(Tool, tool_id)
        tool.name = name
        await self.audit.record("renamed")  # the same session: not a wait on something else
        await self.lazy_audit.record("renamed")  # built on first use, around the same session
        self.db.commit()

    @property
    def lazy_audit(self) -> AuditService:
        return AuditService(self.db)

    def _log(self, event: str) -> None:
        self.db.add(Tool(name=event))
        self.db.commit()

    async def create(self, name: str) -> None:
        self.db.add(Tool(name=name))
        self.db.flush()
        self._log("created")  # commits: nothing is open after it
        await asyncio.sleep(0.1)


@router.post("/service-refresh")
async def service_refresh(tool_id: int, db: Session = Depends(get_db)):  # DBS001:55 "held across service.refresh (via client.get)"
    service = ToolService(db)
    return await service.refresh(tool_id)


@router.post("/service-login")
async def service_login(name: str, db: Session = Depends(get_db)):  # DBS001:50
    tool = await ToolService(db).login(name)
    await client.post("https://upstream.example/logged-in", json={"id": tool.id})
    return {"ok": True}


@router.post("/service-authenticate")
async def service_authenticate(name: str, db: Session = Depends(get_db)):  # DBS001:57 "held across ToolService(db).authenticate (via asyncio.sleep)"
    return await ToolService(db).authenticate(name)


@router.post("/service-rename")
async def service_rename(tool_id: int, name: str, db: Session = Depends(get_db)):  # DBS001:65
    await ToolService(db).rename(tool_id, name)
    return {"ok": True}


@router.post("/service-create")
async def service_create(name: str, db: Session = Depends(get_db)):  # DBS001:51
    await ToolService(db).create(name)
    return {"ok": True}
