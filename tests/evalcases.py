"""Eval files: code whose trailing comments state the expected findings.

A line ending in ``# DBS001`` (or ``# DBS001 DBS003``) expects exactly those codes on that line;
every other line expects none. Header comments configure the run:
``# module: app.routers.tools`` (the module name) and ``# config: key = value`` (a setting).
"""

from __future__ import annotations

import ast
import os
import re
from collections import Counter

from flake8_db_session.analysis import analyze
from flake8_db_session.config import Settings, settings_from_mapping

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
_EXPECT = re.compile(r"#\s*((?:DBS\d{3}[ ,]*)+)\s*$")
_MODULE = re.compile(r"^#\s*module:\s*(\S+)", re.MULTILINE)
_CONFIG = re.compile(r"^#\s*config:\s*([\w-]+)\s*=\s*(.*)$", re.MULTILINE)


def case_files(prefix: str = "") -> list[str]:
    return sorted(f for f in os.listdir(CASES) if f.endswith(".py") and f.startswith(prefix))


def expected(source: str) -> Counter:
    found: Counter = Counter()
    for lineno, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            for code in re.findall(r"DBS\d{3}", match.group(1)):
                found[(lineno, code)] += 1
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
    if index is not None:
        kwargs["index"] = index
    findings = analyze(source, path, settings_for(source), **kwargs)
    actual = Counter((f.line, f.code) for f in findings)
    return expected(source), actual, findings


def check_case(name: str, index=None) -> None:
    want, got, findings = run_case(name, index)
    missing = want - got
    extra = got - want
    lines = [f"{name}:{line}: expected {code}, not reported" for (line, code) in sorted(missing)]
    lines += [f"{name}:{line}: unexpected {code}" for (line, code) in sorted(extra)]
    assert not lines, "\n".join(lines)
    ast.parse(open(os.path.join(CASES, name), encoding="utf-8").read())  # cases stay valid Python
