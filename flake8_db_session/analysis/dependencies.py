"""DBS001 / DBS002: request-scoped session dependencies on endpoints and helper dependencies."""

from __future__ import annotations

import ast
import re
import sys
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..rules import format_message
from . import held
from .astutil import dotted, is_word
from .context import (
    ModuleContext,
    SessionAlias,
    iter_statements_on_lines,
    statement_header,
    walk,
    word_lines,
)
from .discovery import session_annotation
from .endpoints import (
    DEPENDENCY_CARRIERS,
    REGISTER_CALLS,
    STREAMING_RESPONSES,
    WEBSOCKET_METHODS,
    WEBSOCKET_REGISTER_CALLS,
    callee_name,
    is_streaming_name,
    registered_function,
    route_decorator,
)
from .findings import Finding
from .names import (
    ANNOTATED,
    FASTAPI_DEPENDS,
    FASTAPI_SECURITY,
    Names,
    matches_configured,
)

# Plain substrings (much faster than a regex) that every registering call and every
# ``dependencies=`` spells: "Route" in "APIRoute" and "APIWebSocketRoute", "add_api_" in both
# ``add_api_*route``. A line they match in vain costs only a short walk.
_CALL_WORDS = ("dependencies", "add_api_", "Route")
MODULE_SCOPE = "<module>"


@dataclass(frozen=True)
class SessionDepends:
    """One ``Depends(get_db)`` (or alias use) found in the code."""

    node: ast.AST  # where the finding sits
    dependency: str  # as written, e.g. "get_db" or "deps.get_db"
    function_scope: bool
    qualified: str = ""  # e.g. "app.db.get_db"


def depends_target(call: ast.AST, ctx: ModuleContext) -> tuple[ast.expr, str, bool] | None:
    """(target, its qualified name, function scope) of any ``Depends(x)``/``Security(x)`` call."""
    if not isinstance(call, ast.Call):
        return None
    names = ctx.names
    if not (
        names.refers_to(call.func, FASTAPI_DEPENDS, "Depends")
        or names.refers_to(call.func, FASTAPI_SECURITY, "Security")
    ):
        return None
    target: ast.expr | None = call.args[0] if call.args else None
    function_scope = False
    for keyword in call.keywords:
        if keyword.arg == "dependency":
            target = keyword.value
        elif keyword.arg == "scope":
            function_scope = isinstance(keyword.value, ast.Constant) and keyword.value.value == "function"
    if target is None:
        return None
    qualified = names.qualify(target)
    if qualified is None:
        return None
    return target, qualified, function_scope


def session_depends(
    call: ast.AST, ctx: ModuleContext, *, typed: bool = False, annotation: ast.expr | None = None
) -> SessionDepends | None:
    """``Depends(get_db)``/``Security(get_db)`` in any of its spellings, when get_db is a session
    dependency: configured, discovered, or on a parameter annotated as a session (``typed``, or
    ``annotation`` says so)."""
    found = depends_target(call, ctx)
    if found is None:
        return None
    target, qualified, function_scope = found
    if not (
        matches_configured(qualified, ctx.settings.dependencies)
        or (
            ctx.discovery.enabled
            and (typed or (annotation is not None and session_annotation(annotation, ctx.names)))
        )
        or ctx.discovery.is_provider(qualified)
    ):
        return None
    return SessionDepends(call, dotted(target) or qualified, function_scope, qualified)


def _alias_value(value: ast.expr, ctx: ModuleContext) -> SessionAlias | None:
    """An alias of a session dependency, or of a dependency that may turn out to be one (kept
    unconfirmed: whether it is depends on other modules, so it is decided where it is used)."""
    if isinstance(value, ast.Subscript) and ctx.names.refers_to(value.value, ANNOTATED, "Annotated"):
        elts = value.slice.elts if isinstance(value.slice, ast.Tuple) else []
        typed = bool(elts) and session_annotation(elts[0], ctx.names)
        for meta in elts[1:]:
            found = depends_target(meta, ctx)
            if found is not None:
                return _alias(found, "annotated", typed, ctx)
        return None
    found = depends_target(value, ctx)
    return None if found is None else _alias(found, "depends", False, ctx)


def _alias(found: tuple[ast.expr, str, bool], kind: str, typed: bool, ctx: ModuleContext) -> SessionAlias | None:
    target, qualified, function_scope = found
    confirmed = matches_configured(qualified, ctx.settings.dependencies) or (typed and ctx.settings.discover)
    if not confirmed and not ctx.settings.discover:
        return None
    return SessionAlias(dotted(target) or qualified, kind, function_scope, qualified, confirmed)


def module_aliases(ctx: ModuleContext) -> dict[str, SessionAlias]:
    """Module-level names that stand for a session dependency (the definitions are not findings)."""
    aliases: dict[str, SessionAlias] = {}
    for stmt in ctx.tree.body:
        value: ast.expr | None = None
        target: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        elif sys.version_info >= (3, 12) and isinstance(stmt, ast.TypeAlias):  # `type DbSession = ...`
            target, value = stmt.name, stmt.value
        if isinstance(target, ast.Name) and value is not None:
            alias = _alias_value(value, ctx)
            if alias is not None:
                aliases[target.id] = alias
    return aliases


def _annotated_depends(annotation: ast.Subscript, ctx: ModuleContext) -> SessionDepends | None:
    elts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
    typed = bool(elts) and session_annotation(elts[0], ctx.names)
    for meta in elts[1:]:
        found = session_depends(meta, ctx, typed=typed)
        if found is not None:
            return found
    return None


@dataclass
class _Function:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    qualname: str
    route_methods: list[str] = field(default_factory=list)


class _DependencyCheck:
    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.names: Names = ctx.names
        self.local_aliases = module_aliases(ctx)
        self.functions: list[_Function] = []
        self.registered: dict[str, bool] = {}  # function name -> registered as websocket
        self.carrier_calls: list[tuple[ast.Call, str]] = []  # (call with dependencies=, scope)
        self.decorator_calls: set[int] = set()
        self._bodies: dict[int, _BodyFacts] = {}
        self._aliases: dict[str | None, SessionAlias | None] = {}  # by the name as written

    # -- collection -----------------------------------------------------------------------------
    def collect(self) -> None:
        for node, qualname in self.ctx.functions:
            function = _Function(node, qualname)
            for decorator in node.decorator_list:
                method = route_decorator(decorator)
                if method:
                    function.route_methods.append(method)
                    self.decorator_calls.add(id(decorator))
            self.functions.append(function)
        # Registering calls and dependencies=[...] can sit in any expression: walk only the
        # statements on the lines whose text mentions them.
        for candidate in self.ctx.nodes_at_matches(_CALL_WORDS):
            if isinstance(candidate, ast.Call):
                self._collect_call(candidate, "")
        if self.carrier_calls:
            self.carrier_calls = [(call, self._enclosing(call)) for call, _ in self.carrier_calls]

    def _enclosing(self, node: ast.AST) -> str:
        """The innermost function around a node (by line span), for module-level naming."""
        line = getattr(node, "lineno", 0)
        best: _Function | None = None
        for function in self.functions:
            start = function.node.lineno
            end = getattr(function.node, "end_lineno", None) or start
            if start <= line <= end and (best is None or start >= best.node.lineno):
                best = function
        return best.qualname if best else ""

    def _collect_call(self, call: ast.Call, scope: str) -> None:
        name = callee_name(call)
        if name is None:
            return
        if name in REGISTER_CALLS:
            target = registered_function(call)
            if isinstance(target, (ast.Name, ast.Attribute)):
                short = target.id if isinstance(target, ast.Name) else target.attr
                self.registered[short] = self.registered.get(short, False) or name in WEBSOCKET_REGISTER_CALLS
        if name in DEPENDENCY_CARRIERS and call.keywords:
            for keyword in call.keywords:
                if keyword.arg == "dependencies":
                    self.carrier_calls.append((call, scope))
                    break

    # -- findings ------------------------------------------------------------------------------
    def findings(self) -> Iterator[Finding]:
        endpoints: dict[int, _Function] = {}
        for function in self.functions:
            if function.route_methods or function.node.name in self.registered:
                endpoints[id(function.node)] = function
        for function in self.functions:
            yield from self._function_findings(function, id(function.node) in endpoints)
        for call, scope in self.carrier_calls:
            yield from self._carrier_findings(call, scope)

    def _function_findings(self, function: _Function, is_endpoint: bool) -> Iterator[Finding]:
        args = function.node.args
        positional = [*args.posonlyargs, *args.args] if args.posonlyargs else args.args
        defaults = args.defaults
        first_default = len(positional) - len(defaults)
        parameters = [
            (arg, defaults[index - first_default] if index >= first_default else None)
            for index, arg in enumerate(positional)
        ]
        parameters.extend(zip(args.kwonlyargs, args.kw_defaults))
        resolution = ""
        for arg, default in parameters:
            if default is None and arg.annotation is None:
                continue  # nothing to find
            for found in self._param_depends(arg, default):
                if not is_endpoint:
                    # DBS002 only where FastAPI resolves the helper (docs/discovery.md).
                    resolution = resolution or self.ctx.discovery.resolution(function.qualname)
                    if resolution == "direct":
                        continue
                yield self._finding(found, function, is_endpoint, param=arg.arg, resolution=resolution)

    def _param_depends(self, arg: ast.arg, default: ast.expr | None) -> Iterator[SessionDepends]:
        if default is not None:
            found = session_depends(default, self.ctx, annotation=arg.annotation)
            if found is not None:
                yield found
            elif isinstance(default, (ast.Name, ast.Attribute)):
                typed = arg.annotation is not None and session_annotation(arg.annotation, self.names)
                alias = self._alias(default, typed)
                if alias is not None and alias.kind == "depends":
                    yield SessionDepends(default, alias.dependency, alias.function_scope, alias.qualified)
        annotation = arg.annotation
        if annotation is None:
            return
        if isinstance(annotation, ast.Subscript) and self.names.refers_to(annotation.value, ANNOTATED, "Annotated"):
            found = _annotated_depends(annotation, self.ctx)
            if found is not None:
                yield found
        elif isinstance(annotation, (ast.Name, ast.Attribute)):
            alias = self._alias(annotation)
            if alias is not None and alias.kind == "annotated":
                yield SessionDepends(annotation, alias.dependency, alias.function_scope, alias.qualified)

    def _alias(self, node: ast.expr, typed: bool = False) -> SessionAlias | None:
        """The session-dependency alias a name stands for: confirmed where it is defined, or a
        dependency that discovery finds is a session provider (or used on a session parameter)."""
        # The same few annotations come back on every endpoint: each spelling is looked up once.
        key = node.id if isinstance(node, ast.Name) else dotted(node)
        if key in self._aliases:
            alias = self._aliases[key]
        else:
            alias = None
            if isinstance(node, ast.Name) and node.id in self.local_aliases:
                alias = self.local_aliases[node.id]
            else:
                qualified = self.names.qualify(node)
                if qualified is not None and "." in qualified:
                    alias = self.ctx.index.session_alias(qualified)
            self._aliases[key] = alias
        if alias is None or alias.confirmed or (typed and self.ctx.discovery.enabled):
            return alias
        if alias.qualified and (
            matches_configured(alias.qualified, self.ctx.settings.dependencies)
            or self.ctx.discovery.is_provider(alias.qualified)
        ):
            return alias
        return None

    def _finding(
        self, found: SessionDepends, function: _Function, is_endpoint: bool, param: str, resolution: str = ""
    ) -> Finding:
        tags = set(self._endpoint_tags(function)) if is_endpoint else set()
        if resolution == "unreferenced":
            tags.add("unreferenced")
        if found.function_scope:
            tags.add("function-scope")
        facts = self._body(function.node)
        body_uses, body_closes = facts.uses(param), facts.closes(param)
        if body_closes:
            tags.add("mitigated")
        if not body_uses and "decorator-db" not in tags:
            tags.add("unused")
        if is_endpoint:
            where = f"on endpoint {function.qualname}"
            code, message = "DBS001", format_message(
                "DBS001", dependency=found.dependency, where=where, advice=self._advice(found)
            )
        else:
            code, message = "DBS002", format_message(
                "DBS002", dependency=found.dependency, function=function.qualname, advice=self._advice(found)
            )
        finding = self.ctx.finding(
            found.node, code, message, function.qualname, tags=frozenset(tags), subject=found.dependency
        )
        return held.annotate(finding, self.ctx, function.node, param)

    def _advice(self, found: SessionDepends) -> str:
        scope = self.ctx.discovery.scope_advice(found.qualified)
        return f"open a short scope with {scope}()" if scope else "open a short-lived session scope"

    def _endpoint_tags(self, function: _Function) -> Iterator[str]:
        node = function.node
        if any(method in WEBSOCKET_METHODS for method in function.route_methods) or self.registered.get(node.name):
            yield "websocket"
        if self.ctx.settings.session_decorators and any(
            self._is_session_decorator(decorator) for decorator in node.decorator_list
        ):
            yield "decorator-db"
        if _streaming_decorator(node) or self._body(node).streaming:
            yield "streaming"

    def _body(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> _BodyFacts:
        facts = self._bodies.get(id(node))
        if facts is None:
            facts = self._bodies[id(node)] = _BodyFacts(node, self.ctx.lines)
        return facts

    def _is_session_decorator(self, decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        qualified = self.names.qualify(target)
        return qualified is not None and matches_configured(qualified, self.ctx.settings.session_decorators)

    def _carrier_findings(self, call: ast.Call, scope: str) -> Iterator[Finding]:
        callee = callee_name(call) or "call"
        endpoint = None
        if id(call) in self.decorator_calls:
            endpoint = next(
                (f for f in self.functions if any(d is call for d in f.node.decorator_list)), None
            )
        for keyword in call.keywords:
            if keyword.arg != "dependencies" or not isinstance(keyword.value, (ast.List, ast.Tuple)):
                continue
            for element in keyword.value.elts:
                found = session_depends(element, self.ctx)
                if found is None and isinstance(element, (ast.Name, ast.Attribute)):
                    alias = self._alias(element)
                    if alias is not None and alias.kind == "depends":
                        found = SessionDepends(element, alias.dependency, alias.function_scope, alias.qualified)
                if found is None:
                    continue
                tags: set[str] = {"function-scope"} if found.function_scope else set()
                if endpoint is not None:
                    tags.update(self._endpoint_tags(endpoint))
                    where = f"in dependencies= of endpoint {endpoint.qualname}"
                    function = endpoint.qualname
                else:
                    where = f"in dependencies= of {callee}(), held by every route it covers"
                    function = scope or MODULE_SCOPE
                message = format_message("DBS001", dependency=found.dependency, where=where, advice=self._advice(found))
                yield self.ctx.finding(
                    found.node, "DBS001", message, function, tags=frozenset(tags), subject=found.dependency
                )


class _BodyFacts:
    """What the findings of one function need from its body: is a name read, is it closed
    (``x.close()``), does the body build a streaming response.

    Each answer walks only the statements on the body lines that mention the word it is about
    (a name, ``close``, ``StreamingResponse``): exact, since a node always sits on a line of its
    statement that spells it, and a docstring or comment that mentions it costs one small walk.
    """

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef, lines: Sequence[str]) -> None:
        self._function = function
        self._text: str | None = None
        self._first = function.body[0].lineno if function.body else 0
        if lines and function.body:
            start = self._first - 1
            end = getattr(function, "end_lineno", None) or len(lines)
            if 0 <= start < len(lines):
                separator = "" if lines[start].endswith(("\n", "\r")) else "\n"  # lines with or without ends
                self._text = separator.join(lines[start:end])
        self._streaming: bool | None = None

    def _nodes_mentioning(self, words: Sequence[str]) -> Iterator[ast.AST]:
        body = self._function.body
        if self._text is None:
            for stmt in body:
                yield from walk(stmt)
            return
        lines = [self._first + line - 1 for line in word_lines(words, self._text)]
        if lines:
            for stmt in iter_statements_on_lines(body, lines):  # a caller may stop at the first
                for part in statement_header(stmt):
                    yield from walk(part)

    def uses(self, param: str) -> bool:
        return any(isinstance(node, ast.Name) and node.id == param for node in self._nodes_mentioning((param,)))

    def closes(self, param: str) -> bool:
        for node in self._nodes_mentioning(("close",)):
            func = node.func if isinstance(node, ast.Call) else None
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "close"
                and isinstance(func.value, ast.Name)
                and func.value.id == param
            ):
                return True
        return False

    @property
    def streaming(self) -> bool:
        if self._streaming is None:
            self._streaming = any(
                isinstance(node, ast.Call) and is_streaming_name(node.func)
                for node in self._nodes_mentioning(STREAMING_RESPONSES)
            )
        return self._streaming


def _streaming_decorator(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "response_class" and is_streaming_name(keyword.value):
                    return True
    return False


_ANNOTATED_WORD = re.compile(r": (\w+)")


def annotated_words(source: str) -> list[str]:
    """The words after every ``: `` of the text, sorted and distinct (for ``spells_annotation``)."""
    return sorted(set(_ANNOTATED_WORD.findall(source)))


def spells_annotation(source: str, words: list[str], name: str) -> bool:
    """Whether ``": " + name`` is in the text: for a name of word characters, whether one of the words after
    ``: `` starts with it (found by bisection: one scan of the text, not one per imported name)."""
    if not is_word(name):  # ``\w+`` would stop inside it
        return ": " + name in source
    at = bisect_left(words, name)
    return at < len(words) and words[at].startswith(name)


def may_hold_session_dependencies(ctx: ModuleContext) -> bool:
    """Cheap text gate: skip the walk for files that cannot hold a session dependency."""
    source = ctx.source
    if not source or "Depends" in source or "Security" in source:
        return True
    index = ctx.index
    annotated: list[str] | None = None
    for local, qualified in ctx.names.imports.items():
        module = qualified.rpartition(".")[0]
        if not module:
            continue
        if annotated is None:
            annotated = annotated_words(source)
        if not spells_annotation(source, annotated, local) or not index.is_project_module(module):
            continue
        # `db: DbSession` (an imported alias) or `db: deps.DbSession` (an alias in an imported module)
        if f": {local}." in source or index.session_alias(qualified) is not None:
            return True
    return False


def check(ctx: ModuleContext) -> list[Finding]:
    if not may_hold_session_dependencies(ctx):
        return []
    checker = _DependencyCheck(ctx)
    checker.collect()
    return list(checker.findings())
