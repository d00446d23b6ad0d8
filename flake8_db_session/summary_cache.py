"""A persistent cache of per-module summaries, shared by every process on the machine.

Each editor lint is a new process, and so is each ``check``: without this, every one of them
parses the project's model and service modules again (the 7,000-line ``db.py`` of a real
gateway) only to learn the few facts it needs about them. A summary depends on the module's
name, its package flag, its bytes, the settings (where they matter) and the tool itself, so the
key is a digest of exactly those; an edited file, another configuration or another version of
the tool (release or edited checkout) reads other entries and never a stale one.

Storage: one SQLite file in WAL mode with a busy timeout (the standard library, safe under
concurrent readers and writers, each write its own small transaction, no lock files to clean
up), bounded in size with least-recently-used eviction. Values are pickled, and read back only
through an unpickler that builds nothing but this package's dataclasses and plain containers,
after checking the digest stored beside them. Whatever goes wrong (an unwritable directory, a
corrupt file or entry, a full disk) costs time, never a result or an error: the cache then
recomputes, or switches itself off for the process.

Where: ``$FLAKE8_DB_SESSION_CACHE_DIR`` if set, else the platform's user cache directory
(``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%``
on Windows) under ``flake8-db-session``. ``FLAKE8_DB_SESSION_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import importlib
import io
import logging
import os
import pickle
import sqlite3
import sys
import time
from typing import Callable, NamedTuple, TypeVar, cast

LOG = logging.getLogger(__name__)
_V = TypeVar("_V")

DIR_ENV = "FLAKE8_DB_SESSION_CACHE_DIR"
OFF_ENV = "FLAKE8_DB_SESSION_NO_CACHE"
FILENAME = "summaries-v1.sqlite3"
# Bump when the stored form changes (the tool's own source is part of every key as well).
# 2: a derived value is stored as a ``_DerivedEntry`` (was a plain tuple).
# 3: a ``_DerivedEntry`` holds the facts read besides the modules.
SCHEMA = 3
MAX_BYTES = 64 * 1024 * 1024
# Eviction trims to this share of the bound, so it runs rarely.
_EVICT_TO = 0.75
# Check the total size every this many writes of a process (and at its first write).
_SIZE_CHECK_EVERY = 64
# A hit refreshes the entry's last-use time when it is older than this (seconds), so reads
# rarely write.
_TOUCH_AFTER = 3600
# Keys per query of a batched read (SQLite's default limit of bound parameters is 999 or more).
_BATCH = 500


def user_cache_dir() -> str:
    """``flake8-db-session`` under the platform's per-user cache directory."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
        return os.path.join(base, "flake8-db-session", "Cache")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "flake8-db-session")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "flake8-db-session")


def cache_dir() -> str:
    return os.environ.get(DIR_ENV) or user_cache_dir()


def disabled_by_environment() -> bool:
    return os.environ.get(OFF_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


# --- reading values back safely --------------------------------------------------------------

_PLAIN_BUILTINS = frozenset({"set", "frozenset", "dict", "list", "tuple", "bytes", "str", "int", "float", "bool"})


class _OwnTypesUnpickler(pickle.Unpickler):
    """Builds only this package's dataclasses and enums and plain builtin containers."""

    def find_class(self, module: str, name: str):
        found = _ALLOWED_CLASSES.get((module, name))
        if found is not None:
            return found
        if module == "builtins" and name in _PLAIN_BUILTINS:
            found = super().find_class(module, name)
        elif module == "flake8_db_session" or module.startswith("flake8_db_session."):
            found = getattr(importlib.import_module(module), name, None)
            if not (isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, (enum.Enum, tuple)))):
                found = None
        if found is None:
            raise pickle.UnpicklingError(f"not a summary type: {module}.{name}")
        _ALLOWED_CLASSES[(module, name)] = found  # each value read resolves its classes again otherwise
        return found


_ALLOWED_CLASSES: dict[tuple[str, str], type] = {}


def _loads(data: bytes):
    return _OwnTypesUnpickler(io.BytesIO(data)).load()


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _canonical(part: object) -> str:
    """A stable text form of one key part (a Settings value: its compared fields only)."""
    if dataclasses.is_dataclass(part) and not isinstance(part, type):
        known = _CANONICAL_DATACLASSES.get(part)
        if known is None:
            fields = [(f.name, getattr(part, f.name)) for f in dataclasses.fields(part) if f.compare]
            known = _CANONICAL_DATACLASSES[part] = f"{type(part).__qualname__}{fields!r}"
        return known
    return repr(part)


# The text form of the settings in every key of a run is computed once (a frozen, hashable value).
_CANONICAL_DATACLASSES: dict[object, str] = {}


_MISSING = object()


class SummaryCache:
    """Get-or-compute by key over one SQLite file; ``path=None`` (or any failure) means no cache."""

    def __init__(self, path: str | None, *, max_bytes: int = MAX_BYTES, fingerprint: str | None = None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._fingerprint = fingerprint
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._writes = 0
        self.disabled = path is None
        self.stats = {"hits": 0, "misses": 0, "corrupt": 0, "evicted": 0}

    # -- the connection (one per process: a forked child never uses its parent's) --

    def _connection(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._db is not None and self._pid == os.getpid():
            return self._db
        self._db = None  # inherited from the parent: left alone, never closed here
        try:
            self._db = self._open()
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
                self._db = self._reopen_after_corruption(exc)
            else:
                self._off(exc)
        self._pid = os.getpid()
        return self._db

    def _open(self) -> sqlite3.Connection:
        assert self.path is not None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # a crash may lose the last entries, never corrupt
            db.execute(
                "CREATE TABLE IF NOT EXISTS summaries"
                " (key BLOB PRIMARY KEY, digest BLOB NOT NULL, value BLOB NOT NULL,"
                " size INTEGER NOT NULL, used REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS summaries_used ON summaries (used)")
        except BaseException:
            db.close()
            raise
        return db

    def _reopen_after_corruption(self, exc: Exception) -> sqlite3.Connection | None:
        """A file that is not a database (or a broken one) is replaced once; else no cache."""
        LOG.debug("summary cache %s unreadable (%s): starting a new one", self.path, exc)
        try:
            assert self.path is not None
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path + suffix)
            return self._open()
        except (sqlite3.Error, OSError) as again:
            self._off(again)
            return None

    def _off(self, exc: Exception) -> None:
        LOG.debug("summary cache %s off for this process: %s", self.path, exc)
        self.disabled = True
        self._db = None

    def close_before_fork(self) -> None:
        """Close the parent's connection before a fork (SQLite connections must not cross one)."""
        if self._db is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    # -- keys and values --

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from .burndown.cache import tool_fingerprint

            self._fingerprint = tool_fingerprint()
        return self._fingerprint

    def key(self, parts: tuple) -> bytes:
        text = "\0".join([str(SCHEMA), self.fingerprint(), *(_canonical(p) for p in parts)])
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest()

    def get(self, parts: tuple) -> object:
        """The stored value for ``parts``, or ``_MISSING``."""
        db = self._connection()
        if db is None:
            return _MISSING
        key = self.key(parts)
        try:
            row = db.execute("SELECT digest, value, used FROM summaries WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            self._off(exc)
            return _MISSING
        if row is None:
            self.stats["misses"] += 1
            return _MISSING
        digest, value, used = row
        try:
            if _digest(value) != digest:
                raise ValueError("digest mismatch")
            result = _loads(value)
        except Exception:
            self.stats["corrupt"] += 1
            self._execute("DELETE FROM summaries WHERE key = ?", (key,))
            return _MISSING
        self.stats["hits"] += 1
        now = time.time()
        if now - used > _TOUCH_AFTER:
            self._execute("UPDATE summaries SET used = ? WHERE key = ?", (now, key))
        return result

    def get_many(self, keys: list[tuple]) -> list[object]:
        """The stored values for several keys in one query (``_MISSING`` where there is none)."""
        db = self._connection()
        if db is None or not keys:
            return [_MISSING] * len(keys)
        hashed = [self.key(parts) for parts in keys]
        rows: dict[bytes, tuple] = {}
        try:
            for start in range(0, len(hashed), _BATCH):
                chunk = hashed[start : start + _BATCH]
                query = f"SELECT key, digest, value, used FROM summaries WHERE key IN ({','.join('?' * len(chunk))})"
                rows.update((row[0], row[1:]) for row in db.execute(query, chunk))
        except sqlite3.DatabaseError as exc:
            self._off(exc)
            return [_MISSING] * len(keys)
        found: list[object] = []
        stale: list[tuple[float, bytes]] = []
        now = time.time()
        for key in hashed:
            row = rows.get(key)
            if row is None:
                self.stats["misses"] += 1
                found.append(_MISSING)
                continue
            digest, value, used = row
            try:
                if _digest(value) != digest:
                    raise ValueError("digest mismatch")
                found.append(_loads(value))
            except Exception:
                self.stats["corrupt"] += 1
                self._execute("DELETE FROM summaries WHERE key = ?", (key,))
                found.append(_MISSING)
                continue
            self.stats["hits"] += 1
            if now - used > _TOUCH_AFTER:
                stale.append((now, key))
        if stale:
            self._execute_many("UPDATE summaries SET used = ? WHERE key = ?", stale)
        return found

    def put_many(self, items: list[tuple[tuple, object]]) -> None:
        """Store several values in one transaction."""
        db = self._connection()
        if db is None or not items:
            return
        rows = []
        now = time.time()
        for parts, value in items:
            try:
                data = pickle.dumps(value, protocol=4)
            except Exception:
                continue
            rows.append((self.key(parts), _digest(data), data, len(data), now))
        before = self._writes
        if rows and self._execute_many("INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?)", rows):
            self._writes += len(rows)
            if before == 0 or before // _SIZE_CHECK_EVERY != self._writes // _SIZE_CHECK_EVERY:
                self.evict()

    def put(self, parts: tuple, value: object) -> None:
        db = self._connection()
        if db is None:
            return
        try:
            data = pickle.dumps(value, protocol=4)
        except Exception:
            return
        row = (self.key(parts), _digest(data), data, len(data), time.time())
        if self._execute("INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?)", row):
            self._writes += 1
            if (self._writes - 1) % _SIZE_CHECK_EVERY == 0:  # the first write, then every Nth
                self.evict()

    def get_or_compute(self, parts: tuple, compute: Callable[[], _V]) -> _V:
        found = self.get(parts)
        if found is not _MISSING:
            # what ``compute`` gave when it was stored under these parts (the key says which computation)
            return cast(_V, found)
        value = compute()
        self.put(parts, value)
        return value

    def _execute(self, sql: str, params: tuple) -> bool:
        db = self._connection()
        if db is None:
            return False
        try:
            db.execute(sql, params)
            return True
        except sqlite3.OperationalError as exc:  # busy past the timeout, read-only, disk full
            LOG.debug("summary cache write skipped: %s", exc)
            return False
        except sqlite3.DatabaseError as exc:
            self._off(exc)
            return False

    def _execute_many(self, sql: str, rows: list[tuple]) -> bool:
        db = self._connection()
        if db is None:
            return False
        try:
            with db:  # one transaction (the connection is otherwise in autocommit mode)
                db.execute("BEGIN")
                db.executemany(sql, rows)
            return True
        except sqlite3.OperationalError as exc:
            LOG.debug("summary cache write skipped: %s", exc)
            return False
        except sqlite3.DatabaseError as exc:
            self._off(exc)
            return False

    def evict(self) -> None:
        """Drop least recently used entries until the total is well under the bound."""
        db = self._connection()
        if db is None:
            return
        try:
            total = db.execute("SELECT COALESCE(SUM(size), 0) FROM summaries").fetchone()[0]
            if total <= self.max_bytes:
                return
            excess = total - int(self.max_bytes * _EVICT_TO)
            doomed: list[tuple[bytes]] = []
            for key, size in db.execute("SELECT key, size FROM summaries ORDER BY used"):
                if excess <= 0:
                    break
                doomed.append((key,))
                excess -= size
            db.executemany("DELETE FROM summaries WHERE key = ?", doomed)
            self.stats["evicted"] += len(doomed)
        except sqlite3.OperationalError as exc:
            LOG.debug("summary cache eviction skipped: %s", exc)
        except sqlite3.DatabaseError as exc:
            self._off(exc)

    def total_bytes(self) -> int:
        db = self._connection()
        if db is None:
            return 0
        return int(db.execute("SELECT COALESCE(SUM(size), 0) FROM summaries").fetchone()[0])


class _DerivedEntry(NamedTuple):
    """A derived value as kept and stored, with (module, state) for each module it was computed
    from and (fact, state) for each fact it read of them: a tuple class of this package, which
    the unpickler builds."""

    states: tuple[tuple[str, str], ...]
    value: object
    facts: tuple[tuple[tuple[str, ...], str], ...]


def remember_derived(
    key: tuple,
    compute: Callable[[], tuple[_V, frozenset, bool]],
    module_state: Callable[[str], str],
    fact_state: Callable[[tuple], str],
) -> tuple[_V, frozenset]:
    """A value computed from several modules of a project index (a helper's summary), stored
    with the state (``module_state``: a content hash, or absent) of each module it read, and
    the state (``fact_state``) of each fact it read of them (a fact is a tuple that names its
    module second): it holds as long as the modules do, or, where one changed, as long as what
    it read of it did (a module that gains a function keeps the summaries of its others).
    ``compute()`` gives (value, facts read, whether it may be stored)."""
    cache = shared_cache()
    parts = ("derived", *key)
    stored = _DERIVED.get(parts)
    if stored is None:
        found = cache.get(parts)
        if isinstance(found, _DerivedEntry):  # anything else (missing, another form) is computed again
            stored = found
    if stored is not None:
        changed = [module for module, state in stored.states if module_state(module) != state]
        facts = frozenset(fact for fact, _ in stored.facts)
        # what ``compute`` gave for this key (the key says which computation)
        value = cast(_V, stored.value)
        if not changed:
            _keep_derived(parts, stored)
            return value, facts
        moved = set(changed)
        if all(fact_state(fact) == state for fact, state in stored.facts if fact[1] in moved):
            # The same facts, the modules' new states: next time it holds by the modules.
            states = tuple((module, module_state(module) if module in moved else state) for module, state in stored.states)
            entry = _DerivedEntry(states, stored.value, stored.facts)
            _keep_derived(parts, entry)
            if not cache.disabled:
                cache.put(parts, entry)
            return value, facts
    value, facts, storable = compute()
    if storable:
        entry = _entry(value, facts, module_state, fact_state)
        _keep_derived(parts, entry)
        if not cache.disabled:
            cache.put(parts, entry)
    return value, facts


def _entry(value: object, facts: frozenset, module_state: Callable[[str], str], fact_state: Callable[[tuple], str]) -> _DerivedEntry:
    modules = sorted({fact[1] for fact in facts})
    return _DerivedEntry(
        tuple((module, module_state(module)) for module in modules),
        value,
        tuple(sorted((fact, fact_state(fact)) for fact in facts)),
    )


# The derived values this process read or computed, by key, with the module states they hold
# for: a history's index of the next commit finds them here (checked the same way).
_DERIVED: dict[tuple, _DerivedEntry] = {}
_MAX_DERIVED = 4096


def _keep_derived(parts: tuple, entry: _DerivedEntry) -> None:
    if len(_DERIVED) >= _MAX_DERIVED:
        _DERIVED.clear()
    _DERIVED[parts] = entry


_CACHE: SummaryCache | None = None


def shared_cache() -> SummaryCache:
    """The process's cache, opened on first use from the environment of that moment."""
    global _CACHE
    if _CACHE is None:
        path = None if disabled_by_environment() else os.path.join(cache_dir(), FILENAME)
        _CACHE = SummaryCache(path)
    return _CACHE


def remembered(parts: tuple, compute: Callable[[], _V]) -> _V:
    """``compute()``, or its value stored under ``parts`` by any earlier process."""
    return shared_cache().get_or_compute(parts, compute)


MISSING = _MISSING  # what ``get``/``get_many`` give for a key with no stored value


def reset() -> None:
    """Forget the process's cache (the environment is read again on next use)."""
    global _CACHE
    if _CACHE is not None:
        _CACHE.close_before_fork()
    _CACHE = None
    _CANONICAL_DATACLASSES.clear()
    _DERIVED.clear()


def _before_fork() -> None:
    if _CACHE is not None:
        _CACHE.close_before_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)
