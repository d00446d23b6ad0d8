"""Which short-scope factory an endpoint gets, how to call it, and which import it needs.

``db-session-scope-factory = module:name`` names it; by default it is ``fresh_db_session`` from
the module that defines the session dependency (``fresh_db_session = contextmanager(get_db)``
beside ``get_db``), spelled the way the file already imports that module.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from ..analysis.context import ModuleContext
from ..analysis.names import resolve_relative
from ..config import DEFAULT_SCOPE_NAME


@dataclass(frozen=True)
class Factory:
    call: str  # what the code calls: "fresh_db_session" or "deps.fresh_db_session"
    is_async: bool
    import_line: str = ""  # "from app.db import fresh_db_session", empty when bound already
    anchor_line: int = 0  # insert the import after this 1-based line (0: after the last import)


class NoFactory(Exception):
    """The factory cannot be determined: the endpoint is skipped with this reason."""


def _module_text(ctx: ModuleContext, module: str) -> str | None:
    if module == ctx.module and ctx.source:
        return ctx.source
    path = ctx.index.module_file(module)
    if path is None or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


@lru_cache(maxsize=256)
def _definition(text: str, name: str) -> str | None:
    """"async", "sync" or None: how ``name`` is defined (or re-exported) in a module's text."""
    word = re.escape(name)
    if re.search(rf"^[ \t]*(?:{word}\s*(?::[^=\n]*)?=\s*(?:contextlib\.)?asynccontextmanager\(|async\s+def\s+{word}\b)", text, re.MULTILINE):
        return "async"
    if re.search(rf"^[ \t]*(?:{word}\s*(?::[^=\n]*)?=|def\s+{word}\b|class\s+{word}\b)", text, re.MULTILINE):
        return "sync"
    if re.search(rf"^[ \t]*from\s+\S+\s+import\s+(?:\([^)]*\b{word}\b|[^\n]*\b{word}\b)", text, re.MULTILINE):
        return "sync"  # re-exported; assume the common synchronous contextmanager(get_db)
    return None


def _import_spelling(ctx: ModuleContext, local: str) -> tuple[str, int] | None:
    """(module as written, line of the statement) of the module-level ``from M import local``."""
    for stmt in ctx.tree.body:
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if (alias.asname or alias.name) == local:
                    return "." * stmt.level + (stmt.module or ""), stmt.end_lineno or stmt.lineno
    return None


def resolve_factory(
    ctx: ModuleContext, dependency: str, async_hint: bool, async_endpoint: bool, alias: str | None = None
) -> Factory:
    """The factory for an endpoint whose session dependency is written ``dependency``.

    ``alias`` is the qualified name of the type alias (``app.deps.DbSession``) when the endpoint
    uses one: the dependency is then written in the alias's module.
    """
    settings = ctx.settings
    names = ctx.names
    if settings.scope_factory:
        module, _, name = settings.scope_factory.partition(":")
        name = name or DEFAULT_SCOPE_NAME
        text = _module_text(ctx, module) if module else None
        kind = _definition(text, name) if text else None
        factory = _bound_or_import(ctx, name, module, f"{module}.{name}" if module else name, _import_of(ctx, module))
        return _checked(factory, kind == "async" if kind else async_hint, async_endpoint)

    name = DEFAULT_SCOPE_NAME
    head, _, rest = dependency.partition(".")
    if rest:
        # deps.get_db: call deps.fresh_db_session, the module is imported already.
        module = names.qualify_name(head)
        text = _module_text(ctx, module)
        kind = _definition(text, name) if text else None
        if kind is None:
            raise NoFactory(f"no {name} in {module}; set db-session-scope-factory")
        prefix = dependency.rpartition(".")[0]
        return _checked(Factory(f"{prefix}.{name}", kind == "async"), kind == "async", async_endpoint)

    if head in names.local:
        kind = _definition(ctx.source, name) if ctx.source else None
        if kind is None:
            raise NoFactory(f"{head} is defined here but {name} is not; set db-session-scope-factory")
        return _checked(Factory(name, kind == "async"), kind == "async", async_endpoint)

    qualified = names.imports.get(head)
    spelling = _import_spelling(ctx, head)
    if qualified is None and alias and "." in alias:
        qualified = _qualify_in(ctx, alias.rpartition(".")[0], head)
        if qualified is not None:
            spelling = (qualified.rpartition(".")[0], 0)  # absolute: the file does not import it
    if qualified is None or spelling is None or "." not in qualified:
        raise NoFactory(f"cannot tell where {dependency} comes from; set db-session-scope-factory")
    module = qualified.rpartition(".")[0]
    text = _module_text(ctx, module)
    kind = _definition(text, name) if text else None
    if kind is None:
        raise NoFactory(f"no {name} in {module}; set db-session-scope-factory")
    written, line = spelling
    factory = _bound_or_import(ctx, name, written, f"{module}.{name}", line)
    return _checked(factory, kind == "async", async_endpoint)


def _import_of(ctx: ModuleContext, module: str) -> int:
    """Last line of a module-level ``from module import ...`` (0 when there is none)."""
    for stmt in ctx.tree.body:
        if not isinstance(stmt, ast.ImportFrom) or not stmt.module:
            continue
        imported = resolve_relative(ctx.module, ctx.is_package, stmt.level, stmt.module) if stmt.level else stmt.module
        if imported == module:
            return stmt.end_lineno or stmt.lineno
    return 0


def _qualify_in(ctx: ModuleContext, module: str, name: str) -> str | None:
    """What ``name`` means inside another project module (where a type alias was defined)."""
    from ..analysis.names import Names

    text = _module_text(ctx, module)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    path = ctx.index.module_file(module) or ""
    names = Names(module, bool(path) and path.endswith("__init__.py"))
    names.add_module_level_bindings(tree.body)
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.add_import(stmt)
    if name in names.local:
        return f"{module}.{name}"
    return names.imports.get(name)


def _bound_or_import(ctx: ModuleContext, name: str, written_module: str, qualified: str, anchor: int) -> Factory:
    names = ctx.names
    if name in names.local:
        if (ctx.module and qualified == f"{ctx.module}.{name}") or not written_module:
            return Factory(name, False)
        raise NoFactory(f"{name} is already defined in this module as something else")
    bound = names.imports.get(name)
    if bound is not None:
        if bound == qualified or (bound.rpartition(".")[2] == name and written_module.startswith(".")):
            return Factory(name, False)
        raise NoFactory(f"{name} is already imported here from {bound.rpartition('.')[0]}")
    if not written_module:
        raise NoFactory(f"{name} is not defined; set db-session-scope-factory to module:name")
    return Factory(name, False, f"from {written_module} import {name}", anchor)


def _checked(factory: Factory, is_async: bool, async_endpoint: bool) -> Factory:
    if is_async and not async_endpoint:
        raise NoFactory("the scope factory is asynchronous but the endpoint is not")
    return Factory(factory.call, is_async, factory.import_line, factory.anchor_line)
