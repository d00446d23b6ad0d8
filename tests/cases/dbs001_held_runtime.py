"""DBS001 held-across-await, executed: tests/test_held_runtime.py drives these endpoints through
FastAPI's TestClient against SQLite, with pool and connection event listeners recording whether a
connection is checked out and a transaction open while each endpoint waits. An endpoint whose
expectation says "held across" must be in a transaction at every wait; the others at none."""
import asyncio
import os
import sys
import tempfile
import time

from fastapi import Depends, FastAPI
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

engine = create_engine(
    f"sqlite:///{os.path.join(tempfile.mkdtemp(prefix='dbs-held-'), 'held.db')}",
    connect_args={"check_same_thread": False},  # FastAPI runs dependencies and endpoints on other threads
)
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)
POOL = {"checked_out": 0, "transactions": 0}


@event.listens_for(engine, "checkout")
def _checkout(*_args):
    POOL["checked_out"] += 1


@event.listens_for(engine, "checkin")
def _checkin(*_args):
    POOL["checked_out"] -= 1


@event.listens_for(engine, "begin")
def _begin(_connection):
    POOL["transactions"] += 1


@event.listens_for(engine, "commit")
@event.listens_for(engine, "rollback")
def _end(_connection):
    POOL["transactions"] -= 1


class Base(DeclarativeBase):
    pass


class Tool(Base):
    __tablename__ = "tool"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    url: Mapped[str] = mapped_column(default="https://upstream.example/tool")


Base.metadata.create_all(engine)
with SessionLocal() as _seed:
    _seed.add(Tool(id=1, name="seed"))
    _seed.commit()


def get_db():
    db = SessionLocal()
    try:
        yield db
        db.commit()
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


class Upstream:
    """Stands for a slow upstream client: records the pool's state (and the caller's line) at
    each call it is awaited for."""

    def __init__(self) -> None:
        self.waits: list[tuple[int, int, int]] = []  # (line, checked-out connections, open transactions)

    def record(self) -> None:
        self.waits.append((sys._getframe(2).f_lineno, POOL["checked_out"], POOL["transactions"]))

    async def get(self, url: str) -> dict:
        self.record()
        await asyncio.sleep(0)
        return {"id": 1}

    async def post(self, url: str, json: object = None) -> dict:
        self.record()
        await asyncio.sleep(0)
        return {"ok": True}


client = Upstream()
app = FastAPI()


@app.get("/query-then-await")
async def query_then_await(db: Session = Depends(get_db)):  # DBS001:42 "held across client.get at line 101"
    tool = db.get(Tool, 1)
    return await client.get(tool.url)


@app.get("/await-then-query")
async def await_then_query(db: Session = Depends(get_db)):  # DBS001:42
    found = await client.get("https://upstream.example/tools")
    return {"name": db.get(Tool, found["id"]).name}


@app.post("/commit-then-await")
async def commit_then_await(db: Session = Depends(get_db)):  # DBS001:43
    db.add(Tool(name="new"))
    db.commit()
    return await client.post("https://upstream.example/notify")


@app.get("/poll")
def poll(db: Session = Depends(get_db)):  # DBS001:24 "held across time.sleep at line 122"
    for _ in range(2):
        if db.execute(select(Tool).where(Tool.name == "never")).first():
            break
        time.sleep(0.01)
    return {"ready": False}


@app.get("/scoped")
async def scoped():
    with SessionLocal() as db:
        names = [tool.name for tool in db.scalars(select(Tool))]
    return await client.post("https://upstream.example/names", json=names)


async def refresh_from_upstream(session: Session, tool_id: int) -> dict:
    tool = session.get(Tool, tool_id)
    return await client.get(tool.url)


@app.post("/via-helper")
async def via_helper(db: Session = Depends(get_db)):  # DBS001:36 "held across refresh_from_upstream (via client.get)"
    return await refresh_from_upstream(db, 1)


async def save_then_notify(session: Session, name: str) -> dict:
    session.add(Tool(name=name))
    session.commit()
    return await client.post("https://upstream.example/notify", json={"name": name})


@app.post("/via-committing-helper")
async def via_committing_helper(db: Session = Depends(get_db)):  # DBS001:47
    return await save_then_notify(db, "other")


@app.get("/closed-early")
async def closed_early(db: Session = Depends(get_db)):  # DBS001:38
    url = db.get(Tool, 1).url
    db.close()
    return await client.get(url)
