"""Run the ORM eval files' examples against real SQLAlchemy and check they fail as their rule says.

Each eval file ``tests/cases/dbsNNN_*.py`` holds ``bad_*`` functions (positives of rule NNN) and
``ok_*`` functions (negatives). ``PROOFS[code]`` runs one example and returns what happened:
``prove(code, function)`` raises AssertionError when a positive does not fail the way its rule
says, or a negative fails.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from typing import Any, Callable

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.exc import DetachedInstanceError

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(TESTS, "cases")
ORM_CODES = ("DBS003", "DBS004", "DBS005", "DBS006", "DBS007", "DBS008", "DBS009")


def case_modules() -> list[str]:
    return sorted(f for f in os.listdir(CASES) if f.endswith(".py") and f[:6].upper() in ORM_CODES)


def load(filename: str) -> Any:
    """Import an eval file as a module (its imports of ``soundness.models`` resolve from tests/)."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    name = "dbs_case_" + filename[:-3]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(CASES, filename))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def examples(module: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in vars(module).items():
        own = inspect.isfunction(value) and value.__module__ == module.__name__
        if own and name.startswith(("bad_", "ok_")):
            yield name, value


# --- reading objects the way a caller would -----------------------------------------------------


def orm_objects(value: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 4:
        return
    if hasattr(value, "__mapper__") and not isinstance(value, type):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from orm_objects(item, depth + 1)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from orm_objects(item, depth + 1)


def read_everything(obj: Any) -> None:
    """Every mapped attribute, relationships included (and the first level of related objects).
    A ``lazy="raise"`` relationship is left out: reading it raises wherever it was not
    eager-loaded, which callers know (DBS005 reports reads of one)."""
    for attribute in sa_inspect(type(obj)).attrs:
        if getattr(attribute, "lazy", None) == "raise":
            continue
        related = getattr(obj, attribute.key)
        if isinstance(related, list):
            len(related)


def detached_failure(value: Any) -> bool:
    """Whether a caller reading the returned objects hits DetachedInstanceError."""
    objects = list(orm_objects(value))
    assert objects, "the example returned no ORM object"
    for obj in objects:
        try:
            read_everything(obj)
        except DetachedInstanceError:
            return True
    return False


def run_coroutine(value: Any) -> Any:
    """Run an async example to completion (a fresh event loop, its pooled aiosqlite
    connections disposed after); anything else is returned as it is."""
    if not inspect.iscoroutine(value):
        return value
    from soundness.models import async_engine

    async def run() -> Any:
        try:
            return await value
        finally:
            await async_engine.dispose()

    return asyncio.run(run())


def results(value: Any) -> Any:
    return list(value) if inspect.isgenerator(value) else value


def consume(value: Any, read_each: bool) -> tuple[Any, bool]:
    """A generator is consumed item by item, each item read while the generator is suspended
    (as a streaming response would); returns the items and whether a read failed."""
    if not inspect.isgenerator(value):
        return value, False
    items, failed = [], False
    for item in value:
        items.append(item)
        if read_each:
            for obj in orm_objects(item):
                try:
                    read_everything(obj)
                except DetachedInstanceError:
                    failed = True
    return items, failed
