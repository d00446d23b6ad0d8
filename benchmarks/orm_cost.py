"""The ORM rules' own cost against ``ast.parse``, in one process, once the project index is warm.

Run as ``python -m benchmarks.orm_cost ROOT PACKAGE [RUNS]`` (e.g. the unpacked
mcp-contextforge-gateway wheel and ``mcpgateway``). Every file is read and parsed once up front;
then, RUNS times, interleaved: ``ast.parse`` of every file, and the ORM check (DBS003-DBS009,
``escapes.check``) over every parsed module with the project index already loaded (what an
editor or a ``check`` worker pays per file after its first). The first ORM pass, which loads the
index (model summaries of the imported modules), is reported separately as "cold". Per-module
memos the check keeps on its context are dropped before each pass, so a pass redoes all work.
"""

from __future__ import annotations

import ast
import gc
import os
import statistics
import sys
import time

from flake8_db_session.analysis import escapes
from flake8_db_session.analysis.context import ModuleContext
from flake8_db_session.config import Settings
from flake8_db_session.project import context_for_path


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m benchmarks.orm_cost ROOT PACKAGE [RUNS]", file=sys.stderr)
        return 2
    root, package = argv[0], argv[1]
    runs = int(argv[2]) if len(argv) == 3 else 7
    settings = Settings(root=root)
    files = sorted(
        os.path.join(directory, name)
        for directory, _, names in os.walk(os.path.join(root, package))
        for name in names
        if name.endswith(".py")
    )
    sources = {}
    for path in files:
        with open(path, encoding="utf-8") as handle:
            sources[path] = handle.read()
    contexts = []
    for path in files:
        module, is_package, index = context_for_path(path, settings)
        tree = ast.parse(sources[path], filename=path)
        contexts.append(
            ModuleContext.build(
                tree, path, settings, source=sources[path], lines=sources[path].splitlines(True),
                module=module, is_package=is_package, index=index,
            )
        )

    def parse_all() -> float:
        start = time.perf_counter()
        for path in files:
            ast.parse(sources[path], filename=path)
        return time.perf_counter() - start

    def orm_all() -> tuple[float, int]:
        for ctx in contexts:
            for name in [n for n in vars(ctx) if n.startswith("_dbs")]:
                delattr(ctx, name)
        start = time.perf_counter()
        found = sum(len(escapes.check(ctx)) for ctx in contexts)
        return time.perf_counter() - start, found

    cold, found = orm_all()
    parses, checks = [], []
    for _ in range(runs):
        gc.collect()
        parses.append(parse_all())
        gc.collect()
        checks.append(orm_all()[0])
    parse, check = statistics.median(parses), statistics.median(checks)
    print(
        f"{len(files)} files, {found} ORM findings; ast.parse {parse:.3f}s (median of {runs}), "
        f"ORM check warm {check:.3f}s = {check / parse:.3f}x (min {min(checks) / min(parses):.3f}x), "
        f"first pass with the index loading {cold:.3f}s = {cold / parse:.3f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
