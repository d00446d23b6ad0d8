# config: db-session-model-modules = ../soundness/models.py, ../soundness/services.py
"""DBS006 for streaming responses over objects a service in another module returned.

Executed by tests/soundness through FastAPI's TestClient: the bad_ endpoint's stream fails with
DetachedInstanceError (its short scope closed before the body was sent); the ok_ endpoint's
request-scoped session is still open while the body is sent.
"""
from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from soundness.models import fresh_db_session, get_db
from soundness.services import team_service
from sqlalchemy.orm import Session

app = FastAPI()


@app.get("/bad_endpoint_streaming_short_scope")
def bad_endpoint_streaming_short_scope():
    with fresh_db_session() as db:
        teams = team_service.list_teams(db)

        def lines():
            for team in teams:
                yield ",".join(member.name for member in team.members) + "\n"

        return StreamingResponse(lines())  # DBS006


@app.get("/ok_endpoint_streaming_request_session")
def ok_endpoint_streaming_request_session(db: Session = Depends(get_db)):  # DBS001
    # FastAPI closes a request-scoped session only after the response has been sent.
    teams = team_service.list_teams(db)

    def lines():
        for team in teams:
            yield team.name + "\n"

    return StreamingResponse(lines())
