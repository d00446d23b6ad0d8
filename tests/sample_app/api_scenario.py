"""A fixed sequence of API calls and their responses, to compare the app before and after a change."""

from __future__ import annotations

from typing import Any

REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/health", None),
    ("POST", "/authors", {"name": "Ursula K. Le Guin"}),
    ("POST", "/authors", {"name": "Italo Calvino"}),
    ("POST", "/authors", {"name": "Italo Calvino"}),  # 409
    ("POST", "/authors", {"name": "  "}),  # 422
    ("POST", "/books", {"title": "The Dispossessed", "author_id": 1}),
    ("POST", "/books", {"title": "A  Wizard of   Earthsea", "author_id": 1}),
    ("POST", "/books", {"title": "Invisible Cities", "author_id": 2}),
    ("POST", "/books", {"title": "Nobody's book", "author_id": 99}),  # 404
    ("POST", "/books/1/reviews", {"stars": 5, "text": "ambiguous utopia"}),
    ("POST", "/books/1/reviews", {"stars": 4}),
    ("POST", "/books/3/reviews", {"stars": 5, "text": "\u00e9l\u00e9gant"}),
    ("POST", "/books/3/reviews", {"stars": 9}),  # 422
    ("POST", "/books/42/reviews", {"stars": 3}),  # 404
    ("GET", "/authors", None),
    ("GET", "/authors/1", None),
    ("GET", "/authors/7", None),  # 404
    ("GET", "/authors/2/summary", None),
    ("GET", "/authors/7/summary", None),  # 404 from the decorator
    ("GET", "/books", None),
    ("GET", "/books?author_id=1", None),
    ("GET", "/books/1", None),
    ("GET", "/books/5", None),  # 404
    ("GET", "/books/export.csv", None),
    ("GET", "/stats", None),
]


def run(client) -> list[dict[str, Any]]:
    """Send every request in order; returns method, path, status and body of each response."""
    responses = []
    for method, path, payload in REQUESTS:
        response = client.request(method, path, json=payload)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        responses.append(
            {
                "request": f"{method} {path}",
                "status": response.status_code,
                "body": response.json() if is_json else response.text,
            }
        )
    return responses
