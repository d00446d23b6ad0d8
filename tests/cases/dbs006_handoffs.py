# config: db-session-model-modules = ../soundness/models.py
"""DBS006 on background tasks and streaming responses only where they can fail.

A task or a stream runs after the short scope closed. With ``expire_on_commit=False``
(``SessionLocal``, ``fresh_db_session``) reading columns there works; a lazy relationship read
raises DetachedInstanceError, and so does any read of an object a commit expired.

Executed by tests/soundness through FastAPI's TestClient: each bad_ endpoint fails with
DetachedInstanceError, each ok_ endpoint answers 200.
"""
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from soundness.models import ExpiringSession, Team, fresh_db_session

app = FastAPI()


def log_name(team):
    print("team", team.name)


def log_members(team):
    print("members", [member.name for member in team.members])


@app.post("/bad_endpoint_task_reads_relationship")
def bad_endpoint_task_reads_relationship(background_tasks: BackgroundTasks):
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        background_tasks.add_task(log_members, team)  # DBS006 "add_task()"
    return {"ok": True}


@app.post("/bad_endpoint_task_after_expiring_commit")
def bad_endpoint_task_after_expiring_commit(background_tasks: BackgroundTasks):
    with ExpiringSession() as db:
        team = db.get(Team, 1)
        db.commit()
        background_tasks.add_task(log_name, team)  # DBS006
    return {"ok": True}


@app.get("/bad_endpoint_stream_reads_relationship")
def bad_endpoint_stream_reads_relationship():
    with fresh_db_session() as db:
        teams = db.query(Team).all()

        def lines():
            for team in teams:
                yield ",".join(member.name for member in team.members) + "\n"

        return StreamingResponse(lines())  # DBS006


# --- negatives ---------------------------------------------------------------------------------


@app.post("/ok_endpoint_task_reads_columns")
def ok_endpoint_task_reads_columns(background_tasks: BackgroundTasks):
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        background_tasks.add_task(log_name, team)
    return {"ok": True}


@app.get("/ok_endpoint_stream_over_columns")
def ok_endpoint_stream_over_columns():
    with fresh_db_session() as db:
        teams = db.query(Team).all()

        def lines():
            for team in teams:
                yield f"{team.id},{team.name}\n"

        return StreamingResponse(lines())


@app.get("/ok_endpoint_stream_loaded_relationship")
def ok_endpoint_stream_loaded_relationship():
    with fresh_db_session() as db:
        team = db.get(Team, 1)

        def lines():
            for tag in team.tags:  # lazy="selectin": loaded with the team
                yield tag.name + "\n"

        return StreamingResponse(lines())
