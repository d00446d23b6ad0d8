"""An editor save, in process: ``ast.parse`` of one file against our analysis of its tree, run
as the flake8 plugin runs it (``plugin.lint_tree``: its collector setting, the baseline check).

Run as ``python -m benchmarks.editor FILE [--repeat N]`` from the project root (so module names
and the project index resolve as flake8 would); prints one JSON object. ``analysis_first`` is the
first analysis in a fresh process (the project index loads what it needs: what a one-shot
``flake8 file.py`` pays); ``analysis`` is the median of the following ones (a long-lived editor
process such as the language server).

``--stop-after PHASE`` (``start``, ``parse``, ``first``, ``second``) ends the process after that
phase and prints nothing: the instruction counts of consecutive phases, subtracted, give the
parse and the analyses in instructions (see ``benchmarks.instructions.editor_phases``).
"""

from __future__ import annotations

import ast
import json
import os
import statistics
import sys
import time
from typing import Callable

PHASES = ("start", "parse", "first", "second")


def main(argv: list[str]) -> int:
    repeat = 7
    if "--repeat" in argv:
        at = argv.index("--repeat")
        repeat = int(argv[at + 1])
        del argv[at : at + 2]
    stop_after = ""
    if "--stop-after" in argv:
        at = argv.index("--stop-after")
        stop_after = argv[at + 1] if at + 1 < len(argv) else ""
        del argv[at : at + 2]
    if len(argv) != 1 or (stop_after and stop_after not in PHASES):
        print(f"usage: python -m benchmarks.editor FILE [--repeat N | --stop-after {'|'.join(PHASES)}]", file=sys.stderr)
        return 2
    path = argv[0]
    from flake8_db_session.burndown import inline
    from flake8_db_session.config import load_settings
    from flake8_db_session.plugin import lint_tree

    root = os.getcwd()
    settings = load_settings(root)
    baseline = inline.cached_baseline(inline.baseline_file(settings, root))  # as the plugin loads it
    with open(path, "rb") as handle:
        data = handle.read()
    source = data.decode("utf-8")
    lines = source.splitlines(keepends=True)

    def analysis(tree: ast.Module) -> float:
        start = time.perf_counter()
        lint_tree(tree, path, lines, settings, root, baseline)  # what the plugin runs per file
        return time.perf_counter() - start

    if stop_after:
        return _phases(stop_after, data, path, lambda tree: lint_tree(tree, path, lines, settings, root, baseline))
    parses: list[float] = []
    analyses: list[float] = []
    first = None
    for attempt in range(repeat + 1):
        start = time.perf_counter()
        tree = ast.parse(data, filename=path)
        parses.append(time.perf_counter() - start)
        elapsed = analysis(tree)
        if attempt == 0:
            first = elapsed
        else:
            analyses.append(elapsed)
        del tree
    result = {
        "file": path,
        "lines": len(lines),
        "parse": statistics.median(parses),
        "analysis_first": first,
        "analysis": statistics.median(analyses),
    }
    print(json.dumps(result))
    return 0


def _phases(stop_after: str, data: bytes, path: str, lint: Callable[[ast.Module], object]) -> int:
    """The editor's work up to and including ``stop_after``, untimed (counted from outside)."""
    for phase in PHASES[1:]:
        if PHASES.index(phase) > PHASES.index(stop_after):
            break
        if phase == "parse":
            tree = ast.parse(data, filename=path)
        elif phase == "first":
            lint(tree)
        else:  # "second": what a later save costs, parse included (subtracted by the caller)
            tree = ast.parse(data, filename=path)
            lint(tree)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
