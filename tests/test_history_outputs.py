"""history as users meet it: outputs by extension, a trend that --every does not change, integer
chart ticks, a narrow table, one baseline column across formats, a progress bar on a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from flake8_db_session.burndown import chart
from flake8_db_session.burndown.cache import ResultCache
from flake8_db_session.burndown.history import GitRepository, compute_history
from flake8_db_session.config import Settings

HEADER = "from fastapi import APIRouter, Depends\nfrom app.db import get_db\nrouter = APIRouter()\n"


def endpoint(name: str) -> str:
    return f'\n\n@router.get("/{name}")\ndef {name}(db=Depends(get_db)):\n    return db\n'


def git(repo, *args: str, date: str | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
                          check=True, capture_output=True, text=True, env=env).stdout


def make_repo(path, counts_and_dates) -> None:
    """One commit per (endpoint count, date) in app/routes.py."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / "app").mkdir(exist_ok=True)
    (path / "app" / "__init__.py").write_text("")
    (path / "app" / "db.py").write_text("def get_db():\n    yield None\n")
    for number, (count, date) in enumerate(counts_and_dates):
        (path / "app" / "routes.py").write_text(HEADER + "".join(endpoint(f"e{i}") for i in range(count)))
        git(path, "add", "-A")
        git(path, "commit", "--quiet", "--allow-empty", "-m", f"commit {number}", date=date)


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    """Ten weeks, three commits a week, burning down from 30 endpoints by one per commit."""
    path = tmp_path_factory.mktemp("weekly") / "repo"
    commits = []
    for week in range(10):
        for day in (0, 2, 4):
            date = f"2025-01-01T12:00:00Z +{week * 7 + day}d"
            commits.append((30 - len(commits), date))
    days = []
    import datetime

    start = datetime.datetime(2025, 1, 1, 12, tzinfo=datetime.timezone.utc)
    for count, date in commits:
        offset = int(date.split("+")[1].rstrip("d"))
        days.append((count, (start + datetime.timedelta(days=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    make_repo(path, days)
    return path


def history_json(run_cli, repo, *extra: str) -> dict:
    done = run_cli("history", "--repo", str(repo), "--no-cache", "--format", "json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.integration
def test_the_trend_is_the_same_whatever_every_shows(weekly, run_cli):
    trends = {every: history_json(run_cli, weekly, "--every", str(every))["projection"] for every in (1, 2, 5, 29)}
    assert trends[1] is not None and trends[1]["per_day"] < 0
    assert all(trend == trends[1] for trend in trends.values()), trends
    # The weekly sample: the last commit of each of the ten weeks, three commits a week.
    assert trends[1]["per_30_days"] == pytest.approx(-3 / 7 * 30, rel=0.01)
    shown = history_json(run_cli, weekly, "--every", "5")
    assert len(shown["commits"]) == 7  # 0, 5, ..., 25 and the last


def test_commits_minutes_apart_give_no_trend(tmp_path, run_cli):
    make_repo(tmp_path / "repo", [(5, "2025-03-01T12:00:00Z"), (3, "2025-03-01T12:05:00Z")])
    data = history_json(run_cli, tmp_path / "repo")
    assert data["projection"] is None
    table = run_cli("history", "--repo", str(tmp_path / "repo"), "--no-cache")
    assert table.returncode == 0 and "trend" not in table.stdout and "zero around" not in table.stdout


@pytest.mark.parametrize("name", ["chart.jpg", "chart.gif", "report", "chart.PNG.bak"])
def test_an_unknown_output_extension_is_an_error_and_writes_nothing(tmp_path, run_cli, name):
    make_repo(tmp_path / "repo", [(1, "2025-03-01T12:00:00Z")])
    target = tmp_path / name
    done = run_cli("history", "--repo", str(tmp_path / "repo"), "--no-cache", "-o", str(target))
    assert done.returncode == 2 and "known: .csv, .json, .md, .pdf, .png, .svg, .txt" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not target.exists()
    clash = run_cli("history", "--repo", str(tmp_path / "repo"), "--format", "csv", "-o", str(tmp_path / "x.json"))
    assert clash.returncode == 2 and "is json, but --format is csv" in clash.stderr


@pytest.mark.integration
def test_pdf_by_extension_and_integer_ticks(weekly, tmp_path, run_cli):
    pytest.importorskip("matplotlib")
    pdf = tmp_path / "burndown.pdf"
    done = run_cli("history", "--repo", str(weekly), "--no-cache", "--output-file", str(pdf), "--size", "600x400")
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    repository = GitRepository(str(weekly))
    try:
        history = compute_history(repository, repository.commits()[-3:], Settings(root=str(weekly)),
                                  cache=ResultCache(None))
    finally:
        repository.close()
    figure = chart.build_figure(history, size=(600, 400))  # counts 3, 2, 1: fractional ticks by default
    ticks = figure.axes[0].get_yticks()
    assert len(ticks) >= 2 and all(float(tick).is_integer() for tick in ticks), ticks


def test_the_table_is_narrow_unless_wide_and_the_baseline_column_agrees(tmp_path, run_cli):
    repo = tmp_path / "repo"
    make_repo(repo, [(4, "2025-03-01T12:00:00Z"), (3, "2025-03-08T12:00:00Z")])
    # A baseline only in the working tree: every format shows it as the baseline of each commit.
    baseline = {"format": "flake8-db-session-baseline", "version": 1, "codes": ["DBS001", "DBS002"],
                "entries": [{"module": "app/routes.py", "code": "DBS001", "function": f"e{i}", "count": 1}
                            for i in range(3)]}
    (repo / ".db-session-baseline.json").write_text(json.dumps(baseline))
    common = ["history", "--repo", str(repo), "--no-cache"]
    narrow = run_cli(*common, cwd=repo).stdout
    header = narrow.splitlines()[0].split()
    assert header[:4] == ["date", "commit", "burndown", "baseline"] and "mitigated" not in header
    assert "held-across-await" in header  # the part of the burndown that exhausts a pool stays
    assert max(len(line) for line in narrow.splitlines()[:4]) < 100
    wide = run_cli(*common, "--wide", cwd=repo).stdout.splitlines()[0].split()
    assert {"mitigated", "unused", "grep", "files"} <= set(wide)
    table_baselines = [line.split()[3] for line in narrow.splitlines()[2:4]]
    data = json.loads(run_cli(*common, "--format", "json", cwd=repo).stdout)
    rows = csv.DictReader(io.StringIO(run_cli(*common, "--format", "csv", cwd=repo).stdout))
    csv_baselines = [row["baseline"] for row in rows if row["module"] == "TOTAL"]
    assert table_baselines == csv_baselines == [str(c["baseline"]) for c in data["commits"]] == ["3", "3"]
    assert data["baseline_source"] == "working tree"
    markdown = run_cli(*common, "--format", "markdown", cwd=repo).stdout
    assert "| 3 |" in markdown and "mitigated" not in markdown


def test_progress_bar_with_rate_and_eta_on_a_terminal(weekly, tmp_path):
    """The real command with its stderr on a pseudo-terminal."""
    import pty

    main, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "flake8_db_session", "history", "--repo", str(weekly), "--no-cache",
             "--format", "csv", "-o", str(tmp_path / "out.csv")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, timeout=300,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, shown
    assert "commits/s  ETA " in shown and "30/30 commits" in shown and "done in" in shown
