"""The ratchet: a module may not hold more findings of a ratcheted code than its baseline allows.

Enforced per module and code (DESIGN.md); function names only tell people which endpoint is new.
A function renamed in place keeps the module's count and passes. A function moved to another
module (same name, gone from a checked module whose baseline recorded it) passes too: its baseline
entry follows it, and the rewritten baseline is written like a tightening. A new function whose
name matches nothing that left still fails. Counts that drop tighten the baseline.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ..analysis.findings import Finding
from ..rules import format_message
from .baseline import Baseline, function_counts
from .counts import NO_MODULE, module_key

# A message stays one readable line: name this many new functions, count the rest.
MAX_NAMED = 5


@dataclass
class NewFunction:
    function: str
    count: int  # findings it holds now
    allowed: int  # findings the baseline records for it
    findings: list[Finding]

    def describe(self) -> str:
        lines = ", ".join(str(f.line) + (" noqa'd" if f.noqa else "") for f in self.findings)
        return f"{self.function} (line {lines})"

    @property
    def noqa(self) -> bool:
        return any(f.noqa for f in self.findings)


@dataclass
class Overrun:
    """A (module, code) over its baseline."""

    module: str
    code: str
    count: int
    allowed: int
    new: list[NewFunction] = field(default_factory=list)
    moved_from: list[str] = field(default_factory=list)  # modules where these functions were
    # Some baselined function of this module lost findings: a "new" name may be a rename.
    renames_possible: bool = False
    total_grew: bool = True  # over all the checked modules, for this code

    def note(self) -> str:
        """What is new, where it came from, whether the total grew: the message's parenthesis."""
        parts = []
        if self.new:
            shown = "; ".join(n.describe() for n in self.new[:MAX_NAMED])
            more = len(self.new) - MAX_NAMED
            label = "new or renamed" if self.renames_possible else "new"
            parts.append(f"{label}: {shown}" + (f" and {more} more" if more > 0 else ""))
        if self.moved_from:
            parts.append(f"moved from {', '.join(self.moved_from)}")
        if not self.total_grew:
            parts.append(f"the {self.code} total did not grow")
        if any(n.noqa for n in self.new):
            parts.append("# noqa does not exempt a site from the ratchet")
        return "; ".join(parts) or "new findings"

    def message(self) -> str:
        return format_message(
            "DBS100", module=self.module, ratcheted=self.code, count=self.count, allowed=self.allowed, new=self.note()
        )

    def location(self) -> tuple[str, int, int, str]:
        """(path, line, col, function) of the first new finding, where DBS100 is reported."""
        candidates = [f for n in self.new for f in n.findings]
        if not candidates:
            return (self.module, 1, 0, "<module>")
        first = min(candidates, key=lambda f: (f.line, f.col))
        return (first.path, first.line, first.col, first.function)

    def finding(self) -> Finding:
        path, line, col, function = self.location()
        return Finding(path, line, col, "DBS100", self.message(), function)


@dataclass
class Tightening:
    module: str
    code: str
    allowed: int
    count: int


@dataclass(frozen=True)
class Move:
    """Findings of a function that left ``source`` and appeared in ``target``: the baseline follows."""

    code: str
    function: str  # its name in the target module
    source: str
    target: str
    count: int
    source_function: str  # its name in the source module (a method may have left its class)

    def describe(self) -> str:
        return f"{self.function} {self.code} {self.source} -> {self.target}"


@dataclass
class RatchetResult:
    overruns: list[Overrun]
    tightenings: list[Tightening]
    uncovered: list[str]  # ratcheted codes the baseline does not record
    tightened: Baseline  # the baseline with every move and drop taken in (equal to the input when none)
    moves: list[Move] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.overruns)


def compare(
    findings: Iterable[Finding],
    baseline: Baseline,
    *,
    root: str,
    ratchet_codes: Sequence[str],
    checked: Iterable[str],
    include_deleted: bool = True,
) -> RatchetResult:
    """Compare the findings of the ``checked`` files with the baseline.

    Only checked modules are compared (pre-commit passes only the changed files); a module in
    the baseline whose file no longer exists counts as zero.
    """
    codes = [c for c in ratchet_codes if c in baseline.codes]
    uncovered = [c for c in ratchet_codes if c not in baseline.codes]
    findings = [f for f in findings if f.code in codes and f.path not in NO_MODULE]
    checked_modules = {module_key(path, root) for path in checked if path not in NO_MODULE}
    for module in baseline.modules() if include_deleted else ():
        if module not in checked_modules and not os.path.exists(os.path.join(root, module)):
            checked_modules.add(module)  # deleted: everything it held is gone

    current = function_counts(findings, root=root, codes=codes)
    by_function: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        by_function[module_key(finding.path, root), finding.code, finding.function].append(finding)
    now: Counter = Counter()
    for (module, code, _function), number in current.items():
        now[module, code] += number
    original = baseline
    moves = find_moves(current, baseline, checked_modules)
    baseline = follow_moves(baseline, moves)
    allowed = baseline.by_module_code()

    overruns: list[Overrun] = []
    tightenings: list[Tightening] = []
    replacements: dict[tuple[str, str], dict[str, int]] = {}
    pairs = {(m, c) for (m, c) in now} | {(m, c) for (m, c) in allowed if m in checked_modules and c in codes}
    for module, code in sorted(pairs):
        if module not in checked_modules:
            continue
        count, limit = now[module, code], allowed[module, code]
        if count > limit:
            new = []
            for (m, c, function), number in sorted(current.items()):
                recorded = baseline.entries.get((m, c, function), 0)
                if m == module and c == code and number > recorded:
                    new.append(NewFunction(function, number, recorded, by_function[m, c, function]))
            new.sort(key=lambda n: min((f.line, f.col) for f in n.findings))
            shrunk = any(
                current.get(key, 0) < number
                for key, number in baseline.entries.items()
                if key[0] == module and key[1] == code
            )
            overruns.append(Overrun(module, code, count, limit, new, renames_possible=shrunk))
        elif count < limit:
            tightenings.append(Tightening(module, code, limit, count))
            replacements[module, code] = {
                function: number for (m, c, function), number in current.items() if m == module and c == code
            }

    for overrun in overruns:
        _explain_moves(overrun, original, current, checked_modules, now, original.by_module_code())
    return RatchetResult(overruns, tightenings, uncovered, baseline.replacing(replacements), moves)


def _short(function: str) -> str:
    return function.rpartition(".")[2]


def find_moves(current: Counter, baseline: Baseline, checked_modules: set[str]) -> list[Move]:
    """Match findings a function gained in one module with what a function of the same name lost
    in another checked module (qualified name first, then the last part of it, so a method moved
    out of a class still matches). Each lost finding pays for at most one gained finding, so a
    move never lets the total grow."""
    gained: dict[tuple[str, str, str], int] = {}
    for (module, code, function), number in sorted(current.items()):
        extra = number - baseline.entries.get((module, code, function), 0)
        if extra > 0 and module in checked_modules:
            gained[module, code, function] = extra
    lost: dict[tuple[str, str, str], int] = {}
    for (module, code, function), recorded in sorted(baseline.entries.items()):
        missing = recorded - current.get((module, code, function), 0)
        if missing > 0 and module in checked_modules:
            lost[module, code, function] = missing
    moves: list[Move] = []
    for same in (lambda a, b: a == b, lambda a, b: _short(a) == _short(b)):
        for (target, code, function), extra in gained.items():
            for (source, lost_code, old_function), missing in lost.items():
                if extra == 0:
                    break
                if lost_code != code or source == target or missing == 0 or not same(function, old_function):
                    continue
                number = min(extra, missing)
                moves.append(Move(code, function, source, target, number, old_function))
                extra -= number
                lost[source, lost_code, old_function] = missing - number
            gained[target, code, function] = extra
    return moves


def follow_moves(baseline: Baseline, moves: Sequence[Move]) -> Baseline:
    """The baseline with each moved count taken from the source entry and given to the target."""
    if not moves:
        return baseline
    entries = dict(baseline.entries)
    for move in moves:
        old = (move.source, move.code, move.source_function)
        entries[old] = entries.get(old, 0) - move.count
        if entries[old] <= 0:
            del entries[old]
        new = (move.target, move.code, move.function)
        entries[new] = entries.get(new, 0) + move.count
    return Baseline(baseline.codes, entries)


def _explain_moves(
    overrun: Overrun,
    baseline: Baseline,
    current: Counter,
    checked_modules: set[str],
    now: Counter,
    allowed: Counter,
) -> None:
    """Name the modules a new function came from (same name, fewer findings there now)."""
    code = overrun.code
    new_names = {n.function for n in overrun.new} | {n.function.rpartition(".")[2] for n in overrun.new}
    sources = set()
    for (module, c, function), recorded in baseline.entries.items():
        if c != code or module == overrun.module or module not in checked_modules:
            continue
        short = function.rpartition(".")[2]
        if (function in new_names or short in new_names) and current.get((module, c, function), 0) < recorded:
            sources.add(module)
    overrun.moved_from = sorted(sources)
    total_now = sum(n for (m, c), n in now.items() if c == code and m in checked_modules)
    total_allowed = sum(n for (m, c), n in allowed.items() if c == code and m in checked_modules)
    overrun.total_grew = total_now > total_allowed
