# config: db-session-model-modules = ../soundness/models.py
"""DBS006: ORM objects stored where they outlive their session.

Executed by tests/soundness: after each bad_ function the stored object raises
DetachedInstanceError on a relationship read (an endpoint's background task fails the same way);
after each ok_ function what was stored reads fine.
"""
import asyncio

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse

from soundness.models import SessionLocal, Team, fresh_db_session

app = FastAPI()
_CACHE = {}
_RECENT = []
_LAST = None


def notify(team):
    return [m.name for m in team.members]


def bad_module_cache():
    with fresh_db_session() as db:
        _CACHE["core"] = db.get(Team, 1)  # DBS006


def bad_module_list():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        _RECENT.append(team)  # DBS006


def bad_module_global():
    global _LAST
    with SessionLocal() as db:
        _LAST = db.get(Team, 1)  # DBS006


def bad_task_after_scope():
    async def main():
        with SessionLocal() as db:
            team = db.get(Team, 1)
            task = asyncio.get_running_loop().create_task(asyncio.to_thread(notify, team))  # DBS006
        return await task

    return asyncio.run(main())


@app.post("/bad_endpoint_background_task")
def bad_endpoint_background_task(background_tasks: BackgroundTasks):
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        background_tasks.add_task(notify, team)  # DBS006
    return {"ok": True}


@app.get("/bad_endpoint_streaming_closure")
def bad_endpoint_streaming_closure():
    with fresh_db_session() as db:
        team = db.get(Team, 1)

        def lines():
            for member in team.members:
                yield member.name + "\n"

        return StreamingResponse(lines())  # DBS006


class TeamDirectory:
    """Instantiated once below: its attributes live as long as the process."""

    def __init__(self):
        self.recent = []
        self.by_name = {}

    def bad_remember(self):
        with SessionLocal() as db:
            team = db.get(Team, 1)
            self.by_name[team.name] = team  # DBS006

    def ok_remember_names(self):
        with SessionLocal() as db:
            team = db.get(Team, 1)
            self.recent.append(team.name)


directory = TeamDirectory()


def bad_singleton_attribute():
    directory.bad_remember()
    _STORED.append(directory.by_name)  # what the harness inspects


def ok_singleton_names():
    directory.ok_remember_names()
    _STORED.append(directory.recent)


class EventLog:
    def add(self, team):
        print("team", team.name, "changed")


def ok_module_level_object_is_not_a_cache():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        _events.add(team)  # a method call on a module-level object, used at once


_events = EventLog()
_STORED = []


# --- negatives ---------------------------------------------------------------------------------


def ok_cache_serialized():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        _CACHE["core"] = {"name": team.name, "members": [m.name for m in team.members]}


def ok_cache_primary_key():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        _RECENT.append(team.id)


def ok_local_dict():
    cache = {}
    with SessionLocal() as db:
        cache["core"] = db.get(Team, 1)
        return len(cache["core"].members)


@app.post("/ok_endpoint_task_with_names")
def ok_endpoint_task_with_names(background_tasks: BackgroundTasks):
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        background_tasks.add_task(print, team.name, [m.name for m in team.members])
    return {"ok": True}


@app.get("/ok_endpoint_streaming_serialized")
def ok_endpoint_streaming_serialized():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        names = [member.name for member in team.members]

        def lines():
            for name in names:
                yield name + "\n"

        return StreamingResponse(lines())
