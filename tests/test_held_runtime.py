"""held-across-await at runtime: tests/cases/dbs001_held_runtime.py's endpoints, driven through
FastAPI's TestClient against SQLite, hold a checked-out connection and an open transaction at
their waits exactly where the analysis says they are held across them."""

from __future__ import annotations

import importlib.util
import os
import time
import types
from pathlib import Path

import pytest
from evalcases import CASES, run_case
from fastapi.testclient import TestClient

from flake8_db_session.analysis.findings import HELD_TAG

NAME = "dbs001_held_runtime.py"


@pytest.fixture(scope="module")
def case():
    spec = importlib.util.spec_from_file_location("dbs_case_held_runtime", os.path.join(CASES, NAME))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _route_paths(module) -> dict[str, str]:
    return {route.endpoint.__name__: route.path for route in module.app.routes if hasattr(route, "endpoint") and route.path.startswith("/") and route.path not in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")}


def _drive(module, path: str, monkeypatch) -> list[tuple[int, int, int]]:
    """Call one endpoint; the (line, checked-out connections, open transactions) at each wait."""
    module.client.waits.clear()
    # time.sleep in the module records the pool's state too (and sleeps for real).
    def sleep(seconds: float) -> None:
        module.client.record()
        time.sleep(seconds)

    monkeypatch.setattr(module, "time", types.SimpleNamespace(sleep=sleep))
    method = "post" if any(r.path == path and "POST" in r.methods for r in module.app.routes if hasattr(r, "methods")) else "get"
    with TestClient(module.app) as http:
        response = getattr(http, method)(path)
    assert response.status_code == 200, response.text
    assert module.POOL == {"checked_out": 0, "transactions": 0}, "the request ended with everything handed back"
    waits = list(module.client.waits)
    assert waits, f"{path} never waited"
    return waits


def test_the_held_endpoints_hold_a_connection_and_a_transaction_at_their_waits(case, monkeypatch) -> None:
    _want, _got, findings = run_case(NAME)
    held = {f.function: f for f in findings if f.code == "DBS001"}
    paths = _route_paths(case)
    assert set(held) < set(paths), "every DBS001 site is an endpoint of the app"
    checked = 0
    for function, path in sorted(paths.items()):
        waits = _drive(case, path, monkeypatch)
        finding = held.get(function)
        if finding is not None and HELD_TAG in finding.tags:
            assert all(out == 1 and open_ == 1 for _line, out, open_ in waits), (function, waits)
            # A wait in the endpoint's own body is reported at its line.
            own_lines = {point.line for point in finding.held_across if not point.via}
            if own_lines:
                assert {line for line, _out, _open in waits} <= own_lines, (function, waits, own_lines)
        else:
            assert all(out == 0 and open_ == 0 for _line, out, open_ in waits), (function, waits)
        checked += 1
    assert checked == len(paths) == 8
    assert sum(HELD_TAG in f.tags for f in held.values()) == 3


def test_the_runtime_eval_file_is_what_the_analysis_reads() -> None:
    source = Path(CASES, NAME).read_text(encoding="utf-8")
    assert "held across" in source and "def scoped" in source
