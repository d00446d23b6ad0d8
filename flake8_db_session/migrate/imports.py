"""Drop the imports the migration left unused (``Depends``, ``Session``, ``get_db``...).

Only names that appeared in a removed session parameter are candidates, only module-level
``from x import ...`` statements are edited, and a name stays whenever its word still occurs
anywhere else in the file (code, strings, comments, ``__all__``): better an unused import than
a broken module.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from ast_grep_py import SgRoot


def drop_unused_imports(source: str, candidates: Iterable[str]) -> str:
    candidates = set(candidates)
    while candidates:
        edited = _drop_one(source, candidates)
        if edited is None:
            return source
        source, name = edited
        candidates.discard(name)
    return source


def _drop_one(source: str, candidates: set[str]) -> tuple[str, str] | None:
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for stmt in tree.body:
        if not isinstance(stmt, ast.ImportFrom) or stmt.module == "__future__":
            continue
        bound = [(alias.asname or alias.name) for alias in stmt.names]
        start_line, end_line = stmt.lineno, stmt.end_lineno or stmt.lineno
        rest = "".join(lines[: start_line - 1]) + "".join(lines[end_line:])
        for name in bound:
            if name in candidates and not re.search(rf"\b{re.escape(name)}\b", rest):
                edited = _remove_name(source, stmt, name, len(bound) == 1)
                if edited is not None:
                    return edited, name
    return None


def _remove_name(source: str, stmt: ast.ImportFrom, name: str, whole: bool) -> str | None:
    root = SgRoot(source, "python").root()
    node = next(
        (n for n in root.find_all(kind="import_from_statement") if n.range().start.line == stmt.lineno - 1), None
    )
    if node is None:
        return None
    if whole:
        start, end = node.range().start, node.range().end
        line_start = start.index - start.column
        tail = source[end.index :]
        after = len(tail) - len(tail.lstrip(" \t"))
        if start.column != 0 or not tail[after:].startswith(("\n", "\r")):
            return None  # shares its line with other code: leave it
        newline = 2 if tail[after:].startswith("\r\n") else 1
        edit = node.replace("")
        edit.start_pos, edit.end_pos = line_start, end.index + after + newline
    else:
        names = node.field_children("name")
        texts = [(n.field("alias") or n).text() if n.kind() == "aliased_import" else n.text() for n in names]
        if name not in texts:
            return None
        index = texts.index(name)
        if index + 1 < len(names):
            begin, finish = names[index].range().start.index, names[index + 1].range().start.index
        else:
            begin, finish = names[index - 1].range().end.index, names[index].range().end.index
        edit = node.replace("")
        edit.start_pos, edit.end_pos = begin, finish
    result = root.commit_edits([edit])
    try:
        ast.parse(result)
    except SyntaxError:
        return None
    return result
