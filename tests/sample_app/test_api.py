"""The sample app's own API tests (also run against its migrated copy by tests/test_migrate_sample.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sample_app import api_scenario
from sample_app.main import create_app


@pytest.fixture(scope="module")
def scenario():
    with TestClient(create_app()) as client:
        return api_scenario.run(client)


@pytest.fixture(scope="module")
def responses(scenario):
    return {r["request"]: r for r in scenario}  # the last response of each request


def test_statuses(scenario, responses):
    statuses = [r["status"] for r in scenario]
    assert statuses.count(201) == 8
    assert statuses.count(409) == 1 and statuses.count(422) == 2
    assert responses["GET /authors/7"]["status"] == 404
    assert responses["GET /authors/7/summary"]["status"] == 404
    assert responses["GET /books/5"]["status"] == 404


def test_author_with_books(responses):
    body = responses["GET /authors/1"]["body"]
    assert body == {
        "id": 1,
        "name": "Ursula K. Le Guin",
        "books": [{"id": 1, "title": "The Dispossessed"}, {"id": 2, "title": "A Wizard of Earthsea"}],
    }
    assert responses["GET /authors/2/summary"]["body"] == {"name": "Italo Calvino", "books": 1}


def test_books_with_author_and_reviews(responses):
    book = responses["GET /books/1"]["body"]
    assert book["author"] == {"id": 1, "name": "Ursula K. Le Guin"}
    assert [r["stars"] for r in book["reviews"]] == [5, 4]
    listed = responses["GET /books?author_id=1"]["body"]
    assert [b["title"] for b in listed] == ["The Dispossessed", "A Wizard of Earthsea"]


def test_export_and_stats(responses):
    csv = responses["GET /books/export.csv"]["body"]
    assert csv.splitlines() == [
        "id,title,author",
        "1,The Dispossessed,Ursula K. Le Guin",
        "2,A Wizard of Earthsea,Ursula K. Le Guin",
        "3,Invisible Cities,Italo Calvino",
    ]
    assert responses["GET /stats"]["body"] == {"books": 3, "reviews": 3, "average_stars": 4.67}
