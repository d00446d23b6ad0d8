"""``history`` with worker processes: the commits are walked while the workers analyze the files
new at later commits, results and answers carry from one commit to the next, trees are read
from git objects. At every commit the counts must be those of ``check`` on that commit's files."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading

import pytest

from flake8_db_session import project, runner
from flake8_db_session.burndown.cache import ResultCache
from flake8_db_session.burndown.counts import counts_for_run
from flake8_db_session.burndown.history import GitProjectIndex, GitRepository, compute_history
from flake8_db_session.config import Settings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes fork (Linux)")

MODELS = """\
from typing import List

from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    members: Mapped[List["Member"]] = relationship({lazy})


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))


SessionLocal = sessionmaker(expire_on_commit=False)


def get_db():
    with SessionLocal() as db:
        yield db
"""

SERVICE_MODEL = """\
from app.models import Team


def get_team(db, team_id) -> Team:
    return db.get(Team, team_id)


def count(db) -> int:
    return 1
"""

SERVICE_DICT = """\
from app.models import Team


def get_team(db, team_id) -> dict:
    return {"id": team_id}


def count(db) -> int:
    return 1
"""

HELPER_QUIET = "def ping(session):\n    session.execute('select 1')\n"
HELPER_BLOCKS = "import time\n\n\ndef ping(session):\n    session.execute('select 1')\n    time.sleep(0.5)\n"

ROUTE = '''\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app import helpers
from app.models import SessionLocal, get_db
from app.services import get_team

router = APIRouter()


@router.get("/{name}")
async def {name}(db: Session = Depends(get_db)):
    helpers.ping(db)
    return 1


def load_{name}(team_id):
    with SessionLocal() as db:
        team = get_team(db, team_id)
    return team.members
'''

# A directory that becomes a package at some commit: its modules change names (and import roots).
LOOSE = '''\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.models import get_db

router = APIRouter()


@router.get("/loose/{name}")
def {name}(db: Session = Depends(get_db)):
    return db
'''


def git(repo, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, text=True, env=env,
    ).stdout


def commit(repo, message: str, files: dict[str, str | None]) -> None:
    for name, text in files.items():
        if text is None:
            git(repo, "rm", "--quiet", name)
            continue
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "--quiet", "-m", message)


def routes(first: int, last: int) -> dict[str, str | None]:
    return {f"app/routes/r{i}.py": ROUTE.replace("{name}", f"r{i}") for i in range(first, last)}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """40 route modules over one service, one helper and the models, then commits that change
    what they import (and nothing of theirs), add 34 files at once, make a directory a package,
    delete files."""
    path = tmp_path_factory.mktemp("pipeline") / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    commit(path, "start", {
        "app/__init__.py": "", "app/routes/__init__.py": "", "app/models.py": MODELS.replace("{lazy}", ""),
        "app/services.py": SERVICE_MODEL, "app/helpers.py": HELPER_QUIET,
        "app/loose/a.py": LOOSE.replace("{name}", "a"), "app/loose/b.py": LOOSE.replace("{name}", "b"),
        **routes(0, 40),
    })
    commit(path, "members load eagerly", {"app/models.py": MODELS.replace("{lazy}", 'lazy="selectin"')})
    commit(path, "the helper blocks", {"app/helpers.py": HELPER_BLOCKS})
    commit(path, "34 more routes, one changed", {**routes(40, 74), "app/routes/r3.py": ROUTE.replace("{name}", "r3x")})
    commit(path, "members load lazily", {"app/models.py": MODELS.replace("{lazy}", "")})
    commit(path, "the service returns a dict", {"app/services.py": SERVICE_DICT})
    commit(path, "loose becomes a package", {"app/loose/__init__.py": ""})
    commit(path, "the service returns a model again", {"app/services.py": SERVICE_MODEL, "app/routes/r5.py": None})
    commit(path, "the helper is quiet", {"app/helpers.py": HELPER_QUIET, "app/loose/__init__.py": None})
    commit(path, "a comment in the service", {"app/services.py": SERVICE_MODEL + "# nothing to see\n"})
    return path


def checked(repo, sha: str, directory) -> dict:
    """``check`` over the commit's files, extracted (counts keyed by path from the top)."""
    target = directory / sha[:12]
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", sha], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target)
    project.reset_caches()
    settings = Settings(root=str(target))
    result = runner.run(runner.discover([str(target)], settings), settings, jobs=1)
    project.reset_caches()
    return counts_for_run(result, settings).to_dict()


def run_history(repo, cache: ResultCache, jobs: int):
    repository = GitRepository(str(repo))
    try:
        return compute_history(repository, repository.commits(), Settings(root=str(repo)), cache=cache, jobs=jobs)
    finally:
        repository.close()
        cache.close()


def histories(repo, tmp_path, jobs: int):
    """(history of every commit, its cache) with no cache, an empty cache file, then the file
    the second run filled."""
    cache_file = str(tmp_path / "cache.sqlite3")
    for cache in (ResultCache(None), ResultCache(cache_file), ResultCache(cache_file)):
        yield run_history(repo, cache, jobs), cache


def counts_of(history) -> list[dict]:
    return [point.counts.to_dict() for point in history.points]


@pytest.fixture(scope="module")
def expected(repo, tmp_path_factory):
    directory = tmp_path_factory.mktemp("checked")
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    return [checked(repo, sha, directory) for sha in shas]


def test_the_fixture_changes_what_check_says(expected):
    """Most commits change findings of files that did not change (else they prove nothing)."""
    totals = [counts["totals"] for counts in expected]
    assert [(t["codes"]["DBS001"], t["codes"].get("DBS005", 0), t["statuses"]["held-across-await"]) for t in totals] == [
        (42, 40, 0), (42, 0, 0), (42, 0, 40), (76, 0, 74), (76, 74, 74), (76, 0, 74), (76, 0, 74), (75, 73, 73),
        (75, 73, 0), (75, 73, 0),
    ]


@pytest.mark.parametrize("jobs", [1, 2])
def test_history_says_what_check_says_at_every_commit(repo, expected, tmp_path, jobs):
    for history, _cache in histories(repo, tmp_path, jobs):
        assert counts_of(history) == expected
    assert history.analyzed == 0  # the third run: everything from the cache


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_that_forgets_what_it_read_says_the_same(repo, expected, tmp_path, jobs, monkeypatch):
    """Rows written after every store and forgotten at once (a range long enough to pass the
    bound): read back from the table when asked again, with the same counts."""
    monkeypatch.setattr("flake8_db_session.burndown.cache._PENDING_BYTES", 0)
    monkeypatch.setattr("flake8_db_session.burndown.cache._MAX_KEPT_KEYS", 0)
    for history, cache in histories(repo, tmp_path, jobs):
        assert counts_of(history) == expected
        # also a run that only reads (the third: nothing to write) forgets what it read
        assert not cache._rows and not cache._results and not cache._answer_rows
    assert history.analyzed == 0


def test_a_change_nothing_asks_about_analyzes_only_the_changed_file(repo, expected):
    """The last commit comments the service: every route asks about it, gets the same answers,
    and holds (through them, then by its files at the next commit with the same files)."""
    for jobs in (1, 2):
        history = run_history(repo, ResultCache(None), jobs)
        assert history.points[-1].analyzed == 1
        assert history.points[0].analyzed == history.points[0].files


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_tree_that_cannot_be_kept_costs_nothing_but_time(repo, expected, jobs, monkeypatch):
    """Keeping a changed module's summary from its analysis tree is a head start for the walk:
    when it fails, every count is the same."""

    def fails(*args):
        raise RecursionError("too deep to summarize")

    monkeypatch.setattr(GitProjectIndex, "offer_tree", fails)
    assert counts_of(run_history(repo, ResultCache(None), jobs)) == expected


def _ls_tree(repo, sha: str) -> dict[str, str]:
    files = {}
    out = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", "--full-tree", sha],
                         check=True, capture_output=True).stdout.decode("utf-8", "surrogateescape")
    for entry in out.split("\0"):
        if entry:
            meta, _, path = entry.partition("\t")
            mode, kind, blob = meta.split(" ")
            if kind == "blob" and mode in ("100644", "100755"):
                files[path] = blob
    return files


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("kept", [None, 1])
def test_trees_are_those_git_lists(tmp_path, object_format, kept, monkeypatch):
    """Nested directories, names that sort around "/", an executable, a symlink and a submodule
    (neither is a file here), a non-ASCII name; unchanged directories are shared between commits."""
    repo = tmp_path / "repo"
    repo.mkdir()
    try:
        git(repo, "init", "--quiet", f"--object-format={object_format}", "--initial-branch=main")
    except subprocess.CalledProcessError:
        pytest.skip(f"this git cannot make {object_format} repositories")
    files = {"a.b": "1", "a/b.py": "2", "a-b": "3", "a0": "4", "a/c/d.py": "5", "z/é.py": "6", "run.sh": "7"}
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("a/b.py", repo / "link.py")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "one")
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{first},sub")  # a submodule entry
    (repo / "a" / "c" / "d.py").write_text("changed")
    git(repo, "add", "a/c/d.py")
    git(repo, "commit", "--quiet", "-m", "two")
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    if kept is not None:  # the directories read are forgotten after each call (a long range)
        monkeypatch.setattr("flake8_db_session.burndown.git._KEPT_TREE_ENTRIES", kept)
    repository = GitRepository(str(repo))
    try:
        trees = [repository.tree(sha) for sha in shas] + repository.trees(shas)
    finally:
        repository.close()
    for sha, tree in zip(shas + shas, trees):
        assert list(tree.items()) == list(_ls_tree(repo, sha).items())
    assert "run.sh" in trees[1] and "link.py" not in trees[1] and "sub" not in trees[1]
    assert trees[0]["z/é.py"] == trees[1]["z/é.py"]


DEPS = '''\
from fastapi import Depends
from sqlalchemy.orm import Session

from app.db import get_db


def current_user(db: Session = Depends(get_db)):
    return db
'''

JOBS = '''\
from app.db import SessionLocal
from app.deps import current_user


def run():
    return current_user(SessionLocal())
'''

DB = '''\
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
'''


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_module_added_to_the_package_invalidates_what_read_the_package(tmp_path, jobs):
    """deps.py's helper is referenced nowhere (DBS002, unreferenced) until jobs.py, a new module
    of the package, calls it directly (then FastAPI never resolves it: no finding). Nothing
    deps.py read changed, only the package's listing; then jobs.py goes away again."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "one", {"app/__init__.py": "", "app/db.py": DB, "app/deps.py": DEPS})
    commit(repo, "two", {"app/jobs.py": JOBS})
    commit(repo, "three", {"app/jobs.py": None})
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    expected = [checked(repo, sha, tmp_path) for sha in shas]
    assert [counts["totals"]["codes"] for counts in expected] == [{"DBS002": 1}, {}, {"DBS002": 1}]
    for history, _cache in histories(repo, tmp_path, jobs):
        assert counts_of(history) == expected


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_module_of_the_package_starting_to_call_a_helper_is_seen_through_the_answers(tmp_path, jobs):
    """jobs.py exists from the start; at the second commit it calls deps.py's helper directly
    (FastAPI then never resolves it: no finding). What the package hands to Depends is the
    same, its listing too: only where the helper is mentioned changed, an answer read from
    every file of the package (it must say so even when that package was read for an earlier
    question of the same commit)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "one", {"app/__init__.py": "", "app/db.py": DB, "app/deps.py": DEPS,
                         "app/jobs.py": "from app.db import SessionLocal\n\n\ndef run():\n    return SessionLocal()\n"})
    commit(repo, "two", {"app/jobs.py": JOBS})
    commit(repo, "three", {"app/jobs.py": JOBS + "\n# a comment\n"})
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    expected = [checked(repo, sha, tmp_path) for sha in shas]
    assert [counts["totals"]["codes"] for counts in expected] == [{"DBS002": 1}, {}, {}]
    for history, _cache in histories(repo, tmp_path, jobs):
        assert counts_of(history) == expected


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_deleted_file_that_comes_back_is_looked_up_again(tmp_path, jobs):
    """r0.py goes away while the helper it calls starts to block, then comes back with the same
    bytes: its result of the first commit no longer holds (DBS001 is now held across the helper)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    route = ROUTE.replace("{name}", "r0")
    commit(repo, "one", {
        "app/__init__.py": "", "app/routes/__init__.py": "", "app/models.py": MODELS.replace("{lazy}", ""),
        "app/services.py": SERVICE_MODEL, "app/helpers.py": HELPER_QUIET, "app/routes/r0.py": route,
    })
    commit(repo, "two: r0 gone, the helper blocks", {"app/routes/r0.py": None, "app/helpers.py": HELPER_BLOCKS})
    commit(repo, "three: r0 back, the same blob", {"app/routes/r0.py": route})
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    expected = [checked(repo, sha, tmp_path) for sha in shas]
    assert expected[0] != expected[2]  # the same file, another finding status
    for history, _cache in histories(repo, tmp_path, jobs):
        assert counts_of(history) == expected


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_answers_of_a_commits_analyses_carry_to_the_next(tmp_path, jobs, monkeypatch):
    """The first commit's files are analyzed (in workers with two jobs); at the second, a
    comment in the service sends every route to its answers: only those read from the service
    are computed again, those about the models come from the analyses (they were all computed
    again, the first commit's dozens of questions per file)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "start", {
        "app/__init__.py": "", "app/routes/__init__.py": "", "app/models.py": MODELS.replace("{lazy}", ""),
        "app/services.py": SERVICE_MODEL, "app/helpers.py": HELPER_QUIET, **routes(0, 40),
    })
    commit(repo, "a comment in the service", {"app/services.py": SERVICE_MODEL + "# nothing to see\n"})
    computed: list[frozenset] = []
    store_answer = ResultCache.store_answer

    def recorded(self, key, deps, digest):
        computed.append(frozenset(deps))
        store_answer(self, key, deps, digest)

    monkeypatch.setattr(ResultCache, "store_answer", recorded)
    history = run_history(repo, ResultCache(None), jobs)
    assert [point.analyzed for point in history.points] == [45, 1]
    assert computed  # the routes asked again what the service returns
    assert all(any(path in ("app/services.py", "//app/", "//") for path, _blob in deps) for deps in computed)


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_index_question_that_raises_skips_the_file_not_the_run(repo, jobs, monkeypatch):
    """A bug of ours in the project index, while a file is analyzed: that file is reported and
    skipped, as check does, and the history goes on (its question has no answer to record)."""
    original = project.FileProjectIndex.model_summary

    def fails(self, module):
        if module == "app.models":
            raise ValueError("a bug of ours")
        return original(self, module)

    monkeypatch.setattr(project.FileProjectIndex, "model_summary", fails)
    history = run_history(repo, ResultCache(None), jobs)
    reasons = {why for point in history.points for _path, why in point.errors}
    assert reasons and all(why.startswith("internal error, file skipped") for why in reasons)
    assert len(history.points) == 10


def test_texts_a_failed_write_left_out_are_written_with_a_later_row(tmp_path):
    """The first write fails (another run held the file past the timeout): the texts it carried
    go with the next row that uses them, which a later run then finds."""
    path = str(tmp_path / "cache.sqlite3")
    cache = ResultCache(path)

    class FailsOnce:
        def __init__(self, db):
            self.db, self.failed = db, False

        def __enter__(self):
            return self.db.__enter__()

        def __exit__(self, *exc):
            return self.db.__exit__(*exc)

        def executemany(self, sql, rows):
            if not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("database is locked")
            return self.db.executemany(sql, rows)

        def __getattr__(self, name):
            return getattr(self.db, name)

    cache._db = FailsOnce(cache._db)
    cache.store("first", [], [("question", "digest")], [], "", 3)
    cache.flush()
    assert cache.write_error == "database is locked"
    cache.store("second", [], [("question", "digest")], [], "", 3)  # the same texts
    cache.close()
    found = ResultCache(path).lookup("second", {})
    assert found is not None and found[0].grep == 3 and found[1] == [["question", "digest"]]


def test_a_cache_past_its_bound_drops_its_oldest_rows_and_counts_the_same(repo, expected, tmp_path):
    """Closed past its bound, the cache deletes the rows written longest ago, and the texts
    no row uses any more: the next run analyzes those files again and says the same."""
    cache_file = str(tmp_path / "cache.sqlite3")
    assert counts_of(run_history(repo, ResultCache(cache_file), 1)) == expected
    measured = ResultCache(cache_file)
    full = measured.total_bytes()
    measured.close()
    bound = full // 2
    history = run_history(repo, ResultCache(cache_file, max_bytes=bound), 1)  # trimmed as it closes
    assert counts_of(history) == expected and history.analyzed == 0
    trimmed = ResultCache(cache_file, max_bytes=bound)
    assert trimmed.total_bytes() <= bound
    db = trimmed._db
    referenced = db.execute("SELECT count(DISTINCT questions_digest) + count(DISTINCT result_digest) FROM results")
    assert db.execute("SELECT count(*) FROM texts").fetchone() == referenced.fetchone()
    history = run_history(repo, trimmed, 1)
    assert counts_of(history) == expected and history.analyzed > 0


def test_closing_git_after_a_read_cut_short_does_not_hang(tmp_path):
    """An interrupt between a request and its answer leaves git writing a large object into a
    full pipe: closing the repository must still end (it waited for ever)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, "big", {"big.txt": "x" * 4_000_000 + "\n", "small.txt": "small\n"})
    repository = GitRepository(str(repo))
    repository.read_blob(git(repo, "rev-parse", "HEAD:small.txt").strip())  # the batch process runs
    big = git(repo, "rev-parse", "HEAD:big.txt").strip()
    batch = repository._batch
    assert batch is not None and batch.stdin is not None and batch.stdout is not None
    batch.stdin.write(big.encode() + b"\n")  # the request, as a read cut short leaves it
    batch.stdin.flush()
    batch.stdout.readline()
    closing = threading.Thread(target=repository.close, daemon=True)  # a hang fails, not blocks
    closing.start()
    closing.join(timeout=30)
    alive = closing.is_alive()
    if alive:
        batch.kill()
    assert not alive


def test_a_cache_that_cannot_be_read_is_a_miss_and_a_note(tmp_path):
    """Another run holding the cache past the timeout, or a damaged file: the lookups miss, the
    run goes on, and the command says once that the cache could not be read."""
    path = str(tmp_path / "cache.sqlite3")
    cache = ResultCache(path)
    broken = sqlite3.connect(path)
    broken.execute("DROP TABLE answers")
    broken.execute("DROP TABLE results")
    broken.execute("DROP TABLE texts")
    broken.commit()
    broken.close()
    assert cache.answer("question", {"app/a.py": "0" * 40}) is None
    assert cache.lookup("key", {"app/a.py": "0" * 40}, lambda question: "") is None
    assert "no such table" in cache.read_error


def test_a_carried_answer_holds_until_one_of_its_files_changes_and_nothing_grows_per_commit():
    from flake8_db_session.burndown.commit_index import AnswerCarry

    carry = AnswerCarry()
    carry.advance(set())
    carry.put("", "q1", "d1", frozenset({("a.py", "1"), ("b.py", "2")}))
    carry.put("", "q2", "d2", frozenset({("c.py", "3")}))
    for _ in range(1000):  # commits that touch other files: both hold, and nothing piles up
        carry.advance({"other.py"})
    assert carry.get("", "q1") == ("d1", frozenset({("a.py", "1"), ("b.py", "2")}))
    assert carry.get("", "q2") == ("d2", frozenset({("c.py", "3")}))
    assert sum(len(keys) for keys in carry._by_path.values()) == 3
    carry.advance({"b.py"})
    assert carry.get("", "q1") is None
    assert carry.get("", "q2") is not None
    assert "a.py" not in carry._by_path and "b.py" not in carry._by_path  # no empty sets left
    carry.put("", "q1", "d1b", frozenset({("a.py", "1")}))  # asked again at the new commit
    carry.advance({"b.py"})  # no longer read from b.py: it holds
    assert carry.get("", "q1") == ("d1b", frozenset({("a.py", "1")}))
    assert carry.get("", "q1x") is None
    assert carry.get("root", "q1") is None  # another index's roots: another answer
