"""Run the API scenario, then watch the connection pool during the slow step of ``POST /books``.

``python -m sample_app.probe`` prints JSON: the scenario's responses and how many pooled
connections were checked out while the audit event of a new book was being published (the slow
step after the database work). Threads meet on events, never sleeps, so the result is exact.
"""

from __future__ import annotations

import json
import sys
import threading

from fastapi.testclient import TestClient

from . import api_scenario
from .db import engine
from .main import create_app
from .services import audit

TIMEOUT = 30  # seconds; only reached when the app hangs


def checked_out_during_slow_step(client: TestClient) -> int:
    entered, release = threading.Event(), threading.Event()
    observed: list[int] = []

    def slow_step(event: str, data: dict) -> None:
        if event == "book-created":
            entered.set()
            release.wait(TIMEOUT)

    unsubscribe = audit.subscribe(slow_step)
    result: dict[str, object] = {}
    request = threading.Thread(
        target=lambda: result.update(response=client.post("/books", json={"title": "Probe", "author_id": 1}))
    )
    try:
        request.start()
        if not entered.wait(TIMEOUT):
            raise RuntimeError("the endpoint never reached its slow step")
        observed.append(engine.pool.checkedout())  # the request is parked inside the slow step
    finally:
        release.set()
        request.join(TIMEOUT)
        unsubscribe()
    response = result["response"]
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    return observed[0]


def main() -> int:
    client = TestClient(create_app())
    responses = api_scenario.run(client)
    checked_out = checked_out_during_slow_step(client)
    json.dump({"responses": responses, "checked_out_during_slow_step": checked_out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
