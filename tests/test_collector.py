"""The analysis and Python's cyclic garbage collector.

The analysis leaves no reference cycles, so a module's tree is freed by reference counting as
soon as its file is done (in flake8 the tree is flake8's: a cycle through it would keep it alive
until a full collection). The collector is paused while a file is analyzed, and, in the plugin,
while flake8 takes the findings (it tokenizes the whole file at the first one); the host gets it
back as it was, however the work ends.
"""

from __future__ import annotations

import ast
import gc
import os

import pytest

from flake8_db_session.config import Settings
from flake8_db_session.plugin import Plugin
from flake8_db_session.runner import check_path, check_source

HERE = os.path.dirname(os.path.abspath(__file__))
ENDPOINT = """from fastapi import APIRouter, Depends
from app.db import get_db

router = APIRouter()


@router.get("/tools")
def list_tools(db=Depends(get_db)):
    return db.query(1).all()
"""


@pytest.fixture
def collector_running():
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def _python_files(*roots: str) -> list[str]:
    return sorted(
        os.path.join(folder, name)
        for root in roots
        for folder, _dirs, names in os.walk(root)
        for name in names
        if name.endswith(".py")
    )


def test_analyzing_leaves_no_cyclic_garbage(monkeypatch, collector_running):
    # The rule cases and the sample projects: every code, DBS001 held across awaits (the
    # held-across helpers), discovered providers and scopes (discovery's resolver), services
    # returning ORM objects (their origins).
    monkeypatch.chdir(HERE)
    files = _python_files("cases", "sample_app", "sample_project")
    settings = Settings()
    for path in files:  # the project index and every per-process cache, built once
        check_path(path, settings)
    codes: set[str] = set()
    tags: set[str] = set()
    gc.collect()
    gc.disable()
    for path in files:
        result = check_path(path, settings)
        assert not result.error, result
        codes.update(finding.code for finding in result.findings)
        tags.update(tag for finding in result.findings for tag in finding.tags)
        assert gc.collect() == 0, path
    assert {f"DBS00{n}" for n in range(1, 9)} <= codes
    assert "held-across-await" in tags


def test_the_plugin_leaves_no_cyclic_garbage(collector_running):
    tree = ast.parse(ENDPOINT)
    list(Plugin(tree, "tools.py", ENDPOINT.splitlines(keepends=True)).run())
    gc.collect()
    gc.disable()
    assert len(list(Plugin(tree, "tools.py", ENDPOINT.splitlines(keepends=True)).run())) == 1
    assert gc.collect() == 0


@pytest.mark.parametrize("enabled", [True, False], ids=["running", "paused-by-the-host"])
@pytest.mark.parametrize("data", [ENDPOINT.encode(), b"def f(:\n", b"x = " + b"(" * 300 + b")" * 300 + b"\n"], ids=["findings", "syntax-error", "too-deep"])
def test_check_source_gives_the_collector_back_as_it_was(collector_running, enabled, data):
    (gc.enable if enabled else gc.disable)()
    check_source(data, "tools.py", Settings())
    assert gc.isenabled() is enabled


def _plugin_for(source: str) -> Plugin:
    return Plugin(ast.parse(source), "tools.py", source.splitlines(keepends=True))


def test_the_collector_is_paused_while_flake8_takes_the_findings(collector_running):
    states = [gc.isenabled() for _finding in _plugin_for(ENDPOINT).run()]
    assert states == [False]  # one finding, taken with the collector paused
    assert gc.isenabled()


def test_a_plugin_run_stopped_early_gives_the_collector_back(collector_running):
    run = _plugin_for(ENDPOINT).run()
    next(run)
    run.close()
    assert gc.isenabled()


def test_a_file_without_findings_leaves_the_collector_alone(collector_running):
    assert list(_plugin_for("x = 1\n").run()) == []
    assert gc.isenabled()


def test_a_collector_the_host_paused_stays_paused(collector_running):
    gc.disable()
    assert len(list(_plugin_for(ENDPOINT).run())) == 1
    assert not gc.isenabled()


def test_real_flake8_in_process_gets_its_collector_back(tmp_path, collector_running, monkeypatch):
    from flake8.api import legacy

    (tmp_path / "tools.py").write_text(ENDPOINT)
    monkeypatch.chdir(tmp_path)
    # one file: flake8 checks it in this process, whatever its job count
    report = legacy.get_style_guide(select=["DBS"]).check_files(["tools.py"])
    [statistic] = report.get_statistics("DBS001")
    assert statistic.startswith("1 DBS001 request-scoped session dependency get_db on endpoint list_tools")
    assert gc.isenabled()
