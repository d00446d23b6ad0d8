"""Per-module counts of findings: by code, by DBS001/DBS002 status, noqa'd, and the grep-style count.

Pure: findings (and optionally source texts) in, plain data out, serializable to JSON. Counts come
from the AST; ``# noqa`` never hides a finding here, it is counted in its own column. The grep
column is the textual count a team quotes today (``grep -o 'Depends(get_db)'``), so the two can be
reconciled: it also counts comments, docstrings and strings, and misses aliases.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.findings import TAGS, Finding

# Codes whose findings carry status tags (no tag = "plain").
STATUS_CODES = ("DBS001", "DBS002")
STATUSES = ("plain", *TAGS)
# Display names of stdin: no module to key, so no baseline entry and no ratchet.
NO_MODULE = frozenset({"-", "stdin", "<stdin>"})


def module_key(path: str, root: str) -> str:
    """A file's key in counts and baselines: posix path relative to the config root."""
    if path in NO_MODULE:
        return path
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return relative.replace(os.sep, "/")


def grep_pattern(dependencies: Iterable[str]) -> re.Pattern[str]:
    """``Depends(name`` / ``Security(name`` (maybe ``module.name``) for the configured names.

    A dotted configured name (``app.db.get_db``) is matched by its last part, as grep would.
    """
    names = sorted({name.rpartition(".")[2] for name in dependencies if name.strip()})
    if not names:
        return re.compile(r"(?!x)x")  # matches nothing
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(?<!\w)(?:Depends|Security)\(\s*(?:[A-Za-z_][\w.]*\.)?(?:{alternatives})\b")


_GREP_WORDS = ("Depends(", "Security(")


def grep_count(text: str, pattern: re.Pattern[str]) -> int:
    """``len(pattern.findall(text))``, faster: the pattern is tried only where ``Depends(`` or
    ``Security(`` is spelled (every match starts there), in order, past the end of the last
    match (a configured name may spell one of them: ``Depends(Depends(get_db))``)."""
    starts = []
    for word in _GREP_WORDS:
        at = text.find(word)
        while at != -1:
            starts.append(at)
            at = text.find(word, at + 1)
    number = end = 0
    for at in sorted(starts):
        if at >= end:
            found = pattern.match(text, at)
            if found is not None:
                number += 1
                end = found.end()
    return number


@dataclass
class ModuleCounts:
    """Counts for one module (or, for the totals, for all of them)."""

    module: str
    codes: Counter = field(default_factory=Counter)  # code -> findings, noqa'd included
    statuses: Counter = field(default_factory=Counter)  # status -> DBS001/DBS002 findings
    noqa: int = 0
    grep: int = 0

    @property
    def total(self) -> int:
        return sum(self.codes.values())

    def add(self, finding: Finding) -> None:
        self.codes[finding.code] += 1
        if finding.noqa:
            self.noqa += 1
        if finding.code in STATUS_CODES:
            # A finding with two tags counts in both columns; the total counts it once.
            for status in sorted(finding.tags) or ["plain"]:
                self.statuses[status] += 1

    def merge(self, other: ModuleCounts) -> None:
        self.codes.update(other.codes)
        self.statuses.update(other.statuses)
        self.noqa += other.noqa
        self.grep += other.grep

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "total": self.total,
            "codes": dict(sorted(self.codes.items())),
            "statuses": {status: self.statuses.get(status, 0) for status in STATUSES},
            "noqa": self.noqa,
            "grep": self.grep,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModuleCounts:
        return cls(
            module=str(data.get("module", "")),
            codes=Counter({str(k): int(v) for k, v in dict(data.get("codes", {})).items()}),
            statuses=Counter({str(k): int(v) for k, v in dict(data.get("statuses", {})).items() if v}),
            noqa=int(data.get("noqa", 0)),
            grep=int(data.get("grep", 0)),
        )


@dataclass
class Counts:
    """Per-module counts, keyed by module path; ``totals`` sums them."""

    modules: dict[str, ModuleCounts] = field(default_factory=dict)

    @property
    def totals(self) -> ModuleCounts:
        totals = ModuleCounts("TOTAL")
        for counts in self.modules.values():
            totals.merge(counts)
        return totals

    def codes(self) -> list[str]:
        """Every code present, sorted."""
        return sorted(self.totals.codes)

    def worst_first(self) -> list[ModuleCounts]:
        return sorted(self.modules.values(), key=lambda m: (-m.total, -m.grep, m.module))

    def to_dict(self) -> dict[str, Any]:
        return {
            "modules": [m.to_dict() for m in sorted(self.modules.values(), key=lambda m: m.module)],
            "totals": {**self.totals.to_dict(), "modules": len(self.modules)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counts:
        modules = [ModuleCounts.from_dict(item) for item in data.get("modules", [])]
        return cls({m.module: m for m in modules})


def count_findings(
    findings: Iterable[Finding],
    *,
    root: str = ".",
    grep: Mapping[str, int] | None = None,
) -> Counts:
    """Counts per module from findings (noqa'd included) and per-file grep counts (path -> count).

    Paths in ``findings`` and ``grep`` are keyed relative to ``root``. A file with a grep count
    but no finding (the call sits in a comment, say) still gets a row.
    """
    counts = Counts()
    rows: dict[str, ModuleCounts] = {}  # by path: a module has many findings

    def row(path: str) -> ModuleCounts:
        found = rows.get(path)
        if found is None:
            key = module_key(path, root)
            if key not in counts.modules:
                counts.modules[key] = ModuleCounts(key)
            found = rows[path] = counts.modules[key]
        return found

    for finding in findings:
        row(finding.path).add(finding)
    for path, number in (grep or {}).items():
        if number:
            row(path).grep += number
    return counts


def grep_files(paths: Sequence[str], dependencies: Iterable[str]) -> dict[str, int]:
    """The grep-style count of each file (unreadable files count 0: the analysis reports them)."""
    pattern = grep_pattern(dependencies)
    result: dict[str, int] = {}
    for path in paths:
        if path == "-":
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                number = grep_count(handle.read(), pattern)
        except OSError:
            continue
        if number:
            result[path] = number
    return result


def counts_for_run(result: Any, settings: Any) -> Counts:
    """Counts for a ``runner.RunResult``: its findings plus the grep count of its files."""
    paths = [file_result.path for file_result in result.files]
    return count_findings(
        result.findings, root=settings.root, grep=grep_files(paths, settings.dependencies)
    )
