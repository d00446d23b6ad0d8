"""Which short scope an endpoint gets, how to call it, and which import it needs.

``db-session-scope-factory = module:name`` names it. Without it, the scope is the one discovery
finds for the endpoint's session provider (``analysis.discovery``, the same that DBS001 names):
the context manager that wraps it (``fresh_db_session = contextmanager(get_db)``) or one it
enters itself (``async with session_scope() as s: yield s``), spelled the way the file already
reaches the provider's module. Nothing here reads a file: other modules are asked of the index.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..analysis.context import ModuleContext
from ..analysis.discovery import MAKER, SCOPE, Discovered
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


def _classify(ctx: ModuleContext, qualified: str) -> Discovered | None:
    """What discovery says a qualified name is; with discovery off, the index still answers for
    a name the configuration gives (what it is, not whether to count it)."""
    found = ctx.discovery.classify(qualified) if ctx.discovery.enabled else None
    return found if found is not None else ctx.index.discovered(qualified)


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
    if settings.scope_factory:
        module, _, name = settings.scope_factory.partition(":")
        name = name or DEFAULT_SCOPE_NAME
        found = _classify(ctx, f"{module}.{name}") if module else None
        is_async = found.is_async if found is not None and found.kind == SCOPE else async_hint
        factory = _bound_or_import(ctx, name, module, f"{module}.{name}" if module else name, _import_of(ctx, module))
        return _checked(factory, is_async, async_endpoint)

    provider = _provider(ctx, dependency, alias)
    if not provider:
        raise NoFactory(f"cannot tell where {dependency} comes from; set db-session-scope-factory")
    scope = ctx.discovery.provider_scope(provider) if ctx.discovery.enabled else ""
    found = _classify(ctx, scope) if scope else None
    if found is None or found.kind != SCOPE:
        found = _conventional_scope(ctx, provider, found.qualified if found is not None and found.kind == MAKER else "")
    if found is None and not scope:
        found = _used_scope(ctx, async_hint, async_endpoint)
    if found is None:
        if scope:
            # A bare sessionmaker neither commits nor rolls back the way the provider may.
            raise NoFactory(f"{provider} opens {scope}, not a context manager; set db-session-scope-factory")
        raise NoFactory(f"no short scope found for {provider}; set db-session-scope-factory")
    module, _, name = found.qualified.rpartition(".")
    if module != ctx.module and not ctx.index.is_project_module(module):
        raise NoFactory(f"the scope {found.qualified} is not a module-level name; set db-session-scope-factory")
    return _checked(_spelled(ctx, dependency, provider, module, name), found.is_async, async_endpoint)


def _provider(ctx: ModuleContext, dependency: str, alias: str | None) -> str:
    """The qualified session provider: through the type alias when there is one."""
    if alias and "." in alias:
        found = ctx.index.session_alias(alias)
        if found is not None and found.qualified:
            return found.qualified
    qualified = ctx.discovery.qualify_text(dependency)
    return qualified if "." in qualified else (f"{ctx.module}.{qualified}" if ctx.module else qualified)


def _conventional_scope(ctx: ModuleContext, provider: str, maker: str) -> Discovered | None:
    """The conventional ``fresh_db_session`` where the provider's own code names no context
    manager: beside the provider (defined or imported there), or beside the sessionmaker the
    provider calls when it wraps a provider of that same sessionmaker."""
    module, _, name = provider.rpartition(".")
    if module:
        facts = ctx.index.name_facts(module, DEFAULT_SCOPE_NAME)
        if facts is not None and facts.kind == "wrapper" and facts.sources[:1] in ((provider,), (name,)):
            return Discovered(f"{module}.{DEFAULT_SCOPE_NAME}", SCOPE, facts.line, facts.is_async)
        found = _classify(ctx, f"{module}.{DEFAULT_SCOPE_NAME}") if facts is not None else None
        if found is not None and found.kind == SCOPE:
            return found
    maker_module = maker.rpartition(".")[0]
    facts = ctx.index.name_facts(maker_module, DEFAULT_SCOPE_NAME) if maker_module else None
    if facts is None or facts.kind != "wrapper" or not facts.sources:
        return None
    wrapped = facts.sources[0] if "." in facts.sources[0] else f"{maker_module}.{facts.sources[0]}"
    wrapped_module, _, wrapped_name = wrapped.rpartition(".")
    wrapped_facts = ctx.index.name_facts(wrapped_module, wrapped_name)
    if wrapped_facts is None or maker not in wrapped_facts.sources:
        return None
    return Discovered(f"{maker_module}.{DEFAULT_SCOPE_NAME}", SCOPE, facts.line, facts.is_async)


def _used_scope(ctx: ModuleContext, async_hint: bool, async_endpoint: bool) -> Discovered | None:
    """Where the provider shows no scope of its own (its code is outside the project): a context
    manager this module already opens, asynchronous for an async session or endpoint by preference."""
    scopes = [what for what in ctx.discovery.used_scopes() if what.kind == SCOPE] if ctx.discovery.enabled else []
    if async_hint:
        scopes = [what for what in scopes if what.is_async]
    elif not async_endpoint:
        scopes = [what for what in scopes if not what.is_async]
    return max(scopes, key=lambda what: what.is_async == async_endpoint, default=None)


def _spelled(ctx: ModuleContext, dependency: str, provider: str, module: str, name: str) -> Factory:
    """How this file calls ``module.name``: the name it already binds, ``deps.name`` beside a
    ``deps.get_db`` dependency, or a new import (spelled like the provider's when they share a module)."""
    qualified = f"{module}.{name}"
    if module == ctx.module:
        return Factory(name, False)
    head, _, rest = dependency.partition(".")
    prefix = dependency.rpartition(".")[0]
    if rest and name not in ctx.names.local and _same(ctx, ctx.discovery.qualify_text(f"{prefix}.{name}"), qualified):
        return Factory(f"{prefix}.{name}", False)
    spelling = _import_spelling(ctx, head) if not rest else None
    if spelling is not None and provider.rpartition(".")[0] == module:
        written, line = spelling
    else:
        written, line = module, _import_of(ctx, module)
    return _bound_or_import(ctx, name, written, qualified, line)


def _same(ctx: ModuleContext, bound: str, qualified: str) -> bool:
    if bound == qualified:
        return True
    found = _classify(ctx, bound)
    return found is not None and found.qualified == qualified


def _import_of(ctx: ModuleContext, module: str) -> int:
    """Last line of a module-level ``from module import ...`` (0 when there is none)."""
    for stmt in ctx.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module:
            if resolve_relative(ctx.module, ctx.is_package, stmt.level, stmt.module) == module if stmt.level else stmt.module == module:
                return stmt.end_lineno or stmt.lineno
    return 0


def _bound_or_import(ctx: ModuleContext, name: str, written_module: str, qualified: str, anchor: int) -> Factory:
    names = ctx.names
    if name in names.local:
        if ctx.module and qualified == f"{ctx.module}.{name}" or not written_module:
            return Factory(name, False)
        raise NoFactory(f"{name} is already defined in this module as something else")
    bound = names.imports.get(name)
    if bound is not None:
        if _same(ctx, bound, qualified) or bound.rpartition(".")[2] == name and written_module.startswith("."):
            return Factory(name, False)
        raise NoFactory(f"{name} is already imported here from {bound.rpartition('.')[0]}")
    if not written_module:
        raise NoFactory(f"{name} is not defined; set db-session-scope-factory to module:name")
    return Factory(name, False, f"from {written_module} import {name}", anchor)


def _checked(factory: Factory, is_async: bool, async_endpoint: bool) -> Factory:
    if is_async and not async_endpoint:
        raise NoFactory("the scope factory is asynchronous but the endpoint is not")
    return Factory(factory.call, is_async, factory.import_line, factory.anchor_line)
