"""The baseline file: how many findings of each ratcheted code each module and function may hold.

Keyed by module path (posix, relative to the config root), code and the enclosing function's
qualified name; no line numbers, so edits elsewhere in a file never break it. Written sorted, one
entry per line and atomically, so it diffs and merges well and a reader never sees half a file.
A corrupt file is a one-line ``BaselineError`` (exit 2) and is never written over by a check.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ..analysis.findings import Finding
from ..config import ConfigError
from ..fileio import WriteError, describe_os_error, remove_stale_temporaries, write_atomic
from .counts import module_key

FORMAT = "flake8-db-session-baseline"
VERSION = 1
_CODE = re.compile(r"^[A-Z]{1,3}[0-9]{1,3}$")

Key = tuple[str, str, str]  # (module, code, function)


class BaselineError(ConfigError):
    """The baseline cannot be read or is not a baseline: exit 2, the file is left as it was."""


class ProtectedBaselineError(BaselineError):
    """A baseline path that ``baseline`` must not replace either: a file in a newer format (its
    message says to upgrade), or something that is not a file."""


@dataclass(frozen=True)
class Baseline:
    codes: tuple[str, ...]  # the codes this baseline covers (the ratchet enforces only these)
    entries: Mapping[Key, int] = field(default_factory=dict)

    @classmethod
    def from_findings(cls, findings: Iterable[Finding], *, root: str, codes: Iterable[str]) -> Baseline:
        codes = tuple(sorted(set(codes)))
        return cls(codes, dict(function_counts(findings, root=root, codes=codes)))

    def allowed(self, module: str, code: str) -> int:
        return sum(n for (m, c, _f), n in self.entries.items() if m == module and c == code)

    def by_module_code(self) -> Counter:
        totals: Counter = Counter()
        for (module, code, _function), number in self.entries.items():
            totals[module, code] += number
        return totals

    def modules(self) -> set[str]:
        return {module for module, _code, _function in self.entries}

    def replacing(self, replacements: Mapping[tuple[str, str], Mapping[str, int]]) -> Baseline:
        """A copy whose (module, code) entries are replaced (an empty mapping removes them)."""
        entries = {k: n for k, n in self.entries.items() if (k[0], k[1]) not in replacements}
        for (module, code), functions in replacements.items():
            for function, number in functions.items():
                if number > 0:
                    entries[module, code, function] = number
        return Baseline(self.codes, entries)

    def render(self) -> str:
        """The file's text: deterministic, sorted, one entry per line."""
        lines = [
            "{",
            f'  "format": {json.dumps(FORMAT)},',
            f'  "version": {VERSION},',
            f'  "codes": {json.dumps(list(self.codes))},',
        ]
        items = sorted(self.entries.items())
        if not items:
            lines.append('  "entries": []')
        else:
            lines.append('  "entries": [')
            for position, ((module, code, function), number) in enumerate(items):
                entry = json.dumps(
                    {"module": module, "code": code, "function": function, "count": number},
                    ensure_ascii=False,
                )
                lines.append(f"    {entry}{',' if position < len(items) - 1 else ''}")
            lines.append("  ]")
        lines.append("}")
        return "\n".join(lines) + "\n"


def function_counts(findings: Iterable[Finding], *, root: str, codes: Iterable[str]) -> Counter:
    """(module, code, function) -> findings, for the given codes. noqa'd findings count."""
    wanted = set(codes)
    counts: Counter = Counter()
    for finding in findings:
        if finding.code in wanted:
            counts[module_key(finding.path, root), finding.code, finding.function] += 1
    return counts


def _fail(path: str, why: str) -> BaselineError:
    return BaselineError(
        f"{path}: {why}; fix it, or rewrite it from the code with `flake8-db-session baseline`"
    )


def parse(text: str, path: str = "baseline") -> Baseline:
    """Parse and validate a baseline's text. Raises BaselineError with a one-line reason."""
    if re.search(r"^(<{7}|>{7}|={7})( |$)", text, re.MULTILINE):
        raise _fail(path, "has merge conflict markers")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(path, f'not a baseline file (no "format": "{FORMAT}")')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(path, "has no format version")
    if version > VERSION:
        raise ProtectedBaselineError(
            f"{path}: baseline format version {version} is newer than this flake8-db-session "
            f"understands ({VERSION}); upgrade flake8-db-session"
        )
    if version < 1:
        raise _fail(path, f"unknown format version {version}")
    codes = data.get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) and _CODE.match(c) for c in codes):
        raise _fail(path, '"codes" must be a list of codes such as "DBS001"')
    entries_data = data.get("entries")
    if not isinstance(entries_data, list):
        raise _fail(path, '"entries" must be a list')
    entries: dict[Key, int] = {}
    for position, item in enumerate(entries_data, start=1):
        where = f"entry {position}"
        if not isinstance(item, dict):
            raise _fail(path, f"{where} is not an object")
        module, code, function, number = (item.get(k) for k in ("module", "code", "function", "count"))
        if not isinstance(module, str) or not module:
            raise _fail(path, f"{where}: \"module\" must be a non-empty path")
        if not isinstance(code, str) or code not in codes:
            raise _fail(path, f"{where}: \"code\" {code!r} is not one of the baseline's codes")
        if not isinstance(function, str) or not function:
            raise _fail(path, f"{where}: \"function\" must be a non-empty name")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise _fail(path, f"{where}: \"count\" must be a positive integer")
        key = (module, code, function)
        if key in entries:
            raise _fail(path, f"{where} repeats {module} {code} {function}")
        entries[key] = number
    return Baseline(tuple(codes), entries)


def load(path: str) -> Baseline | None:
    """The baseline at ``path``, or None when there is no file. Raises BaselineError."""
    if os.path.isdir(path):
        raise ProtectedBaselineError(f"{path}: is a directory, not a baseline file")
    remove_stale_temporaries(path)  # left beside it by a write that was killed
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, "is not UTF-8 text") from None
    return parse(text, path)


def write(path: str, baseline: Baseline) -> bool:
    """Write the baseline atomically; False (and no write) when the file already holds exactly it."""
    text = baseline.render()
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {describe_os_error(exc)}") from None
    write_atomic(path, text)
    return True
