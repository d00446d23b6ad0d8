"""The pure analysis core: (source or tree, path, Settings) -> list[Finding].

Every adapter (flake8 plugin, standalone command, reports, codemod) calls ``analyze``. Checks are
registered in ``CHECKS``; each gets one ``ModuleContext`` and returns its findings.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Callable

from ..config import Settings
from . import dependencies, escapes
from .context import EMPTY_INDEX, ModuleContext, ProjectIndex, SessionAlias
from .findings import TAGS, Finding, noqa_covers

Check = Callable[[ModuleContext], "list[Finding]"]

# The registry of checks, run in this order on every module.
CHECKS: list[Check] = [dependencies.check, escapes.check]

__all__ = [
    "CHECKS",
    "EMPTY_INDEX",
    "TAGS",
    "Finding",
    "ModuleContext",
    "ProjectIndex",
    "SessionAlias",
    "analyze",
    "analyze_tree",
    "noqa_covers",
]


def analyze_tree(
    tree: ast.Module,
    path: str,
    settings: Settings,
    *,
    source: str = "",
    lines: Sequence[str] | None = None,
    module: str = "",
    is_package: bool = False,
    index: ProjectIndex = EMPTY_INDEX,
) -> list[Finding]:
    """Findings for one parsed module, sorted by position. ``tree`` is the parse of ``source``
    when both are given (what the project index keeps of the text is keyed by the text)."""
    if lines is None:
        lines = source.splitlines(keepends=True) if source else ()
    ctx = ModuleContext.build(
        tree, path, settings, source=source, lines=lines, module=module, is_package=is_package, index=index
    )
    findings: list[Finding] = []
    try:
        for check in CHECKS:
            findings.extend(check(ctx))
    finally:
        ctx.release()
    findings.sort(key=lambda f: (f.line, f.col, f.code))
    return findings


def analyze(
    source: str,
    path: str = "<unknown>",
    settings: Settings | None = None,
    *,
    module: str = "",
    is_package: bool = False,
    index: ProjectIndex = EMPTY_INDEX,
) -> list[Finding]:
    """Parse and analyze source text. Raises SyntaxError (and ValueError for NUL bytes) like ast.parse."""
    tree = ast.parse(source, filename=path)
    return analyze_tree(
        tree,
        path,
        settings or Settings(),
        source=source,
        module=module,
        is_package=is_package,
        index=index,
    )
