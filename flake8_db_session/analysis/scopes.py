"""Session scopes: which calls open a session, how it ends, and DBS008 (no guaranteed close).

A scope is opened by ``with factory() as db`` (also ``async with``), by ``db = factory()`` or
``db = next(get_db())`` closed later by ``db.close()`` (ideally in ``finally``), or it is a session
handed in as a parameter (request-scoped, closed only if the body calls ``close()``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..rules import format_message
from .astutil import closed_names, dotted
from .context import ModuleContext
from .findings import Finding
from .names import matches_configured
from .syntax import is_try

if TYPE_CHECKING:
    from .models import ModelResolver

_SQLALCHEMY_SESSIONS = ("Session", "AsyncSession")
# Libraries whose Session/AsyncSession classes are SQLAlchemy sessions (SQLModel subclasses them).
_SESSION_LIBRARIES = ("sqlalchemy", "sqlmodel")


def is_session_class(qualified: str) -> bool:
    """``sqlalchemy.orm.Session``, ``sqlalchemy.ext.asyncio.AsyncSession``, SQLModel's
    ``sqlmodel.Session`` and ``sqlmodel.ext.asyncio.session.AsyncSession``."""
    return qualified.startswith(_SESSION_LIBRARIES) and qualified.rpartition(".")[2] in _SQLALCHEMY_SESSIONS


@dataclass(frozen=True)
class ScopeSpec:
    """What a scope-opening call means."""

    label: str  # as written, e.g. "fresh_db_session" or "SessionLocal"
    commits_on_exit: bool  # a commit-on-success context manager (or ``.begin()``)
    expire_on_commit: bool
    acquisition: bool  # a session object (``SessionLocal()``), not a context-manager function
    is_async: bool = False


def _kw_bool(call: ast.Call, name: str) -> bool | None:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, bool):
            return keyword.value.value
    return None


def _configured(ctx: ModuleContext, qualified: str) -> bool:
    """A configured scope name, but not a same-named class of an unrelated library (requests.Session)."""
    if not matches_configured(qualified, ctx.settings.scopes):
        return False
    if "." not in qualified or qualified.rpartition(".")[2] not in _SQLALCHEMY_SESSIONS:
        return True
    module = qualified.rpartition(".")[0]
    return (
        module.startswith(_SESSION_LIBRARIES)
        or module == ctx.module
        or ctx.index.is_project_module(module)
        or any("." in name and name == qualified for name in ctx.settings.scopes)
    )


def _configured_method(func: ast.expr, ctx: ModuleContext) -> str | None:
    """A scope configured (or discovered) as a method, ``pkg.mod.Class.method``, called on an
    instance, ``self`` or ``cls`` (``db_service.with_session()``): the configured name. The
    receiver's class is rarely knowable statically; a method name is specific enough."""
    if not isinstance(func, ast.Attribute):
        return None
    for name in ctx.settings.scopes:
        parts = name.split(".")
        if len(parts) >= 3 and parts[-1] == func.attr and parts[-2][:1].isupper():
            return name
    return None


def scope_spec(call: ast.expr, ctx: ModuleContext, models: ModelResolver) -> ScopeSpec | None:
    """The scope a call opens, or None if it does not open one."""
    if not isinstance(call, ast.Call) or not isinstance(call.func, (ast.Name, ast.Attribute)):
        return None
    func = call.func
    is_begin = isinstance(func, ast.Attribute) and func.attr == "begin" and not call.args
    target = func.value if is_begin and isinstance(func, ast.Attribute) else func
    qualified = ctx.names.qualify(target)
    method = None if is_begin else _configured_method(func, ctx)
    if method is not None and not (qualified and matches_configured(qualified, ctx.settings.scopes)):
        qualified = method
    if not qualified:
        return None
    label = dotted(func) or ""
    last = qualified.rpartition(".")[2]
    is_async = last.startswith("Async") or "async" in last.lower()
    maker_expire = models.sessionmaker_expire(qualified)
    if maker_expire is not None:
        return ScopeSpec(label, is_begin, maker_expire, not is_begin, is_async)
    if last in _SQLALCHEMY_SESSIONS and (is_session_class(qualified) or "." not in qualified):
        if "." not in qualified and not _configured(ctx, qualified):
            return None
        expire = _kw_bool(call, "expire_on_commit")
        return ScopeSpec(label, is_begin, expire is not False, not is_begin, last == "AsyncSession")
    if is_begin or not _configured(ctx, qualified):
        return None
    facts = models.scope_facts(qualified)
    if facts is not None:
        commits, expire = facts
        return ScopeSpec(label, commits, expire, False, is_async)
    # An unresolvable configured scope: assume nothing that could produce a false alarm.
    return ScopeSpec(label, False, False, last in ("SessionLocal",), is_async)


def next_dependency(call: ast.expr, ctx: ModuleContext) -> str | None:
    """``next(get_db())`` with a configured session dependency: the dependency as written."""
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "next"
        and ctx.names.is_unbound("next")
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Call)
    ):
        return None
    inner = call.args[0].func
    qualified = ctx.names.qualify(inner) if isinstance(inner, (ast.Name, ast.Attribute)) else None
    if qualified and matches_configured(qualified, ctx.settings.dependencies):
        return dotted(inner) or ""
    return None


# --- DBS008 -----------------------------------------------------------------------------------


def _own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a function body, without descending into nested functions and classes."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


def _mentions(node: ast.AST | None, name: str) -> bool:
    return node is not None and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def guaranteed_close(function: ast.AST, name: str) -> bool:
    """A ``finally`` that closes it, a ``with`` over it, or ownership handed on (returned, stored)."""
    body: list[ast.stmt] = getattr(function, "body", [])  # a def, or the module for module-level code
    for node in _own_nodes(body):
        if is_try(node):
            if name in closed_names(node.finalbody, ("close", "aclose")):
                return True
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            if any(_mentions(item.context_expr, name) for item in node.items):
                return True
        elif isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
            if _mentions(node.value, name):
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(not isinstance(t, ast.Name) for t in targets) and _mentions(node.value, name):
                return True  # stored on an object or in a container: its owner closes it
    return False


def unclosed(ctx: ModuleContext, function: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, acquisitions: list[tuple[ast.Assign, str, str]]) -> list[Finding]:
    """DBS008 for the sessions a function acquired (found by the flow analysis)."""
    findings: list[Finding] = []
    seen: set[int] = set()
    for node, name, source in acquisitions:
        if id(node) in seen or guaranteed_close(function, name):
            continue
        seen.add(id(node))
        message = format_message("DBS008", session=name, source=source, scope=ctx.settings.scope_name)
        findings.append(ctx.finding(node, "DBS008", message, qualname))
    return findings
