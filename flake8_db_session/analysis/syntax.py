"""Syntax helpers shared by the analysis modules."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing.TypeGuard is new in 3.10; annotations are not evaluated at run time
    from typing import TypeGuard

# ``try`` and, from Python 3.11, ``try``/``except*`` (the same fields).
if sys.version_info >= (3, 11):
    TryNode = ast.Try | ast.TryStar
else:
    TryNode = ast.Try


def is_try(stmt: ast.AST) -> TypeGuard[TryNode]:
    return isinstance(stmt, ast.Try) or (sys.version_info >= (3, 11) and isinstance(stmt, ast.TryStar))


def branches(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists of an ``if`` or ``try``/``try``-``except*`` (empty for anything else)."""
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if is_try(stmt):
        return [stmt.body, stmt.orelse, *(handler.body for handler in stmt.handlers), stmt.finalbody]
    return []


def module_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, also inside top-level if/try (optional imports, TYPE_CHECKING,
    fallbacks); the if/try statements themselves are not yielded."""
    for stmt in body:
        blocks = branches(stmt)
        if not blocks:
            yield stmt
        for block in blocks:
            yield from module_level_statements(block)


# ``from origin import names`` at the start of a line, for the few questions answered without
# parsing (re-exports of a module the index has not parsed): group 1 the origin, group 2 the
# names, parenthesized over several lines or up to the end of the line. It starts with the
# newline, not ``^`` with MULTILINE: the engine then jumps from one newline to the next instead
# of trying every position (2.5x faster over a large module).
_FROM_IMPORT_AFTER_NEWLINE = re.compile(r"\n[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)")


def from_imports(text: str) -> list[tuple[str, str]]:
    """(origin, names) of every ``from origin import names`` line of a module's text."""
    return _FROM_IMPORT_AFTER_NEWLINE.findall("\n" + text)


# One ``name`` or ``name as alias`` of those names.
IMPORTED_NAME = re.compile(r"(\w+)(?:\s+as\s+(\w+))?")
