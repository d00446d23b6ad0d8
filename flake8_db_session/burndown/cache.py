"""A persistent cache of per-file analysis results, so a long history costs about its changes.

A file's findings depend on its bytes (the blob), where it sits (its path and module name), the
settings, the tool itself, and what the project index told the analysis about other modules (a
session alias defined elsewhere). The first four form the key; the last is recorded with the
result as the files the index read, each with its blob id (or absent), and an entry is a hit only
when every one of those files is the same at the commit being analyzed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from .. import __version__
from ..analysis import Finding
from ..config import Settings

# path -> blob id, or "" when the analysis looked for the file and it did not exist.
Dependencies = Sequence[tuple[str, str]]
SCHEMA = 1


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "flake8-db-session")


# What a file's findings depend on: the analysis, its configuration and the index, the runner that
# calls it, and this cache's own format. Other modules (outputs, commands) never change a result.
_FINGERPRINTED = (
    "analysis",
    "config.py",
    "project.py",
    "runner.py",
    "rules.py",
    "burndown/cache.py",
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
    values.pop("config_files", None)
    values["root"] = root
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def finding_to_json(finding: Finding) -> dict:
    values = dataclasses.asdict(finding)
    values["tags"] = sorted(finding.tags)
    return values


def finding_from_json(values: Mapping) -> Finding:
    return Finding(**{**values, "tags": frozenset(values.get("tags", ()))})


@dataclasses.dataclass
class CachedResult:
    findings: list[Finding]
    error: str
    grep: int  # the grep-style count of the file's text


class ResultCache:
    """SQLite-backed (safe for concurrent runs); ``path=None`` keeps it in memory for one run."""

    def __init__(self, path: str | None) -> None:
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path or ":memory:", timeout=30)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT, deps TEXT, result TEXT, PRIMARY KEY (key, deps))"
        )
        self._pending: list[tuple[str, str, str]] = []
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def lookup(self, key: str, tree: Mapping[str, str]) -> CachedResult | None:
        """The stored result whose recorded dependencies all match ``tree`` (path -> blob id)."""
        for deps_text, result_text in self._db.execute("SELECT deps, result FROM results WHERE key = ?", (key,)):
            deps = json.loads(deps_text)
            if all(tree.get(path, "") == blob for path, blob in deps):
                result = json.loads(result_text)
                self.hits += 1
                findings = [finding_from_json(f) for f in result["findings"]]
                return CachedResult(findings, result["error"], result["grep"])
        self.misses += 1
        return None

    def store(
        self, key: str, deps: Iterable[tuple[str, str]], findings: Sequence[Finding], error: str, grep: int
    ) -> None:
        deps_text = json.dumps(sorted(set(deps)))
        result = {"findings": [finding_to_json(f) for f in findings], "error": error, "grep": grep}
        result_text = json.dumps(result)
        self._pending.append((key, deps_text, result_text))

    def flush(self) -> None:
        if self._pending:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?)", self._pending)
            self._pending.clear()

    def close(self) -> None:
        try:
            self.flush()
        except sqlite3.Error:
            pass  # a cache that cannot be written costs time next run, nothing else
        self._db.close()
