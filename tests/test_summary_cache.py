"""The persistent summary cache: shared by processes, bounded, and never a source of errors."""

from __future__ import annotations

import ast
import multiprocessing
import os
import pickle
import sqlite3
import subprocess
import sys

import pytest
from test_index_parses import DEPS, ROUTER

from flake8_db_session import project, summary_cache
from flake8_db_session.analysis import analyze_tree
from flake8_db_session.analysis.context import SessionAlias
from flake8_db_session.analysis.models import ModuleSummary, summarize_source
from flake8_db_session.analysis.orm_services import facts_of_source
from flake8_db_session.config import Settings
from flake8_db_session.summary_cache import SummaryCache

MODELS = DEPS.encode()


REAL_PARSE = ast.parse


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """The names of the files ``ast.parse`` is given from now on, in order."""
    names: list[str] = []

    def counting_parse(source, filename="<unknown>", *args, **kwargs):
        names.append(os.path.basename(str(filename)))
        return REAL_PARSE(source, filename, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", counting_parse)
    return names


def _summary() -> ModuleSummary:
    summary = summarize_source(MODELS, "deps.py", "pkg.deps", False)
    assert summary is not None and summary.classes
    return summary


def _fail():  # a compute that must not run: the value has to come from the cache
    raise AssertionError("computed again")


def test_a_value_stored_by_one_cache_is_read_by_another(tmp_path):
    path = str(tmp_path / "c" / "summaries.sqlite3")
    summary = _summary()
    alias = ({"get_db": "pkg.db.get_db"}, {"DbSession": SessionAlias("get_db", "annotated")})
    SummaryCache(path, fingerprint="v1").get_or_compute(("pkg.deps", False, b"h1"), lambda: summary)
    SummaryCache(path, fingerprint="v1").get_or_compute(("pkg.deps", True, Settings(), b"h1"), lambda: alias)
    reader = SummaryCache(path, fingerprint="v1")
    assert reader.get_or_compute(("pkg.deps", False, b"h1"), _fail) == summary
    assert reader.get_or_compute(("pkg.deps", True, Settings(), b"h1"), _fail) == alias
    assert reader.stats["hits"] == 2


def test_other_content_settings_or_tool_version_read_other_entries(tmp_path):
    path = str(tmp_path / "summaries.sqlite3")
    SummaryCache(path, fingerprint="v1").put(("pkg.deps", False, Settings(), b"h1"), "old")
    assert SummaryCache(path, fingerprint="v1").get_or_compute(("pkg.deps", False, Settings(), b"h1"), _fail) == "old"
    for fingerprint, key in [
        ("v1", ("pkg.deps", False, Settings(), b"h2")),  # the module's bytes changed
        ("v1", ("pkg.deps", True, Settings(), b"h1")),  # now a package __init__
        ("v1", ("pkg.deps", False, Settings(dependencies=("get_conn",)), b"h1")),  # the settings changed
        ("v2", ("pkg.deps", False, Settings(), b"h1")),  # another version (or an edited checkout)
    ]:
        assert SummaryCache(path, fingerprint=fingerprint).get_or_compute(key, lambda: "new") == "new"


def test_the_tool_fingerprint_is_part_of_the_default_key(tmp_path, monkeypatch):
    from flake8_db_session.burndown import cache as history_cache

    path = str(tmp_path / "summaries.sqlite3")
    SummaryCache(path).put(("m", False, b"h"), "from this version")
    assert SummaryCache(path).get_or_compute(("m", False, b"h"), _fail) == "from this version"
    monkeypatch.setattr(history_cache, "tool_fingerprint", lambda: "an upgraded package")
    assert SummaryCache(path).get_or_compute(("m", False, b"h"), lambda: "recomputed") == "recomputed"


def _write_many(path: str, worker: int, count: int) -> None:
    cache = SummaryCache(path, fingerprint="v1")
    summary = _summary()
    for i in range(count):
        # Half the keys are written by every worker, half by this one only.
        key = ("shared", i) if i % 2 else (f"own-{worker}", i)
        cache.put(key, (key, summary))
        got = cache.get(key)
        assert got == (key, summary), (worker, i, got)


def test_concurrent_writers_from_several_processes(tmp_path):
    path = str(tmp_path / "summaries.sqlite3")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, worker, 120)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    reader = SummaryCache(path, fingerprint="v1")
    summary = _summary()
    for worker in range(4):
        for i in range(120):
            key = ("shared", i) if i % 2 else (f"own-{worker}", i)
            assert reader.get_or_compute(key, _fail) == (key, summary)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0] == 60 + 4 * 60


def test_a_damaged_entry_is_ignored_and_rebuilt(tmp_path):
    path = str(tmp_path / "summaries.sqlite3")
    cache = SummaryCache(path, fingerprint="v1")
    cache.put(("a",), _summary())
    cache.put(("b",), _summary())
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, value FROM summaries").fetchall()
        # one entry with bytes flipped inside, the other truncated
        db.execute("UPDATE summaries SET value = ? WHERE key = ?", (rows[0][1].replace(b"Owner", b"Ownex"), rows[0][0]))
        db.execute("UPDATE summaries SET value = ? WHERE key = ?", (rows[1][1][:40], rows[1][0]))
    again = SummaryCache(path, fingerprint="v1")
    assert again.get_or_compute(("a",), lambda: "rebuilt a") == "rebuilt a"
    assert again.get_or_compute(("b",), lambda: "rebuilt b") == "rebuilt b"
    assert again.stats["corrupt"] == 2
    assert SummaryCache(path, fingerprint="v1").get_or_compute(("a",), _fail) == "rebuilt a"


def test_a_file_that_is_not_a_database_is_replaced(tmp_path):
    path = tmp_path / "summaries.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    cache = SummaryCache(str(path), fingerprint="v1")
    assert cache.get_or_compute(("a",), lambda: 1) == 1
    assert not cache.disabled
    assert SummaryCache(str(path), fingerprint="v1").get_or_compute(("a",), _fail) == 1


def test_only_summary_types_are_ever_unpickled(tmp_path):
    path = str(tmp_path / "summaries.sqlite3")
    cache = SummaryCache(path, fingerprint="v1")
    cache.put(("evil",), "placeholder")
    payload = pickle.dumps((os.system, ("echo pwned",)))  # a callable from another module
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE summaries SET value = ?, digest = ?", (payload, summary_cache._digest(payload))
        )
    assert SummaryCache(path, fingerprint="v1").get_or_compute(("evil",), lambda: "safe") == "safe"
    with pytest.raises(pickle.UnpicklingError):
        summary_cache._loads(payload)


def test_an_unwritable_directory_means_no_cache_and_no_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = SummaryCache(str(blocker / "cache" / "summaries.sqlite3"), fingerprint="v1")
    assert cache.get_or_compute(("a",), lambda: "computed") == "computed"
    assert cache.get_or_compute(("a",), lambda: "computed again") == "computed again"
    assert cache.disabled


def test_a_read_only_database_still_answers(tmp_path):
    path = str(tmp_path / "summaries.sqlite3")
    SummaryCache(path, fingerprint="v1").put(("a",), "stored")
    cache = SummaryCache(path, fingerprint="v1")
    cache._connection().execute("PRAGMA query_only = ON")  # as a read-only file would behave
    assert cache.get_or_compute(("a",), _fail) == "stored"
    assert cache.get_or_compute(("b",), lambda: "computed") == "computed"  # not stored, no error


def test_the_size_is_bounded_and_least_recently_used_entries_go_first(tmp_path, monkeypatch):
    monkeypatch.setattr(summary_cache, "_SIZE_CHECK_EVERY", 1)
    path = str(tmp_path / "summaries.sqlite3")
    cache = SummaryCache(path, max_bytes=20_000, fingerprint="v1")
    blob = "x" * 1000
    for i in range(100):
        cache.put(("entry", i), f"{i}{blob}")
        assert cache.total_bytes() <= 20_000 + 1100
    assert cache.stats["evicted"] > 0
    assert cache.get(("entry", 99)) == f"99{blob}"  # the newest stay
    assert cache.get(("entry", 0)) is summary_cache._MISSING  # the oldest went


def test_a_new_process_reads_module_summaries_instead_of_parsing(tmp_path, parsed):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "deps.py").write_text(DEPS)
    router = tmp_path / "pkg" / "items.py"
    router.write_text(ROUTER.replace("from pkg.api import DbSession", "from pkg.deps import DbSession"))
    settings = Settings(root=str(tmp_path))

    def check() -> list[str]:
        project.reset_caches()  # what a new process starts with
        source = router.read_text()
        module, is_package, index = project.context_for_path(str(router), settings)
        tree = REAL_PARSE(source)
        findings = analyze_tree(tree, str(router), settings, source=source, module=module, is_package=is_package, index=index)
        return [f.code for f in findings]

    assert check() == ["DBS001", "DBS003"]
    assert parsed.count("deps.py") == 2  # its aliases and its ORM summary
    parsed.clear()
    assert check() == ["DBS001", "DBS003"]
    assert parsed.count("deps.py") == 0  # both read from the persistent cache
    (tmp_path / "pkg" / "deps.py").write_text(DEPS + "\n# edited\n")
    assert check() == ["DBS001", "DBS003"]
    assert parsed.count("deps.py") == 2  # new content, new entries


def test_the_standalone_command_uses_the_cache_and_the_opt_out(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "deps.py").write_text(DEPS)
    (tmp_path / "pkg" / "items.py").write_text(ROUTER.replace("pkg.api", "pkg.deps"))
    cache_dir = tmp_path / "cache"
    env = {**os.environ, summary_cache.DIR_ENV: str(cache_dir)}

    def check(extra_env: dict[str, str]) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "flake8_db_session", "check", "pkg"],
            cwd=tmp_path, capture_output=True, text=True, env={**env, **extra_env}, timeout=120, check=False,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr == ""
        return proc.stdout

    off = check({summary_cache.OFF_ENV: "1"})
    assert not cache_dir.exists()
    cold = check({})
    assert (cache_dir / summary_cache.FILENAME).is_file()
    warm = check({})
    assert off == cold == warm
    assert "DBS001" in warm and "DBS003" in warm


def test_the_user_cache_directory_follows_the_platform(monkeypatch, tmp_path):
    monkeypatch.delenv(summary_cache.DIR_ENV)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert summary_cache.cache_dir() == str(tmp_path / "xdg" / "flake8-db-session")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert summary_cache.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "flake8-db-session")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert summary_cache.cache_dir().endswith(os.path.join("Library", "Caches", "flake8-db-session"))
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert summary_cache.cache_dir() == str(tmp_path / "local" / "flake8-db-session" / "Cache")


HELD_ROUTES = """\
from fastapi import APIRouter, Depends

from app.db import get_db
from app.service import work

router = APIRouter()


@router.post("/x")
async def create(db=Depends(get_db)):
    return await work(db)
"""
HELD_SERVICE = """\
from app.notify import announce


async def work(db):
    db.execute("select 1")
    await announce()
    return 1
"""
NOTIFY_QUIET = "async def announce():\n    return None\n"
NOTIFY_WAITS = "import asyncio\n\n\nasync def announce():\n    await asyncio.sleep(0)\n"


def _held_app(tmp_path, parsed: list[str], notify: str):
    """The app of the held tests (an endpoint, a service helper that calls ``announce``), and
    the held-across points of its finding, each time as a new process sees them."""
    app = tmp_path / "app"
    app.mkdir()
    for name, text in {
        "__init__.py": "", "db.py": "def get_db():\n    yield None\n", "routes.py": HELD_ROUTES,
        "service.py": HELD_SERVICE, "notify.py": notify,
    }.items():
        (app / name).write_text(text)
    routes = app / "routes.py"
    settings = Settings(root=str(tmp_path))

    def held_across() -> list[str]:
        project.reset_caches()  # a new process
        parsed.clear()
        source = routes.read_text()
        module, is_package, index = project.context_for_path(str(routes), settings)
        findings = analyze_tree(
            REAL_PARSE(source), str(routes), settings, source=source, module=module, is_package=is_package, index=index
        )
        (finding,) = [f for f in findings if f.code == "DBS001"]
        return [point.describe() for point in finding.held_across]

    return app, held_across


def test_a_helper_summary_is_kept_until_a_module_it_read_changes(tmp_path, parsed):
    app, held_across = _held_app(tmp_path, parsed, NOTIFY_QUIET)
    assert held_across() == []  # announce() never gives up the event loop
    assert "service.py" in parsed  # work() was cut out and parsed
    assert held_across() == []
    assert "service.py" not in parsed  # its summary came from the cache
    (app / "notify.py").write_text(NOTIFY_WAITS)  # a module the summary read, not the helper's own
    assert held_across() == ["work (via announce)"]
    assert "service.py" in parsed
    (app / "notify.py").write_text(NOTIFY_QUIET)
    assert held_across() == []  # computed again (one entry per helper: the latest)
    assert held_across() == []
    assert "service.py" not in parsed


def test_a_helper_summary_holds_where_what_it_read_of_a_changed_module_did(tmp_path, parsed):
    """A module that gains a function (or a comment) keeps the summaries of its other functions:
    each was stored with the facts it read (the function's text, the module's imports); the
    function's own text changing computes it again."""
    app, held_across = _held_app(tmp_path, parsed, NOTIFY_WAITS)
    assert held_across() == ["work (via announce)"]
    assert "service.py" in parsed  # work() cut out and parsed (announce() read as text)
    (app / "service.py").write_text(HELD_SERVICE + "\n\ndef added(values):\n    return sorted(values)\n")
    (app / "notify.py").write_text("# touched\n" + NOTIFY_WAITS)
    assert held_across() == ["work (via announce)"]
    assert "service.py" not in parsed  # what the summary read of both is the same
    (app / "notify.py").write_text(NOTIFY_WAITS.replace("await asyncio.sleep(0)", "return None"))
    assert held_across() == []  # announce() itself changed: computed again
    assert "service.py" in parsed


def test_each_kind_of_module_fact_has_its_own_entries(tmp_path):
    """The facts of one content (one blob id) are stored per kind, and a new process reads them back."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    route = tmp_path / "pkg" / "route.py"
    route.write_text("from fastapi import Depends\n\ndef route(db=Depends(get_db)):\n    return get_db  # get_db\n")

    def facts() -> tuple:
        index = project.FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
        blob = index.module_state("pkg.route")
        return index.dependency_uses("pkg"), index.mentions("pkg", "get_db", "other.py"), index._candidates(str(route), blob)

    uses, mentions, candidates = facts()
    assert uses.referenced == frozenset({"get_db"}) and mentions == 2 and "Depends" in candidates[1]
    project.reset_caches()  # a new process: the persistent cache answers
    cache = summary_cache.shared_cache()
    assert facts() == (uses, mentions, candidates)
    assert cache.stats["hits"] >= 3  # the three facts (the files' ids are hashed again: just written)


def test_a_fact_of_another_module_s_text_is_kept_by_its_content(tmp_path, monkeypatch):
    """``text_fact`` (what held-across reads of a service module's text, its imports) is computed
    once per content: a new process reads it back, a changed file computes it again."""
    monkeypatch.setattr(project, "_RACY_NS", 0)  # the file's blob id trusted by its stat
    (tmp_path / "pkg").mkdir()
    service = tmp_path / "pkg" / "svc.py"
    service.write_text("from pkg.db import get_db\n")
    computed: list[str] = []

    def imports() -> dict[str, str]:
        index = project.FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
        path = index.module_file("pkg.svc")
        assert path is not None

        def compute() -> dict[str, str]:
            text = index.read_bytes(path).decode()
            computed.append(text)
            return {"get_db": text.split()[1] + ".get_db"}

        return index.text_fact(("held-imports", "pkg.svc", False), path, compute)

    assert imports() == {"get_db": "pkg.db.get_db"} and len(computed) == 1
    project.reset_caches()  # a new process: the persistent cache answers
    assert imports() == {"get_db": "pkg.db.get_db"} and len(computed) == 1
    service.write_text("from pkg.session import get_db\n")
    project.reset_caches()
    assert imports() == {"get_db": "pkg.session.get_db"} and len(computed) == 2


def test_a_new_process_hashes_only_the_files_that_changed(tmp_path, monkeypatch):
    """Blob ids are kept per directory and trusted while a file's size, times and inode hold;
    a file changed in the last seconds is hashed every time (another write in the same clock
    tick would not change its times)."""
    (tmp_path / "pkg").mkdir()
    paths = [tmp_path / "pkg" / f"m{i}.py" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text(f"X = {i}\n")
    hashed: list[int] = []
    real_blob_id = project.blob_id
    monkeypatch.setattr(project, "blob_id", lambda data: hashed.append(len(data)) or real_blob_id(data))
    monkeypatch.setattr(project, "_RACY_NS", 0)  # as if the files were written a while ago
    names = [str(path) for path in paths]
    first = project.blob_ids(names)
    assert len(hashed) == 3 and first[names[0]] == subprocess.run(
        ["git", "hash-object", names[0]], capture_output=True, text=True, check=True
    ).stdout.strip()
    project.reset_caches()  # a new process
    hashed.clear()
    assert project.blob_ids(names) == first and hashed == []
    paths[1].write_text("X = 10\n")
    project.reset_caches()
    changed = project.blob_ids(names)
    assert hashed == [7] and changed[names[1]] != first[names[1]] and changed[names[0]] == first[names[0]]
    monkeypatch.setattr(project, "_RACY_NS", 2_000_000_000)  # the default: just written, not trusted
    paths[2].write_text("X = 20\n")
    for _ in range(2):
        project.reset_caches()
        hashed.clear()
        assert project.blob_ids(names)[names[2]] == real_blob_id(b"X = 20\n")
        assert hashed == [7]  # hashed again in each process; the others are known


def test_the_analyzed_module_s_own_summary_is_kept_by_its_text(tmp_path, monkeypatch):
    """What the analysis of a model module needs of itself (its own ORM summary) is read back by
    the next process for the same text, and computed again for another one: the key is the text
    analyzed (an editor's unsaved buffer), not the file on disk."""
    from flake8_db_session.analysis import models

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    deps = tmp_path / "pkg" / "deps.py"
    leaking = DEPS + "\n\ndef first_item():\n    with SessionLocal() as db:\n        item = db.get(Item, 1)\n    return item\n"
    deps.write_text(leaking)
    settings = Settings(root=str(tmp_path))
    own: list[str] = []
    real_summarize = models.summarize

    def counting(tree, module, is_package, names=None, **kwargs):
        if names is not None:  # the analyzed module's own summary (the index's carry no names)
            own.append(module)
        return real_summarize(tree, module, is_package, names, **kwargs)

    monkeypatch.setattr(models, "summarize", counting)

    def check(source: str) -> list[str]:
        project.reset_caches()  # a new process
        module, is_package, index = project.context_for_path(str(deps), settings)
        findings = analyze_tree(ast.parse(source), str(deps), settings, source=source, module=module, is_package=is_package, index=index)
        return [f.code for f in findings]

    assert check(leaking) == ["DBS003"] and own == ["pkg.deps"]
    own.clear()
    assert check(leaking) == ["DBS003"] and own == []  # read back
    own.clear()
    unsaved = leaking.replace("class Item(Base):", "class Item:")  # not a model in the buffer
    assert check(unsaved) == [] and own == ["pkg.deps"]  # another text: computed, not the file's
    own.clear()
    assert check(leaking) == ["DBS003"] and own == []


def test_the_own_summary_of_a_text_given_other_imports_is_another_entry(tmp_path):
    """A context cut out of a module (a helper parsed alone) is given the module's imports: the
    same text with other imports must not read the first one's summary."""
    from flake8_db_session.analysis.context import ModuleContext
    from flake8_db_session.analysis.models import ModelResolver

    (tmp_path / "m.py").write_text("x = 1\n")
    settings = Settings(root=str(tmp_path))
    snippet = "def f(db: Session):\n    return db\n"
    seen = []
    for imports in ({"Session": "sqlalchemy.orm.Session"}, {"Session": "mylib.Session"}):
        project.reset_caches()  # a new process
        index = project.project_index((str(tmp_path),), settings)
        ctx = ModuleContext.build(
            ast.parse(snippet), str(tmp_path / "m.py"), settings, source=snippet,
            lines=snippet.splitlines(keepends=True), module="m", index=index,
        )
        ctx.names.imports.update(imports)
        seen.append(ModelResolver(ctx).own.imports.get("Session"))
    assert seen == ["sqlalchemy.orm.Session", "mylib.Session"]


SERVICE = '''
from sqlalchemy.orm import Session, sessionmaker
from pkg.models import Team

SessionLocal = sessionmaker()  # an ORM marker: the summary is read from the tree


class TeamService:
    def get(self, db: Session, team_id: int) -> Team:
        return db.get(Team, team_id)

    def draft(self, name: str) -> Team:
        return Team(name=name)
'''


def test_a_module_summarized_from_a_parse_keeps_its_service_facts_from_the_same_tree(tmp_path, parsed):
    """Its summary needs a parse (ORM markers), and so do its facts (a function that builds a
    model): one parse gives both, and a new process reads both from the persistent cache."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "services.py").write_text(SERVICE)

    def summary_then_facts():
        index = project.FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
        return index.model_summary("pkg.services"), index.service_facts("pkg.services")

    summary, facts = summary_then_facts()
    assert parsed == ["services.py"]
    expected = facts_of_source(SERVICE.encode(), "services.py", "pkg.services", False, dict(summary.imports))
    assert facts == expected
    assert facts.returns["TeamService.draft"] == (False, "pkg.models.Team")
    assert facts.produces["TeamService.draft"]  # built here, never added to a session
    project.reset_caches()  # a new process
    parsed.clear()
    assert summary_then_facts() == (summary, facts) and parsed == []


def test_a_tree_offered_after_an_analysis_spares_the_next_reader_a_parse(tmp_path, monkeypatch, parsed):
    """``history`` offers the tree of each changed module it analyzed: the module's summary and
    service facts are kept from it, equal to those a reader would compute, which then parses nothing."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "services.py").write_text(SERVICE)
    data = SERVICE.encode()

    def read_both():
        index = project.FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
        return index.model_summary("pkg.services"), index.service_facts("pkg.services")

    expected = read_both()  # computed the usual way, then forgotten with the whole cache
    project.reset_caches()
    summary_cache.shared_cache().close_before_fork()
    monkeypatch.setenv(summary_cache.DIR_ENV, str(tmp_path / "other-cache"))
    summary_cache.reset()
    index = project.FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
    tree = REAL_PARSE(data)
    index.offer_tree(str(tmp_path / "pkg" / "services.py"), "pkg.services", False, project.blob_id(data), data, tree)
    project.reset_caches()  # the next process: only the persistent cache is left
    parsed.clear()
    assert read_both() == expected
    assert parsed == []
