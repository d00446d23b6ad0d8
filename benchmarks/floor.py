"""The floor: read and ``ast.parse`` every file (optionally ``ast.walk`` each tree), one process.

Run as ``python -m benchmarks.floor [--walk] LISTFILE`` where LISTFILE names one path a line.
Each tree is dropped before the next file is parsed, as a linter does, with the interpreter's
default garbage collector settings: this is what any Python linter pays before it does any work.
"""

from __future__ import annotations

import ast
import sys


def main(argv: list[str]) -> int:
    walk = "--walk" in argv
    paths = [a for a in argv if a != "--walk"]
    if len(paths) != 1:
        print("usage: python -m benchmarks.floor [--walk] LISTFILE", file=sys.stderr)
        return 2
    with open(paths[0], encoding="utf-8") as handle:
        files = handle.read().splitlines()
    nodes = 0
    for path in files:
        with open(path, "rb") as source:
            data = source.read()
        tree = ast.parse(data, filename=path)
        if walk:
            for _node in ast.walk(tree):
                nodes += 1
        del tree
    print(f"{len(files)} files, {nodes} nodes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
