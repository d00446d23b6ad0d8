"""Audit events: the slow step after the database work (a webhook, a message queue in real life)."""

from __future__ import annotations

from typing import Callable

_subscribers: list[Callable[[str, dict], None]] = []


def subscribe(callback: Callable[[str, dict], None]) -> Callable[[], None]:
    """Call ``callback(event, data)`` on every event; returns a function that unsubscribes."""
    _subscribers.append(callback)
    return lambda: _subscribers.remove(callback)


async def publish(event: str, **data: object) -> None:
    for callback in list(_subscribers):
        callback(event, data)
