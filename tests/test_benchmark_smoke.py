"""The benchmark harness runs end to end on tiny generated corpora (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks import synthetic
from benchmarks.measure import run_once

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_run(output, *groups: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``python -m benchmarks --smoke`` of some groups: the process and its JSON results."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--only", *groups, "--output", str(output)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((output / "latest.json").read_text(encoding="utf-8"))


def test_smoke_run_writes_results(tmp_path):
    proc, data = smoke_run(tmp_path, "real", "synthetic")
    scenarios = data["scenarios"]
    for key in ("real.floor_parse", "real.floor_walk", "real.check_j1", "real.check_jN", "syn1.check_j1", "syn10.check_j1"):
        summary = scenarios[key]["summary"]
        assert summary["runs"] == 1
        assert summary["wall"] > 0 and summary["cpu"] > 0 and summary["peak_kb"] > 0
    targets = {t["name"]: t for t in data["targets"]}
    check_ratio = targets["check -j1 / parse+walk floor"]
    expected = scenarios["real.check_j1"]["summary"]["wall"] / scenarios["real.floor_walk"]["summary"]["wall"]
    assert check_ratio["value"] == pytest.approx(expected, rel=1e-3)
    # One run: its own ratio is the ratio of the medians.
    assert check_ratio["per_run"] == pytest.approx({"median": expected, "min": expected, "max": expected}, rel=1e-3)
    assert targets["flake8 + ours / flake8 (CPU)"]["value"] is None  # group not measured: no figure, no verdict
    assert data["machine"]["cores"] >= 1 and data["machine"]["commit"]
    markdown = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| check -j1 / parse+walk floor |" in markdown
    assert "check -j1 / parse+walk floor" in proc.stdout


def test_smoke_history_group_times_the_first_run_after_a_check(tmp_path):
    _proc, data = smoke_run(tmp_path, "history")
    scenarios = data["scenarios"]
    for key in ("history.check_jN", "history.check_jN_cold", "history.cold", "history.after_check", "history.warm"):
        assert "error" not in scenarios[key], scenarios[key]
        assert scenarios[key]["summary"]["runs"] == 1
    context = {ratio["name"]: ratio["value"] for ratio in data["context"]}
    expected = scenarios["history.after_check"]["summary"]["wall"] / scenarios["history.check_jN"]["summary"]["wall"]
    assert context["history, first run after a check / check -jN"] == pytest.approx(expected, rel=1e-3)


def test_synthetic_project_is_deterministic_and_holds_findings(tmp_path):
    first = synthetic.generate(str(tmp_path / "a"), 1, domains_per_scale=2)
    second = synthetic.generate(str(tmp_path / "b"), 1, domains_per_scale=2)
    files = sorted(os.path.relpath(os.path.join(d, f), first) for d, _, fs in os.walk(first) for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), second) for d, _, fs in os.walk(second) for f in fs)
    for relative in files:
        with open(os.path.join(first, relative), "rb") as a, open(os.path.join(second, relative), "rb") as b:
            assert a.read() == b.read(), relative
    proc = subprocess.run(
        [sys.executable, "-m", "flake8_db_session", "check", "--format", "json", "app"],
        cwd=str(tmp_path / "a"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    codes = {finding["code"] for finding in json.loads(proc.stdout)}
    assert {"DBS001", "DBS002"} <= codes


def test_measure_reports_the_child_peak_memory():
    sample = run_once([sys.executable, "-c", "block = bytearray(64 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096])"])
    assert sample.exit_code == 0
    assert sample.peak_kb >= 64 * 1024
    assert sample.wall > 0 and sample.cpu > 0


def test_children_import_the_snapshot_of_the_package(tmp_path, monkeypatch):
    from benchmarks import harness

    monkeypatch.setattr(harness, "_SNAPSHOT", [])
    snapshot = harness.take_snapshot(str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", "import flake8_db_session; print(flake8_db_session.__file__)"],
        env=harness._env_with_project(),
        capture_output=True,
        text=True,
        check=True,
        cwd=str(tmp_path),
    )
    assert proc.stdout.strip() == os.path.join(snapshot, "flake8_db_session", "__init__.py")


def test_per_run_ratios_pair_the_figures_of_each_run():
    from benchmarks import harness
    from benchmarks.measure import Sample

    def scenario(key: str, walls: list[float]) -> harness.Scenario:
        made = harness.Scenario(key, key, [], ".")
        made.samples = [Sample(wall, wall, 1, 0) for wall in walls]
        return made

    # Paired by run: the median of the runs' own ratios (2, 3, 1), not the ratio of the medians (4 / 3).
    scenarios = {s.key: s for s in (scenario("a.num", [2.0, 9.0, 4.0]), scenario("a.den", [1.0, 3.0, 4.0]))}
    assert harness.paired_ratios("a.num:wall", "a.den:wall", scenarios) == {"median": 2.0, "min": 1.0, "max": 3.0}
    scenarios["a.den"].samples.pop()  # a run missing on one side: no pairs
    assert harness.paired_ratios("a.num:wall", "a.den:wall", scenarios) is None
    assert harness.paired_ratios("a.num:wall", "b.absent:wall", scenarios) is None
    editor = harness.Scenario("editor.inprocess", "", [], ".")
    editor.outputs = [{"parse": 0.2, "analysis_first": 0.1}, {"parse": 0.4, "analysis_first": 0.3}]
    ratios = harness.paired_ratios("editor.inprocess:analysis_first", "editor.inprocess:parse", {editor.key: editor})
    assert ratios == pytest.approx({"median": 0.625, "min": 0.5, "max": 0.75})


# -- instructions counted by valgrind (the opt-in group) -------------------------------------

CACHEGRIND_OUT = """\
desc: I1 cache:         32768 B, 64 B, 8-way associative
cmd: python -c pass
events: Ir
fl=???
fn=0x0000000000001100
0 3
summary: 22612345
"""


def test_summary_count_reads_the_instructions_of_a_cachegrind_file():
    from benchmarks.instructions import summary_count

    assert summary_count(CACHEGRIND_OUT) == 22612345
    with_cache_events = CACHEGRIND_OUT.replace("events: Ir", "events: Dr Ir").replace("summary: 22612345", "summary: 5 7")
    assert summary_count(with_cache_events) == 7
    with pytest.raises(ValueError):
        summary_count("events: Ir\n")


def test_editor_phases_subtract_to_the_parse_and_the_analyses():
    from benchmarks.instructions import editor_phases

    counts = {"editor.start": 100, "editor.parse": 130, "editor.first": 150, "editor.second": 195}
    assert editor_phases(counts) == {"editor.parse": 30, "editor.analysis_first": 20, "editor.analysis": 15}
    failed = editor_phases({**counts, "editor.first": "exited 1 under valgrind"})
    assert failed == dict.fromkeys(("editor.parse", "editor.analysis_first", "editor.analysis"), "exited 1 under valgrind")
    assert editor_phases({}) == dict.fromkeys(("editor.parse", "editor.analysis_first", "editor.analysis"), "not counted")


needs_valgrind = pytest.mark.skipif(
    not __import__("shutil").which("valgrind"), reason="valgrind is not installed (the instructions group needs it)"
)


@needs_valgrind
def test_instruction_counts_follow_the_work_done(tmp_path):
    from benchmarks.instructions import count

    env = dict(os.environ)
    idle = count([sys.executable, "-c", "pass"], cwd=str(tmp_path), env=env)
    busy = count([sys.executable, "-c", "sum(range(3_000_000))"], cwd=str(tmp_path), env=env)
    again = count([sys.executable, "-c", "sum(range(3_000_000))"], cwd=str(tmp_path), env=env)
    assert idle > 1_000_000
    assert busy > idle + 30_000_000  # at least ten instructions per iteration
    assert abs(again - busy) < busy * 0.01  # the same work, the same count (the hash seed fixed)


@needs_valgrind
def test_smoke_instructions_group_counts_the_compared_commands(tmp_path):
    _proc, data = smoke_run(tmp_path, "instructions")
    counted = data["instructions"]
    phases = {f"editor.{phase}" for phase in ("start", "parse", "first", "second")}
    derived = {"editor.parse", "editor.analysis_first", "editor.analysis"}
    assert set(counted) == {"real.flake8_with", "real.flake8_without", "real.check_j1", "real.floor_walk", *phases, *derived}
    assert all(isinstance(value, int) and value > 0 for value in counted.values()), counted
    context = {ratio["name"]: ratio["value"] for ratio in data["context"]}
    expected = counted["real.flake8_with"] / counted["real.flake8_without"]
    assert context["flake8 + ours / flake8 (instructions)"] == pytest.approx(expected)
    assert expected > 1  # flake8 does the same work plus ours
    first = counted["editor.analysis_first"] / counted["editor.parse"]
    assert context["largest file: first analysis / ast.parse (instructions)"] == pytest.approx(first)
    assert "Instructions executed (cachegrind" in (tmp_path / "latest.md").read_text(encoding="utf-8")
