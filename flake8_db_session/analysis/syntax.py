"""Syntax helpers shared by the analysis modules."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator


def branches(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists of an ``if`` or ``try``/``try``-``except*`` (empty for anything else)."""
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, ast.Try):
        return [stmt.body, stmt.orelse, *(handler.body for handler in stmt.handlers), stmt.finalbody]
    if sys.version_info >= (3, 11) and isinstance(stmt, ast.TryStar):
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
