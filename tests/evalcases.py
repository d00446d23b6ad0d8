"""Eval files: code whose trailing comments state the expected findings.

A line ending in ``# DBS001`` (or ``# DBS001 DBS003``) expects exactly those codes on that line;
every other line expects none. A code may also pin the column (1-based, as flake8 prints it) and a
fragment of the message, as flake8-bugbear and flake8-async eval files do:
``# DBS005:12 "lazy relationship members"`` or ``# DBS001:24 "get_db" DBS003``.
Header comments configure the run:
``# module: app.routers.tools`` (the module name) and ``# config: key = value`` (a setting).
"""

from __future__ import annotations

import ast
import os
import re
from collections import Counter

from flake8_db_session.analysis import analyze
from flake8_db_session.config import Settings, settings_from_mapping
from flake8_db_session.project import context_for_path

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
_EXPECT = re.compile(r'#\s*((?:DBS\d{3}(?::\d+)?(?:\s+"[^"]*")?[ ,]*)+)\s*$')
_EXPECTATION = re.compile(r'(DBS\d{3})(?::(\d+))?(?:\s+"([^"]*)")?')
_MODULE = re.compile(r"^#\s*module:\s*(\S+)", re.MULTILINE)
_CONFIG = re.compile(r"^#\s*config:\s*([\w-]+)\s*=\s*(.*)$", re.MULTILINE)


def case_files(prefix: str = "") -> list[str]:
    return sorted(f for f in os.listdir(CASES) if f.endswith(".py") and f.startswith(prefix))


def expected(source: str) -> Counter:
    found: Counter = Counter()
    for lineno, line, code, _col, _fragment in expectations(source):
        found[(lineno, code)] += 1
    return found


def expectations(source: str) -> list[tuple[int, str, str, int | None, str | None]]:
    """(line, source line, code, 1-based column or None, message fragment or None) per expectation."""
    found = []
    for lineno, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            for code, col, fragment in _EXPECTATION.findall(match.group(1)):
                found.append((lineno, line, code, int(col) if col else None, fragment or None))
    return found


def settings_for(source: str) -> Settings:
    values = {key: value.strip() for key, value in _CONFIG.findall(source)}
    return settings_from_mapping(values, root=CASES) if values else Settings(root=CASES)


def run_case(name: str, index=None):
    path = os.path.join(CASES, name)
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    module_match = _MODULE.search(source)
    kwargs = {"module": module_match.group(1)} if module_match else {}
    settings = settings_for(source)
    # The file-backed index, as the flake8 plugin and the command use: it reads configured
    # model files (``db-session-model-modules`` by path) for the core, which reads no files.
    kwargs["index"] = index if index is not None else context_for_path(path, settings)[2]
    findings = analyze(source, path, settings, **kwargs)
    actual = Counter((f.line, f.code) for f in findings)
    return expected(source), actual, findings


def check_case(name: str, index=None) -> None:
    want, got, findings = run_case(name, index)
    missing = want - got
    extra = got - want
    lines = [f"{name}:{line}: expected {code}, not reported" for (line, code) in sorted(missing)]
    lines += [f"{name}:{line}: unexpected {code}" for (line, code) in sorted(extra)]
    source = open(os.path.join(CASES, name), encoding="utf-8").read()
    for lineno, _line, code, col, fragment in expectations(source):
        here = [f for f in findings if f.line == lineno and f.code == code]
        if col is not None and not any(f.col + 1 == col for f in here):
            lines.append(f"{name}:{lineno}: expected {code} at column {col}, got {[f.col + 1 for f in here]}")
        if fragment is not None and not any(fragment in f.message for f in here):
            lines.append(f"{name}:{lineno}: expected {code} message to contain {fragment!r}, got {[f.message for f in here]}")
    assert not lines, "\n".join(lines)
    ast.parse(open(os.path.join(CASES, name), encoding="utf-8").read())  # cases stay valid Python
