"""A persistent cache of per-file analysis results, so a long history costs about its changes.

A file's findings depend on its bytes (the blob), where it sits (its path and module name), the
settings, the tool itself, and what the project index told the analysis about other modules (a
session alias or an ORM model defined elsewhere). The first four form the key. The last is
recorded with the result twice: as the files the index read (path and blob id, or absent), and as
the questions asked with a digest of each answer. An entry holds at a commit when those files are
the same blobs there (no work at all), or else when every answer is the same there (a change to
``db.py`` that touches no model the file uses re-analyzes nothing). Answers are cached the same
way, keyed by the files they were computed from, so a large models module is parsed once per
version, not once per commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Callable

from .. import __version__, summary_cache
from ..analysis import Finding
from ..analysis.findings import HeldPoint
from ..config import Settings

# (question asked to the project index, as JSON; digest of its answer)
Questions = Sequence[tuple[str, str]]
# The digest of an answer that has no stable value form (an object known only by identity):
# never equal to anything, so such a result holds only through its files.
UNSTABLE = "unstable"
# 3: a result's questions and findings are texts of their own table, by digest (a result that
# held at fifty commits was stored with fifty copies of them).
SCHEMA = 3
# Rows waiting to be written are written together once they hold this many bytes (and at the
# end of each window of commits, and on close): a commit stores a few rows of a few kilobytes.
_PENDING_BYTES = 4 * 1024 * 1024
# Keys (files' results and answers) whose rows a run keeps in memory: past this many, at a
# flush, what is written is forgotten and read again when asked.
_MAX_KEPT_KEYS = 20_000
# The cache file's bound (the bytes its rows take): past it, when a run closes the cache, the
# rows written longest ago go until a quarter of it is free again. A row deleted costs an
# analysis when asked for again, never a result.
MAX_BYTES = 256 * 1024 * 1024
_EVICT_TO = 0.75


def default_cache_dir() -> str:
    """Where the summary cache is: ``$FLAKE8_DB_SESSION_CACHE_DIR``, else the platform's user
    cache directory."""
    return summary_cache.cache_dir()


# What a file's findings depend on: the analysis, its configuration and the index, the runner that
# calls it, and this cache's own format. Other modules (outputs, commands) never change a result.
_FINGERPRINTED = (
    "analysis",
    "config.py",
    "project.py",
    "runner.py",
    "rules.py",
    "burndown/cache.py",
    "burndown/commit_index.py",
    "burndown/history.py",
)


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    """The version plus a hash of the source that computes findings: an edited checkout
    invalidates the cache, a release does too."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(f"{__version__}:{SCHEMA}".encode())
    paths: list[str] = []
    for name in _FINGERPRINTED:
        path = os.path.join(package, name)
        if os.path.isdir(path):
            for directory, _subdirs, files in os.walk(path):
                paths.extend(os.path.join(directory, f) for f in files if f.endswith(".py"))
        elif os.path.isfile(path):
            paths.append(path)
    for path in sorted(paths):
        digest.update(os.path.relpath(path, package).replace(os.sep, "/").encode())
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def settings_fingerprint(settings: Settings, root: str) -> str:
    """Every setting that can change a finding; ``root`` is the config directory relative to the
    repository, so a copy of the repository elsewhere shares the cache."""
    values = dataclasses.asdict(settings)
    values["root"] = root
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def finding_to_json(finding: Finding) -> dict:
    """``dataclasses.asdict`` of a finding (its tags sorted), without its deep copies: every
    field is a plain value but the held points, small dataclasses of plain values."""
    values = {name: getattr(finding, name) for name in _FINDING_FIELDS}
    values["tags"] = sorted(finding.tags)
    values["held_across"] = tuple(
        {name: getattr(point, name) for name in _HELD_POINT_FIELDS} for point in finding.held_across
    )
    return values


_FINDING_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))
_HELD_POINT_FIELDS = tuple(f.name for f in dataclasses.fields(HeldPoint))


def finding_from_json(values: Mapping) -> Finding:
    return Finding(**{**values, "tags": frozenset(values.get("tags", ()))})


@dataclasses.dataclass
class CachedResult:
    findings: list[Finding]
    error: str
    grep: int  # the grep-style count of the file's text
    text: str = dataclasses.field(default="", compare=False, repr=False)  # as stored


class ResultCache:
    """SQLite-backed (safe for concurrent runs); ``path=None`` keeps it in memory for one run.

    Three tables: per-file results, each with the files its answers were read from (``deps``),
    the questions it asked the project index with a digest of each answer, and its findings
    (both by the digest of their text in ``texts``: a result that holds at many commits is
    stored once per set of files, its texts once); and the digests of answers, each with the
    files it was computed from.
    """

    def __init__(self, path: str | None, *, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path or ":memory:", timeout=30)
        if path is not None:  # as the summary cache: a crash may lose the last entries, never corrupt
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._db:
            # The results of versions before texts had their table: never read again.
            self._db.execute("DROP TABLE IF EXISTS file_results")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results"
                " (key TEXT, deps TEXT, questions_digest TEXT, result_digest TEXT, PRIMARY KEY (key, deps))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS texts (digest TEXT PRIMARY KEY, text TEXT)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT, deps TEXT, digest TEXT, PRIMARY KEY (key, deps))"
            )
        self._pending: list[tuple[str, str, str, str]] = []
        self._pending_texts: list[tuple[str, str]] = []
        self._text_digests: dict[str, str] = {}  # the texts stored or waiting to be, by text
        self._pending_answers: list[tuple[str, str, str]] = []
        self._pending_bytes = 0
        self._pair_texts: dict[tuple[str, str], str] = {}
        self._rows: dict[str, list[_Row]] = {}
        self._held: dict[str, _Row] = {}  # by key: the row that held at the last lookup that found one
        self._answer_rows: dict[str, list[tuple[_Files, str]]] = {}
        self._tree: Mapping[str, str] | None = None
        self._results: dict[str, CachedResult] = {}
        self._tree_pairs: frozenset[tuple[str, str]] = frozenset()
        self._listings: dict[str, str] = {}  # of that tree, by pseudo-path
        self.write_error = ""
        self.read_error = ""

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def lookup(
        self, key: str, tree: Mapping[str, str], ask: Callable[[str], str] | None = None
    ) -> tuple[CachedResult, Questions, frozenset[str] | None] | None:
        """The stored result for ``key`` that holds at ``tree`` (path -> blob id), its questions,
        and the paths of the files it held by (None: it held only through its answers).

        First try: every file its answers were read from is the same blob in ``tree``. Else, when
        ``ask`` (question -> digest of the answer at this tree) is given: every answer is the same
        (a module it imports changed, but not in a way it asked about).
        """
        rows = self._file_rows(key)
        pairs = self._pairs(tree)
        for row in rows:
            if row.files.hold_at(tree, pairs, self._listing):
                self._held[key] = row
                return self._parsed(row.result), row.questions(), row.files.paths()
        if ask is not None:
            # The row that held last in this run first (a file that held by the files of an old
            # row until a module it imports changed), then the newest ones.
            last = self._held.get(key)
            for row in ([last] if last is not None else []) + [row for row in rows[:3] if row is not last]:
                questions = row.questions()
                if all(digest != UNSTABLE and ask(question) == digest for question, digest in questions):
                    self._held[key] = row
                    return self._parsed(row.result), questions, None
        return None

    def _file_rows(self, key: str) -> list[_Row]:
        """The stored results of a key, newest first: read and parsed once per run (a file
        unchanged over many commits is looked up often), then kept with what this run stores."""
        rows = self._rows.get(key)
        if rows is None:
            stored = self._read(
                "SELECT results.deps, questions.digest, questions.text, findings.digest, findings.text"
                " FROM results JOIN texts AS questions ON questions.digest = results.questions_digest"
                " JOIN texts AS findings ON findings.digest = results.result_digest"
                " WHERE results.key = ? ORDER BY results.rowid DESC",
                key,
            )
            rows = self._rows[key] = []
            for deps, questions_digest, questions, result_digest, result in stored:
                self._text_digests[questions] = questions_digest
                self._text_digests[result] = result_digest
                rows.append(_Row(_Files(json.loads(deps)), questions, result))
        return rows

    def _read(self, query: str, key: str) -> list[tuple[str, ...]]:
        """The rows of one query; none when the cache cannot be read (locked by another run past
        the timeout, damaged): a miss costs time, the run goes on and says so once."""
        try:
            return list(self._db.execute(query, (key,)))
        except sqlite3.Error as exc:
            self.read_error = self.read_error or str(exc)
            return []

    def store(
        self,
        key: str,
        deps: Iterable[tuple[str, str]],
        questions: Questions,
        findings: Sequence[Finding],
        error: str,
        grep: int,
    ) -> None:
        result = {"findings": [finding_to_json(f) for f in findings], "error": error, "grep": grep}
        self._store_text(key, deps, questions, json.dumps(result))

    def store_held(
        self, key: str, deps: Iterable[tuple[str, str]], questions: Questions, held: CachedResult
    ) -> None:
        """A looked-up result again, with the files it holds at here (its stored texts reused)."""
        row = self._held.get(key)
        questions_text = row.questions_text if row is not None and row.questions() is questions else None
        self._store_text(key, deps, questions, held.text or json.dumps(
            {"findings": [finding_to_json(f) for f in held.findings], "error": held.error, "grep": held.grep}
        ), questions_text)

    def _store_text(
        self, key: str, deps: Iterable[tuple[str, str]], questions: Questions, result: str, questions_text: str | None = None
    ) -> None:
        listed = sorted(set(deps))
        if questions_text is None:
            questions_text = json.dumps(sorted(questions))
        deps_text = self._deps_text(listed)
        self._pending.append((key, deps_text, self._text_digest(questions_text), self._text_digest(result)))
        self._pending_bytes += len(deps_text)
        # Newest first, as read from the table: a row waiting to be written is found all the same.
        self._file_rows(key).insert(0, _Row(_Files(listed), questions_text, result))
        if self._pending_bytes > _PENDING_BYTES:
            self.flush()

    def _text_digest(self, text: str) -> str:
        """The digest a text is stored by, written with the next flush unless already known."""
        digest = self._text_digests.get(text)
        if digest is None:
            digest = self._text_digests[text] = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            self._pending_texts.append((digest, text))
            self._pending_bytes += len(text)
        return digest

    def _deps_text(self, listed: list[tuple[str, str]]) -> str:
        """``json.dumps(listed)``, each pair's text kept (the same files recur in many rows)."""
        texts = self._pair_texts
        parts = []
        for pair in listed:
            text = texts.get(pair)
            if text is None:
                text = texts[pair] = json.dumps(list(pair))
            parts.append(text)
        return "[" + ", ".join(parts) + "]"

    def answer(self, key: str, tree: Mapping[str, str]) -> tuple[str, frozenset[tuple[str, str]]] | None:
        """The digest of an answer computed from files that are the same blobs in ``tree``, with
        those files (so a result that held through it can be stored with them)."""
        rows = self._answer_rows_of(key)
        pairs = self._pairs(tree)
        for deps, digest in rows:
            if deps.hold_at(tree, pairs, self._listing):
                return digest, deps.pairs()
        return None

    def _parsed(self, text: str) -> CachedResult:
        """A stored result, parsed once per run (an unchanged file is looked up at every commit)."""
        found = self._results.get(text)
        if found is None:
            found = self._results[text] = _result(text)
        return found

    def _pairs(self, tree: Mapping[str, str]) -> frozenset[tuple[str, str]]:
        """The (path, blob) pairs of a tree, built once per tree (a commit looks up every file)."""
        if self._tree is not tree:
            self._tree, self._tree_pairs = tree, frozenset(tree.items())
            self._listings = {}
        return self._tree_pairs

    def _listing(self, pseudo_path: str) -> str:
        """The listing digest of a directory of the tree of the last ``_pairs`` call."""
        found = self._listings.get(pseudo_path)
        if found is None:
            assert self._tree is not None
            found = self._listings[pseudo_path] = pseudo_digest(self._tree, pseudo_path)
        return found

    def _answer_rows_of(self, key: str) -> list[tuple[_Files, str]]:
        """The stored digests of a question, read once per run (the same questions are asked at
        every commit), then kept with what this run stores."""
        rows = self._answer_rows.get(key)
        if rows is None:
            stored = self._read("SELECT deps, digest FROM answers WHERE key = ?", key)
            rows = self._answer_rows[key] = [(_Files(json.loads(deps)), digest) for deps, digest in stored]
        return rows

    def store_answer(self, key: str, deps: Iterable[tuple[str, str]], digest: str) -> None:
        listed = sorted(set(deps))
        self._pending_answers.append((key, self._deps_text(listed), digest))
        self._pending_bytes += len(self._pending_answers[-1][1])
        self._answer_rows_of(key).insert(0, (_Files(listed), digest))
        if self._pending_bytes > _PENDING_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending or self._pending_answers:
            try:
                with self._db:  # texts first: a row is read only with both of its texts
                    self._db.executemany("INSERT OR IGNORE INTO texts VALUES (?, ?)", self._pending_texts)
                    self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", self._pending)
                    self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", self._pending_answers)
            except sqlite3.Error as exc:
                # A cache that cannot be written (read-only, disk full) costs time next run only.
                self.write_error = self.write_error or str(exc)
                for _digest, text in self._pending_texts:  # not stored: sent again with a later row
                    self._text_digests.pop(text, None)
            self._pending.clear()
            self._pending_texts.clear()
            self._pending_answers.clear()
            self._pending_bytes = 0
        if not self.write_error and len(self._rows) + len(self._answer_rows) > _MAX_KEPT_KEYS:
            # Everything is in the table now: what a long range read is read again when asked
            # (the run's own rows are kept only while they cannot be read back).
            for kept in (self._rows, self._held, self._answer_rows, self._results, self._pair_texts, self._text_digests):
                kept.clear()

    def close(self) -> None:
        self.flush()
        if self.path is not None and not self.write_error:
            self._evict()
        self._db.close()

    def _evict(self) -> None:
        """Past the bound, delete the oldest rows (by when they were written: a row written
        again moves to the end) of results and answers alike, then the texts no row uses."""
        try:
            used = self.total_bytes()
            if used <= self.max_bytes:
                return
            share = 1 - self.max_bytes * _EVICT_TO / used
            with self._db:
                for table in ("results", "answers"):
                    (count,) = self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
                    self._db.execute(
                        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} ORDER BY rowid LIMIT ?)",
                        (int(count * share) + 1,),
                    )
                self._db.execute(
                    "DELETE FROM texts WHERE digest NOT IN (SELECT questions_digest FROM results)"
                    " AND digest NOT IN (SELECT result_digest FROM results)"
                )
        except sqlite3.Error as exc:  # another run holds the file: the next run trims it
            self.write_error = self.write_error or str(exc)

    def total_bytes(self) -> int:
        """The bytes the file's pages in use take (freed pages are reused, never counted)."""
        (page_size,) = self._db.execute("PRAGMA page_size").fetchone()
        (pages,) = self._db.execute("PRAGMA page_count").fetchone()
        (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
        return (pages - free) * page_size


class _Row:
    """A stored result: its files, its questions (parsed when first needed) and its text."""

    __slots__ = ("_questions", "files", "questions_text", "result")

    def __init__(self, files: _Files, questions: str, result: str) -> None:
        self.files = files
        self.questions_text = questions
        self._questions: list | None = None
        self.result = result

    def questions(self) -> list:
        if self._questions is None:
            self._questions = json.loads(self.questions_text)
        return self._questions


# The pseudo-path of a directory's listing (which Python files it holds, at any depth): this
# prefix, then the directory's own prefix ("app/", or "" for the top). No tree path starts with it.
LISTING = "/"
# The pseudo-path of those files with their contents (their blob ids): what read every file of a
# package depends on them all, one entry instead of hundreds in each of its rows.
CONTENTS = "//"


def listing_digest(paths: Iterable[str], prefix: str) -> str:
    """A digest of the Python files under ``prefix`` among ``paths`` (a package's listing: an
    answer built from every file of a package changes when one is added, not only when one
    of those it read changes)."""
    names = sorted(path for path in paths if path.startswith(prefix) and path.endswith(".py"))
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def contents_digest(files: Mapping[str, str], prefix: str) -> str:
    """A digest of the Python files under ``prefix`` in ``files`` (path -> blob id) and of their blobs."""
    listed = sorted((path, blob) for path, blob in files.items() if path.startswith(prefix) and path.endswith(".py"))
    text = "\n".join(f"{path}\0{blob}" for path, blob in listed)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def pseudo_digest(files: Mapping[str, str], pseudo_path: str) -> str:
    """The digest a ``LISTING`` or ``CONTENTS`` pseudo-path stands for in a tree."""
    if pseudo_path.startswith(CONTENTS):
        return contents_digest(files, pseudo_path[len(CONTENTS) :])
    return listing_digest(files, pseudo_path[len(LISTING) :])


class _Files:
    """The files a result or an answer was read from: (path, blob id) pairs, "" for a path that
    did not exist, and (``LISTING`` or ``CONTENTS`` + prefix, digest) for a directory whose
    listing (or every file) it read.
    Checked against a tree as a set (a module's answers may depend on every file of its
    package, and every file of a commit is looked up)."""

    def __init__(self, pairs: Iterable[Sequence[str]]) -> None:
        present: list[tuple[str, str]] = []
        absent: list[str] = []
        listings: list[tuple[str, str]] = []
        for path, blob in pairs:
            if path.startswith(LISTING):
                listings.append((path, blob))
            elif blob:
                present.append((path, blob))
            else:
                absent.append(path)
        self.present = frozenset(present)
        self.absent = tuple(absent)
        self.listings = tuple(listings)
        self._paths: frozenset[str] | None = None

    def paths(self) -> frozenset[str]:
        """Every path it was read from (or found absent at), and the listings' pseudo-paths."""
        if self._paths is None:
            self._paths = frozenset(path for path, _blob in self.present).union(
                self.absent, (path for path, _digest in self.listings)
            )
        return self._paths

    def pairs(self) -> frozenset[tuple[str, str]]:
        return self.present.union(((path, "") for path in self.absent), self.listings)

    def hold_at(self, tree: Mapping[str, str], pairs: frozenset[tuple[str, str]], listing: Callable[[str], str]) -> bool:
        return (
            self.present <= pairs
            and not any(path in tree for path in self.absent)
            and all(listing(path) == digest for path, digest in self.listings)
        )


def _result(text: str) -> CachedResult:
    result = json.loads(text)
    return CachedResult([finding_from_json(f) for f in result["findings"]], result["error"], result["grep"], text)
