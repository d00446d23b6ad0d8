"""``history``: counts per commit of a real git repository, read from git objects, cached per file."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import sqlite3
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

from flake8_db_session.burndown import chart
from flake8_db_session.burndown.cache import ResultCache
from flake8_db_session.burndown.commit_index import GitProjectIndex
from flake8_db_session.burndown.history import GitError, GitRepository, compute_history, module_in_tree
from flake8_db_session.config import Settings

DB = """\
from sqlalchemy.orm import Session


def get_db():
    yield Session()
"""

HEADER = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()
"""


def endpoint(name: str, noqa: bool = False) -> str:
    comment = "  # noqa: DBS001" if noqa else ""
    return f"""

@router.get("/{name}")
def {name}(db: Session = Depends(get_db)):{comment}
    return db
"""


ALIAS = """\
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.db import get_db, get_other

# Typed as object: whether it names a session depends on the dependency alone.
DbSession = Annotated[object, Depends({dependency})]
"""

ALIAS_USER = HEADER + """
from app.types import DbSession


@router.get("/aliased")
def aliased(db: DbSession):
    return db
"""

HELPER = """\
from fastapi import Depends
from sqlalchemy.orm import Session

from app.db import get_db


def current_user(db: Session = Depends(get_db)):
    return db
"""



def baseline(**functions: int) -> str:
    """A committed baseline file allowing ``function=count`` DBS001 findings (in one module)."""
    entries = [
        {"module": "app/routes/users.py", "code": "DBS001", "function": name, "count": count}
        for name, count in sorted(functions.items())
    ]
    return json.dumps({"format": "flake8-db-session-baseline", "version": 1, "codes": ["DBS001", "DBS002"],
                       "entries": entries})


# Each commit: (date, message, files to write (None deletes)), and the exact DBS001/DBS002
# counts expected per module after it.
COMMITS = [
    (
        "2024-01-01T12:00:00Z",
        "two modules, three endpoints",
        {
            "app/__init__.py": "",
            "app/db.py": DB,
            "app/routes/__init__.py": "",
            "app/routes/items.py": HEADER + endpoint("list_items") + endpoint("get_item"),
            "app/routes/users.py": HEADER + endpoint("list_users"),
            "README.md": "# not python\n",
        },
        {"app/routes/items.py": 2, "app/routes/users.py": 1},
    ),
    (
        "2024-02-01T12:00:00Z",
        "add an endpoint (noqa'd) and a helper dependency",
        {
            "app/routes/users.py": HEADER + endpoint("list_users") + endpoint("get_user", noqa=True),
            "app/deps.py": HELPER,
            ".db-session-baseline.json": baseline(a=2, b=3),
        },
        {"app/routes/items.py": 2, "app/routes/users.py": 2, "app/deps.py": 1},
    ),
    (
        "2024-03-01T12:00:00Z",
        "move list_items from items to users",
        {
            "app/routes/items.py": HEADER + endpoint("get_item"),
            "app/routes/users.py": HEADER + endpoint("list_users") + endpoint("get_user", noqa=True)
            + endpoint("list_items"),
        },
        {"app/routes/items.py": 1, "app/routes/users.py": 3, "app/deps.py": 1},
    ),
    (
        "2024-04-01T12:00:00Z",
        "remove two endpoints and the helper; an alias from another module",
        {
            "app/routes/users.py": HEADER + endpoint("list_users"),
            "app/deps.py": None,
            "app/types.py": ALIAS.format(dependency="get_db"),
            "app/routes/aliased.py": ALIAS_USER,
            ".db-session-baseline.json": baseline(a=3),
        },
        {"app/routes/items.py": 1, "app/routes/users.py": 1, "app/routes/aliased.py": 1},
    ),
    (
        "2024-05-01T12:00:00Z",
        "the alias no longer names a session (aliased.py itself unchanged)",
        {"app/types.py": ALIAS.format(dependency="get_other")},
        {"app/routes/items.py": 1, "app/routes/users.py": 1},
    ),
    (
        "2024-06-01T12:00:00Z",
        "app/types.py gains a function; the alias is unchanged",
        {"app/types.py": ALIAS.format(dependency="get_other") + "\n\ndef unrelated():\n    return 1\n"},
        {"app/routes/items.py": 1, "app/routes/users.py": 1},
    ),
]


def git(repo, *args: str, date: str | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, text=True, env=env,
    ).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The repository, its commits oldest first, and a dirty working tree (to prove it is not read)."""
    path = tmp_path_factory.mktemp("history") / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    shas = []
    for date, message, files, _expected in COMMITS:
        for name, text in files.items():
            target = path / name
            if text is None:
                git(path, "rm", "--quiet", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(path, "add", name)
        git(path, "commit", "--quiet", "-m", message, date=date)
        shas.append(git(path, "rev-parse", "HEAD").strip())
    # Uncommitted changes: history counts commits, never the working tree.
    (path / "app/routes/items.py").write_text(HEADER + "".join(endpoint(f"e{i}") for i in range(9)))
    (path / "app/untracked.py").write_text(HEADER + endpoint("untracked"))
    return path, shas


def ratcheted_by_module(point) -> dict[str, int]:
    return {
        module: counts.codes.get("DBS001", 0) + counts.codes.get("DBS002", 0)
        for module, counts in point.counts.modules.items()
        if counts.codes.get("DBS001", 0) + counts.codes.get("DBS002", 0)
    }


def run_history(path, cache, **kwargs):
    repository = GitRepository(str(path))
    try:
        commits = repository.commits(kwargs.pop("since", None), kwargs.pop("until", None), kwargs.pop("every", 1))
        return compute_history(repository, commits, Settings(root=str(path)), cache=cache, **kwargs)
    finally:
        repository.close()


def snapshot(path) -> tuple:
    """Everything a checkout or an index refresh would change."""
    files = {}
    for directory, subdirs, names in os.walk(path):
        subdirs[:] = [d for d in subdirs if d != ".git"]
        for name in names:
            full = os.path.join(directory, name)
            with open(full, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            files[os.path.relpath(full, path)] = (digest, os.stat(full).st_mtime_ns)
    with open(path / ".git" / "index", "rb") as handle:
        index = handle.read()
    status = git(path, "status", "--porcelain")
    return files, index, git(path, "rev-parse", "HEAD"), status


def test_exact_counts_per_commit_and_working_tree_untouched(repo):
    path, shas = repo
    before = snapshot(path)
    history = run_history(path, ResultCache(None))
    assert snapshot(path) == before
    assert [p.commit.sha for p in history.points] == shas
    assert [ratcheted_by_module(p) for p in history.points] == [c[3] for c in COMMITS]
    assert chart.series(history) == [3, 5, 5, 3, 2, 2]
    assert [p.baseline for p in history.points] == [None, 5, 5, 3, 3, 3]  # as committed at each commit
    # The noqa'd endpoint counts, and is counted in its own column too.
    assert [p.counts.totals.noqa for p in history.points] == [0, 1, 1, 0, 0, 0]
    assert [p.counts.totals.codes.get("DBS002", 0) for p in history.points] == [0, 1, 1, 0, 0, 0]
    # Counted files are the Python files of each commit (README.md is not one).
    assert [p.files for p in history.points] == [5, 6, 6, 7, 7, 7]


def test_second_run_comes_from_the_cache(repo, tmp_path):
    path, _shas = repo
    cache_file = str(tmp_path / "cache.sqlite3")
    first_cache = ResultCache(cache_file)
    first = run_history(path, first_cache)
    first_cache.close()
    second_cache = ResultCache(cache_file)  # a new process would open the same file
    second = run_history(path, second_cache)
    second_cache.close()
    total = sum(p.files for p in first.points)
    # Within the first run, a file unchanged since the previous commit (same blob, same
    # answers from the modules it imports) is already a hit.
    assert first.cached > 0 and first.analyzed + first.cached == total
    assert (second.analyzed, second.cached) == (0, total)
    assert [p.counts.to_dict() for p in second.points] == [p.counts.to_dict() for p in first.points]
    print(f"first run {first.seconds:.3f}s ({first.analyzed} analyzed), cached run {second.seconds:.3f}s")


def test_cache_follows_what_other_modules_said(repo, tmp_path):
    """aliased.py is the same blob in the last three commits. At the fifth the alias it imports
    stops naming a session: its cached result must not be reused. At the sixth app/types.py
    changes again, but not the alias: the cached result holds (its answers are the same)."""
    path, shas = repo
    cache = ResultCache(str(tmp_path / "cache.sqlite3"))
    partial = run_history(path, cache, until=shas[3])
    assert ratcheted_by_module(partial.points[-1])["app/routes/aliased.py"] == 1
    full = run_history(path, cache)
    cache.close()
    assert "app/routes/aliased.py" not in ratcheted_by_module(full.points[4])
    # Fifth commit: app/types.py (a new blob) and aliased.py (same blob, different answer about
    # app.types.DbSession); sixth: app/types.py only. Every other file comes from the cache.
    assert [p.analyzed for p in full.points] == [0, 0, 0, 0, 2, 1]


def test_range_selection(repo):
    path, shas = repo
    repository = GitRepository(str(path))
    try:
        assert [c.sha for c in repository.commits(since=shas[1])] == shas[1:]
        assert [c.sha for c in repository.commits(until=shas[2])] == shas[:3]
        assert [c.sha for c in repository.commits(every=2)] == [shas[0], shas[2], shas[4], shas[5]]
        assert [c.sha for c in repository.commits(every=3)] == [shas[0], shas[3], shas[5]]
        with pytest.raises(GitError):
            repository.commits(since="no-such-rev")
        with pytest.raises(GitError):
            repository.commits(until="--output=/tmp/x")  # never passed to git as an option
    finally:
        repository.close()


def test_module_names_follow_the_package_chain():
    files = {"src/app/__init__.py": "a", "src/app/api/__init__.py": "b", "src/app/api/x.py": "c", "tool.py": "d"}
    assert module_in_tree("src/app/api/x.py", files) == ("app.api.x", False, "src")
    assert module_in_tree("src/app/api/__init__.py", files) == ("app.api", True, "src")
    assert module_in_tree("tool.py", files) == ("tool", False, "")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.integration
def test_cli_outputs_agree_and_chart_is_an_image(repo, tmp_path, run_cli):
    path, shas = repo
    cache = str(tmp_path / "cache")
    common = ["history", "--repo", str(path), "--cache-dir", cache]
    png = tmp_path / "burndown.png"
    done = run_cli(*common, "--output", str(png), "--size", "800x500")
    assert done.returncode == 0, done.stderr
    assert png_size(png.read_bytes()) == (800, 500)
    svg = tmp_path / "burndown.svg"
    done = run_cli(*common, "--output", str(svg), "--size", "800x500")
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(svg.read_bytes())
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 576 360"  # 8x5 inches in points
    assert "0 files analyzed" in done.stderr  # the second run: every file from the cache

    as_json = json.loads(run_cli(*common, "--format", "json").stdout)
    as_csv = list(csv.DictReader(io.StringIO(run_cli(*common, "--format", "csv").stdout)))
    assert [c["commit"] for c in as_json["commits"]] == shas
    assert [c["burndown"] for c in as_json["commits"]] == [3, 5, 5, 3, 2, 2]
    from_json = {}
    for commit in as_json["commits"]:
        for counts in [commit["totals"], *commit["modules"]]:
            row = {"burndown": counts.get("burndown", commit["burndown"]), "total": counts["total"],
                   "noqa": counts["noqa"], "grep": counts["grep"], **counts["codes"], **counts["statuses"]}
            from_json[commit["commit"], counts["module"]] = row
    assert [c["baseline"] for c in as_json["commits"]] == [None, 5, 5, 3, 3, 3]
    assert [row["baseline"] for row in as_csv if row["module"] == "TOTAL"] == ["", "5", "5", "3", "3", "3"]
    from_csv = {}
    for row in as_csv:
        values = {k: int(v) for k, v in row.items() if k not in ("commit", "date", "module", "baseline")}
        from_csv[row["commit"], row["module"]] = values
    assert from_csv.keys() == from_json.keys()
    for key, values in from_json.items():
        assert {k: from_csv[key].get(k, 0) for k in values} == values
        assert all(v == 0 for k, v in from_csv[key].items() if k not in values)

    markdown = run_cli(*common, "--output", str(tmp_path / "burndown.md"))
    text = (tmp_path / "burndown.md").read_text()
    assert markdown.returncode == 0 and "xychart-beta" in text and "line [3, 5, 5, 3, 2, 2]" in text
    assert "| baseline |" in text


def test_projection_to_zero(repo):
    numpy = pytest.importorskip("numpy")  # installed with matplotlib

    path, _shas = repo
    history = run_history(path, ResultCache(None))
    days = [(p.commit.timestamp - history.points[0].commit.timestamp) / 86400 for p in history.points]
    slope = float(numpy.polyfit(days, chart.series(history), 1)[0])
    trend = chart.projection(history)
    assert trend is not None and trend.per_day == pytest.approx(slope) and slope < 0
    last = history.points[-1].commit.timestamp
    assert trend.zero_at == pytest.approx(last + 2 / -slope * 86400, abs=1)  # from the last count, 2
    assert "zero around" in chart.render_table(history)
    # Only the last 40 days: two commits are too few points for a trend; none is shown.
    assert chart.projection(history, window_days=40) is None


def test_progress_bar_only_on_a_terminal(repo):
    from flake8_db_session.commands.progress import terminal_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert terminal_progress(io.StringIO()) is None  # piped: no bar
    stream = Terminal()
    path, shas = repo
    repository = GitRepository(str(path))
    try:
        commits = repository.commits()
        compute_history(repository, commits, Settings(root=str(path)), cache=ResultCache(None),
                        progress=terminal_progress(stream))
    finally:
        repository.close()
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == len(shas) + 1 and frames[-1].startswith(f"[{'#' * 30}] {len(shas)}/{len(shas)} commits")
    assert frames[0].startswith(f"[{'-' * 30}] 0/{len(shas)} commits  -- commits/s  ETA --:--  {shas[0][:10]} 2024-01-01")


def test_errors_are_one_line_and_exit_2(tmp_path, run_cli):
    done = run_cli("history", "--repo", str(tmp_path))
    assert done.returncode == 2 and "not a git repository" in done.stderr and "Traceback" not in done.stderr
    git(tmp_path, "init", "--quiet")
    done = run_cli("history", "--repo", str(tmp_path))
    assert done.returncode == 2 and done.stderr.strip().endswith("no commits yet")


def test_answer_digests_are_values_not_identities():
    from flake8_db_session.analysis.context import SessionAlias
    from flake8_db_session.burndown.cache import UNSTABLE
    from flake8_db_session.burndown.commit_index import _digest

    # Sets and dicts digest the same whatever their order (string hashes differ per process).
    assert _digest({"b": frozenset({"y", "x"}), "a": 1}) == _digest({"a": 1, "b": frozenset({"x", "y"})})
    assert _digest(SessionAlias("get_db", "annotated")) == _digest(SessionAlias("get_db", "annotated"))
    assert _digest(SessionAlias("get_db", "annotated")) != _digest(SessionAlias("get_db", "depends"))
    assert _digest(object()) == UNSTABLE  # known only by identity: never reused through answers


def test_exclude_and_paths_select_the_files(repo):
    path, _shas = repo
    repository = GitRepository(str(path))
    try:
        commits = repository.commits()
        settings = Settings(root=str(path), extend_exclude=("app/routes/items.py",))
        history = compute_history(repository, commits, settings, cache=ResultCache(None), paths=["app/routes"])
    finally:
        repository.close()
    expected = [
        {m: n for m, n in c[3].items() if m.startswith("app/routes/") and m != "app/routes/items.py"} for c in COMMITS
    ]
    assert [ratcheted_by_module(p) for p in history.points] == expected
    assert [p.files for p in history.points] == [2, 2, 2, 3, 3, 3]  # __init__, users (+ aliased)


HELD_ROUTE = '''\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app import helpers
from app.db import get_db

router = APIRouter()


@router.get("/{name}")
async def {name}(db: Session = Depends(get_db)):
    helpers.ping(db)
    return 1
'''
HELPER_SLEEPS = "import time\n\n\ndef ping(session):\n    session.execute('select 1')\n    time.sleep(0.5)\n"
HELPER_RETURNS = "def ping(session):\n    session.execute('select 1')\n"


def test_history_follows_a_helper_summary_read_from_another_module(tmp_path, run_cli):
    """Two endpoint modules call one helper of another module (its summary is computed once per
    index and kept across processes); only the helper changes, to stop blocking and back. At each
    commit, history (without a cache, with a new one, with the one it filled) says what check says."""
    path = tmp_path / "repo"
    (path / "app").mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    files = {"__init__.py": "", "db.py": DB, "helpers.py": HELPER_SLEEPS, "a.py": HELD_ROUTE.replace("{name}", "a"),
             "b.py": HELD_ROUTE.replace("{name}", "b")}
    for name, text in files.items():
        (path / "app" / name).write_text(text)
    checked = []
    for helper in (HELPER_SLEEPS, HELPER_RETURNS, HELPER_SLEEPS):
        (path / "app" / "helpers.py").write_text(helper)
        git(path, "add", "app")
        git(path, "commit", "--quiet", "-m", "helper")
        proc = run_cli("check", "--format", "json", "app", cwd=path)
        checked.append(sorted((f["path"].replace(os.sep, "/"), f["status"]) for f in json.loads(proc.stdout)))
    assert [statuses for _path, statuses in checked[1]] == ["plain", "plain"]
    assert [statuses for _path, statuses in checked[0]] == [statuses for _path, statuses in checked[2]] == [
        "held-across-await", "held-across-await"
    ]
    cache_file = str(tmp_path / "cache.sqlite3")
    for cache in (ResultCache(None), ResultCache(cache_file), ResultCache(cache_file)):
        history = run_history(path, cache)
        cache.close()
        per_commit = [
            sorted((module, status) for module, counts in point.counts.modules.items() for status in counts.statuses)
            for point in history.points
        ]
        assert per_commit == [sorted((f"app/{p.rpartition('/')[2]}", s) for p, s in commit) for commit in checked]


def test_history_follows_a_helper_whose_module_gains_and_loses_other_functions(tmp_path, run_cli):
    """The helper's module gains a function (its summary holds by what it read of the module),
    then the helper itself changes beside it, then the module goes back: at each commit history
    (without a cache, with a new one, with the one it filled) says what check says."""
    added = "\n\ndef unrelated(values):\n    return sorted(values)\n"
    helpers = [HELPER_SLEEPS, HELPER_SLEEPS + added, HELPER_RETURNS + added, "# c\n" + HELPER_RETURNS + added, HELPER_SLEEPS]
    path = tmp_path / "repo"
    (path / "app").mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    for name, text in {"__init__.py": "", "db.py": DB, "a.py": HELD_ROUTE.replace("{name}", "a")}.items():
        (path / "app" / name).write_text(text)
    checked = []
    for helper in helpers:
        (path / "app" / "helpers.py").write_text(helper)
        git(path, "add", "app")
        git(path, "commit", "--quiet", "-m", "helper")
        proc = run_cli("check", "--format", "json", "app", cwd=path)
        checked.append(sorted(f["status"] for f in json.loads(proc.stdout) if f["code"] == "DBS001"))
    assert checked == [["held-across-await"], ["held-across-await"], ["plain"], ["plain"], ["held-across-await"]]
    cache_file = str(tmp_path / "cache.sqlite3")
    for cache in (ResultCache(None), ResultCache(cache_file), ResultCache(cache_file)):
        history = run_history(path, cache)
        cache.close()
        per_commit = [sorted(point.counts.modules["app/a.py"].statuses.elements()) for point in history.points]
        assert per_commit == checked


def test_the_result_cache_follows_the_cache_directory_setting(repo, tmp_path, run_cli):
    path, _shas = repo
    directory = tmp_path / "caches"
    env = dict(os.environ, FLAKE8_DB_SESSION_CACHE_DIR=str(directory))
    first = run_cli("history", "--format", "csv", cwd=path, env=env)
    assert first.returncode == 0, first.stderr
    assert (directory / "history.sqlite3").is_file() and (directory / "summaries-v1.sqlite3").is_file()
    second = run_cli("history", "--format", "csv", cwd=path, env=env)
    assert second.stdout == first.stdout and " 0 files analyzed" in second.stderr
    off = tmp_path / "off"
    env.update(FLAKE8_DB_SESSION_CACHE_DIR=str(off), FLAKE8_DB_SESSION_NO_CACHE="1")
    third = run_cli("history", "--format", "csv", cwd=path, env=env)
    assert third.stdout == first.stdout and not off.exists()


def test_a_result_held_through_cached_answers_holds_by_its_files_next_run(tmp_path, monkeypatch):
    """y.py reads an alias from two modules. At the second commit types.py changes (the alias
    stays): y.py's result holds through its answers, computed there. At the third m.py changes:
    it holds through its answers again, the one about types.py taken from the answer cache. Each
    time it is stored with the files of its answers, so a second run asks nothing."""
    path = tmp_path / "repo"
    (path / "app").mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    alias = "from typing import Annotated\nfrom fastapi import Depends\nfrom sqlalchemy.orm import Session\n" \
        "from app.db import get_db\n{name} = Annotated[Session, Depends(get_db)]\n"
    route = "from fastapi import APIRouter\nfrom app.types import DbSession\nfrom app.m import Db2\n" \
        "router = APIRouter()\n\n@router.get('/y')\ndef y(db: DbSession, other: Db2):\n    return db\n"
    files = {"__init__.py": "", "db.py": DB, "types.py": alias.format(name="DbSession"),
             "m.py": alias.format(name="Db2"), "y.py": route}
    for name, text in files.items():
        (path / "app" / name).write_text(text)
    git(path, "add", "app")
    git(path, "commit", "--quiet", "-m", "first")
    for name in ("types.py", "m.py"):
        (path / "app" / name).write_text("# a comment\n" + files[name])
        git(path, "commit", "--quiet", "-am", f"{name} commented")
    cache_file = str(tmp_path / "cache.sqlite3")
    first_cache = ResultCache(cache_file)
    first = run_history(path, first_cache)
    first_cache.close()
    assert [p.analyzed for p in first.points] == [5, 1, 1]  # y.py held through its answers
    with contextlib.closing(sqlite3.connect(cache_file)) as db:
        # y.py's result is stored three times (with the files of each commit), its texts once.
        rows_of_y = db.execute(
            "SELECT count(*), count(DISTINCT questions_digest), count(DISTINCT result_digest) FROM results"
            " JOIN texts ON texts.digest = results.result_digest WHERE texts.text LIKE '%app/y.py%'"
        ).fetchone()
        assert rows_of_y == (3, 1, 1)
        referenced = db.execute("SELECT count(DISTINCT questions_digest) + count(DISTINCT result_digest) FROM results").fetchone()
        assert db.execute("SELECT count(*) FROM texts").fetchone() == referenced
    asked: list[str] = []
    original = GitProjectIndex.ask

    def counted(self, question_text, *args):
        asked.append(question_text)
        return original(self, question_text, *args)

    monkeypatch.setattr(GitProjectIndex, "ask", counted)
    second_cache = ResultCache(cache_file)
    second = run_history(path, second_cache)
    second_cache.close()
    assert (second.analyzed, asked) == (0, [])
    assert [p.counts.to_dict() for p in second.points] == [p.counts.to_dict() for p in first.points]


def test_a_cache_file_of_an_older_version_is_emptied_and_used(repo, tmp_path):
    """Results stored before texts had their own table are never read (the version is part of
    every key): the old table is dropped, the run goes on and fills the new ones."""
    path, _shas = repo
    cache_file = str(tmp_path / "cache.sqlite3")
    with contextlib.closing(sqlite3.connect(cache_file)) as db, db:
        db.execute("CREATE TABLE file_results (key TEXT, deps TEXT, questions TEXT, result TEXT, PRIMARY KEY (key, deps))")
        db.execute("INSERT INTO file_results VALUES ('k', '[]', '[]', '{}')")
    cache = ResultCache(cache_file)
    history = run_history(path, cache)
    cache.close()
    assert history.analyzed > 0 and not cache.read_error and not cache.write_error
    with contextlib.closing(sqlite3.connect(cache_file)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"results", "texts", "answers"}
