"""DBS003-DBS008 (and the opt-in DBS009): ORM objects and sessions used outside their scope.

One forward pass over each function's statements with an abstract state: which names hold a
session, an ORM object or a container of them (and from which scope), which scopes are closed.
Branches are analyzed separately and joined; a fact survives a join only if every branch that
falls through agrees on it, so a value bound in a sibling block, or closed on one path only,
never produces a finding (precision over recall).

The analysis is one ``FlowContext`` per function (orm_values.py: the function, its scopes,
findings and resolvers) and rule pieces over it: ``FunctionFlow`` here runs the statements,
``Expressions`` (orm_expressions.py) evaluates expressions and bindings, ``StoreChecks``
(orm_stores.py) judges writes and stores, ``Escapes`` here judges returns and yields.

Where each code is reported (one ``# == DBSnnn`` section each; messages in rules.py):
DBS003 ``Escapes.escape`` here; DBS004 ``StoreChecks.write`` and DBS006 ``StoreChecks`` in
orm_stores.py; DBS005 and DBS009 ``Expressions._read`` and DBS007 ``Expressions._reopened``
in orm_expressions.py; DBS008 ``FunctionFlow.inline_acquisitions`` here and ``scopes.unclosed``.
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..rules import format_message
from .astutil import closed_names, short_text
from .context import ModuleContext, own_walk
from .findings import Finding
from .models import ModelResolver
from .orm_expressions import Expressions
from .orm_gate import CallMarkers, Gate
from .orm_services import ServiceResolver
from .orm_stores import Holders, StoreChecks
from .orm_values import (
    BORROWED_CONNECTIONS,
    SESSION,
    FlowContext,
    State,
    Val,
    join,
    session_name,
    used_as_sessions,
)
from .scopes import (
    ScopeSpec,
    guaranteed_close,
    is_session_class,
    next_dependency,
    scope_spec,
    unclosed,
)


class Escapes:
    """DBS003 in one function: ORM values returned or yielded out of their scope."""

    def __init__(self, flow: FlowContext) -> None:
        self.flow = flow

    # == DBS003: an ORM object returned or yielded out of its scope ==========================
    def escape(self, node: ast.expr, value: Val | None, state: State, returning: bool) -> None:
        """DBS003: an ORM value handed to code that runs after its session closed."""
        if value is None or not value.is_orm() or value.scope < 0:
            return
        flow = self.flow
        scope = flow.scopes[value.scope]
        closing = returning and value.scope in flow.exits
        if not closing and value.scope not in state.closed:
            return
        if scope.kind == "param" and value.scope not in state.closed:
            return
        expires = closing and scope.commits_on_exit and scope.expire_on_commit
        if flow.hazard(value, expires):
            flow.report(node, "DBS003", name=short_text(node), session=scope.session or "session")


class FunctionFlow:
    """The forward analysis of one function body: its statements, in order, over the rule
    pieces (``Expressions``, ``StoreChecks``, ``Escapes``) that share one ``FlowContext``."""

    def __init__(
        self,
        ctx: ModuleContext,
        models: ModelResolver,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        qualname: str,
        markers: CallMarkers,
        services: ServiceResolver | None = None,
        persists: frozenset[str] = frozenset(),
        holders: Holders | None = None,
    ) -> None:
        self.ctx = ctx
        self.models = models
        self.function = function
        self.flow = FlowContext(
            ctx,
            models,
            services if services is not None else ServiceResolver(ctx, models),
            holders if holders is not None else Holders(ctx),
            function,
            qualname,
            markers,
            persists,
        )
        self.stores = StoreChecks(self.flow)
        self.escapes = Escapes(self.flow)
        self.expressions = Expressions(self.flow, self.stores, self.escapes)
        self.expr = self.expressions.expr
        self.bind = self.expressions.bind
        # Sessions assigned from a factory or next(get_db()): (statement, name, source) for DBS008.
        self.acquisitions: list[tuple[ast.Assign, str, str]] = []
        self._acquired = ""

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        state = State()
        self._bind_parameters(state)
        self.block(self.function.body, state)
        return list(self.flow.findings.values())

    def _bind_parameters(self, state: State) -> None:
        args = self.function.args
        unannotated = []
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            annotation = arg.annotation
            if annotation is not None and self._is_session_annotation(annotation):
                # An AsyncSession parameter cannot lazy-load either (DBS009).
                is_async = "AsyncSession" in ast.unparse(annotation)
                spec = ScopeSpec(arg.arg, False, False, False, is_async)
                state.env[arg.arg] = Val(SESSION, self.flow.new_scope(arg.arg, "param", spec))
            elif arg.annotation is None and session_name(arg.arg):
                unannotated.append(arg.arg)
        for name in used_as_sessions(self.function, unannotated):
            # ``def get(self, db)`` that calls ``db.query(...)``: a session without an annotation.
            state.env[name] = Val(SESSION, self.flow.new_scope(name, "param", ScopeSpec(name, False, False, False)))

    def _is_session_annotation(self, annotation: ast.expr | None) -> bool:
        if annotation is None:
            return False
        node = annotation
        if isinstance(node, ast.Subscript):  # Annotated[Session, ...], Optional[Session]
            inner = node.slice
            node = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return False
        qualified = self.ctx.names.qualify(node) or ""
        return is_session_class(qualified)

    # -- statements --------------------------------------------------------------------------
    def block(self, body: list[ast.stmt], state: State | None) -> State | None:
        for stmt in body:
            if state is None:
                return None
            state = self.stmt(stmt, state)
        return state

    def stmt(self, node: ast.stmt, state: State) -> State | None:
        """The state after a statement (None: it does not fall through)."""
        kind = _STATEMENTS.get(node.__class__)
        if kind is not None:
            return kind(self, node, state)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expressions.discard(child, state)
        return state

    def quiet(self, node: ast.stmt | ast.expr, state: State, producing: bool = False) -> bool:
        """Whether an expression cannot matter: its text names no tracked value (nor a closure
        over one) and, where its value is kept, no call that could make a session or an ORM
        value. Skipping those keeps long endpoint bodies cheap."""
        lines = self.ctx.lines
        if not lines:
            return False
        first = node.lineno
        last = node.end_lineno or first
        text = lines[first - 1] if first == last and first <= len(lines) else "".join(lines[first - 1 : last])
        for name in state.env:
            if name in text:
                return False
        for name in self.flow.nested:  # a closure over a tracked value
            if name in text:
                return False
        if not producing:
            return True
        flow = self.flow
        called = "(" in text  # every marker is a call
        if called and flow.persists and self._persisted_target(node):
            return False
        return not ((called and flow.markers.search(text)) or self.expressions.session_holders(text, state))

    def _persisted_target(self, node: ast.AST) -> bool:
        if "*" in self.flow.persists:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        return any(isinstance(t, ast.Name) and t.id in self.flow.persists for t in targets)

    def _Expr(self, node: ast.Expr, state: State) -> State:
        if not self.quiet(node, state):
            self.expressions.discard(node.value, state)
        return state

    def _Assign(self, node: ast.Assign, state: State) -> State:
        self._acquired = ""
        if self.quiet(node, state, producing=True):
            for target in node.targets:
                self._forget(target, state)
            return state
        value = self._assigned_value(node.value, state)
        if self._acquired and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self.acquisitions.append((node, node.targets[0].id, self._acquired))
        for target in node.targets:
            self.bind(target, value, state, node.value)
        return state

    def _forget(self, target: ast.expr, state: State) -> None:
        if isinstance(target, ast.Name):
            state.env.pop(target.id, None)
            return
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                state.env.pop(sub.id, None)

    def _AnnAssign(self, node: ast.AnnAssign, state: State) -> State:
        if node.value is not None and self.quiet(node, state, producing=True):
            self._forget(node.target, state)
        elif node.value is not None:
            value = self._assigned_value(node.value, state)
            self.bind(node.target, value, state, node.value)
        return state

    def _assigned_value(self, value_node: ast.expr, state: State) -> Val | None:
        inner = value_node.value if isinstance(value_node, ast.Await) else value_node
        if isinstance(inner, ast.Call):
            spec = scope_spec(inner, self.ctx, self.models)
            if spec is not None and spec.acquisition:
                for arg in inner.args:
                    self.expressions.discard(arg, state)
                if not self._borrows_connection(inner):
                    self._acquired = f"{spec.label}()"
                return Val(SESSION, self.flow.new_scope("", "manual", spec))
            found = self.provider_next(inner)
            if found is not None:
                dependency, provider = found
                generator = inner.args[0]
                # ``gen.close()`` in a ``finally`` runs the provider's own ``finally``: a close.
                if not (isinstance(generator, ast.Name) and guaranteed_close(self.function, generator.id)):
                    self._acquired = f"next({dependency}())"
                facts = self.models.scope_facts(self.ctx.names.qualify(provider.func) or "")
                expire = facts[1] if facts is not None else False
                return Val(SESSION, self.flow.new_scope("", "manual", ScopeSpec("", False, expire, True)))
        return self.expr(value_node, state)

    # == DBS008: a session acquired without a guaranteed close (with scopes.unclosed) =========
    def provider_next(self, call: ast.expr) -> tuple[str, ast.Call] | None:
        """``next(get_db())``, or ``next(gen)`` with ``gen = get_db()`` in this function, where
        ``get_db`` is a configured or discovered session provider: (the provider as written, its call)."""
        dependency = next_dependency(call, self.ctx)
        # next_dependency matched next(<call>) already; the isinstance tests only inform the type checker
        if dependency is not None and isinstance(call, ast.Call) and isinstance(call.args[0], ast.Call):
            return dependency, call.args[0]
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "next"
            and self.ctx.names.is_unbound("next")
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Name)
        ):
            source = self._assigned_in_function(call.args[0].id)
            if isinstance(source, ast.Call):
                dependency = next_dependency(ast.Call(func=call.func, args=[source], keywords=[]), self.ctx)
                if dependency is not None:
                    return dependency, source
        return None

    def inline_acquisitions(self, lines_aligned: bool = False) -> list[Finding]:
        """DBS008 for ``next(get_db())`` whose session is never bound to a name: handed straight
        to a call (``SSOService(next(get_db()))``), nothing can close it. Returned or yielded,
        its caller owns it. ``lines_aligned``: ``ctx.lines`` are the tree's lines (``Gate.lines_aligned``)."""
        kept: set[int] = set()
        calls: list[tuple[ast.Call, str]] = []
        for node in self._near_next(lines_aligned):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.Return, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
                value = node.value
                kept.add(id(value.value if isinstance(value, ast.Await) else value))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "next":
                found = self.provider_next(node)
                if found is not None:
                    calls.append((node, found[0]))
        findings = []
        for call, dependency in calls:
            if id(call) not in kept:
                message = format_message("DBS008", session="db", source=f"next({dependency}())", scope=self.ctx.settings.scope_name)
                findings.append(self.ctx.finding(call, "DBS008", message, self.flow.qualname))
        return findings

    def _near_next(self, lines_aligned: bool) -> list[ast.AST]:
        """``own_walk`` of the function body, but the statements whose lines never spell
        ``next`` (the name of a ``next(...)`` call sits on a line of every statement around it)."""
        lines = self.ctx.lines
        if not lines or not lines_aligned:
            return list(own_walk(self.function.body))
        first, last = self.function.lineno, self.function.end_lineno or self.function.lineno
        spelled = [number for number in range(first, min(last, len(lines)) + 1) if "next" in lines[number - 1]]
        found: list[ast.AST] = []
        stack: list[ast.AST] = list(self.function.body)
        fields = _CHILD_FIELDS
        while stack:
            node = stack.pop()
            if isinstance(node, ast.stmt):
                at = bisect_left(spelled, node.lineno)
                if at == len(spelled) or spelled[at] > (node.end_lineno or node.lineno):
                    continue
            found.append(node)
            cls = node.__class__
            names = fields.get(cls)
            if names is None:
                names = fields[cls] = tuple(name for name in cls._fields if name != "ctx")
            for name in names:
                value = getattr(node, name, None)
                if value.__class__ is list:
                    stack.extend(item for item in value if isinstance(item, ast.AST) and not isinstance(item, _NESTED_SCOPES))
                elif isinstance(value, ast.AST) and not isinstance(value, _NESTED_SCOPES):
                    stack.append(value)
        return found

    def _borrows_connection(self, call: ast.Call) -> bool:
        """``Session(bind=op.get_bind())``: bound to a connection its caller owns (an alembic
        migration), so there is no pooled connection for a missing close() to keep."""
        bind = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "bind"), None)
        if isinstance(bind, ast.Name):
            bind = self._assigned_in_function(bind.id)
        return (
            isinstance(bind, ast.Call)
            and isinstance(bind.func, ast.Attribute)
            and bind.func.attr in BORROWED_CONNECTIONS
        )

    def _assigned_in_function(self, name: str) -> ast.expr | None:
        for node in self.flow.nodes():
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node.value
        return None

    def _AugAssign(self, node: ast.AugAssign, state: State) -> State:
        self.expressions.discard(node.value, state)
        if isinstance(node.target, ast.Attribute):
            self.stores.write(node.target, self.expr(node.target.value, state), state)
        elif isinstance(node.target, ast.Name):
            state.env.pop(node.target.id, None)
        else:
            self.expressions.discard(node.target, state)
        return state

    def _Return(self, node: ast.Return, state: State) -> None:
        if node.value is not None and not self.quiet(node, state):
            value = self.expr(node.value, state)
            self.escapes.escape(node.value, value, state, returning=True)
            self.stores.cached_return(node.value, value)

    def _Raise(self, node: ast.Raise, state: State) -> None:
        for child in (node.exc, node.cause):
            if child is not None:
                self.expressions.discard(child, state)

    def _Break(self, node: ast.stmt, state: State) -> None:
        return None


    def _Global(self, node: ast.Global, state: State) -> State:
        self.flow.globals.update(node.names)
        return state

    def _Delete(self, node: ast.Delete, state: State) -> State:
        for target in node.targets:
            if isinstance(target, ast.Name):
                state.env.pop(target.id, None)
            else:
                self.expressions.discard(target, state)
        return state

    def _FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, state: State) -> State:
        state.env.pop(node.name, None)
        if not isinstance(node, ast.ClassDef):
            self.flow.define_nested(node)
        return state

    def _Import(self, node: ast.Import | ast.ImportFrom, state: State) -> State:
        for alias in node.names:
            state.env.pop((alias.asname or alias.name).partition(".")[0], None)
        return state


    def _If(self, node: ast.If, state: State) -> State | None:
        if not self.quiet(node.test, state):
            self.expressions.discard(node.test, state)
        return join([self.block(node.body, state.copy()), self.block(node.orelse, state.copy())])

    def _For(self, node: ast.For, state: State) -> State | None:
        element = None if self.quiet(node.iter, state) else self.expressions.element(self.expr(node.iter, state))
        inner = state.copy()
        self.bind(node.target, element, inner)
        end = self.block(node.body, inner)
        after = join([state, end])
        if after is None:
            return None
        return join([after, self.block(node.orelse, after.copy())]) if node.orelse else after


    def _While(self, node: ast.While, state: State) -> State | None:
        if not self.quiet(node.test, state):
            self.expressions.discard(node.test, state)
        end = self.block(node.body, state.copy())
        after = join([state, end])
        if after is None:
            return None
        return join([after, self.block(node.orelse, after.copy())]) if node.orelse else after

    def _With(self, node: ast.With | ast.AsyncWith, state: State) -> State | None:
        opened: list[int] = []
        commits_on: list[int] = []
        for item in node.items:
            expr = item.context_expr
            spec = scope_spec(expr, self.ctx, self.models)
            if spec is not None and isinstance(expr, ast.Call):  # only a call opens a scope
                for arg in expr.args:
                    self.expressions.discard(arg, state)
                session = item.optional_vars.id if isinstance(item.optional_vars, ast.Name) else ""
                scope_id = self.flow.new_scope(session, "with", replace(spec, is_async=spec.is_async or isinstance(node, ast.AsyncWith)))
                opened.append(scope_id)
                if isinstance(item.optional_vars, ast.Name):
                    state.env[session] = Val(SESSION, scope_id)
                continue
            value = self.expr(expr, state)
            if (
                isinstance(expr, ast.Call)
                and isinstance(expr.func, ast.Attribute)
                and expr.func.attr == "begin"
                and isinstance(expr.func.value, ast.Name)
            ):
                session_val = state.env.get(expr.func.value.id)
                if session_val is not None and session_val.kind == SESSION:
                    commits_on.append(session_val.scope)
            if item.optional_vars is not None:
                self.bind(item.optional_vars, value if value is not None and value.kind == SESSION else None, state)
        self.flow.exits.extend(opened)
        committing = [scope_id for scope_id in opened if self.flow.scopes[scope_id].commits_on_exit]
        for scope_id in committing:
            self.flow.bound_in[scope_id] = {}
        self.flow.committing.extend(committing)
        self.flow.with_scopes[id(node)] = committing
        try:
            end = self.block(node.body, state)
        finally:
            del self.flow.exits[len(self.flow.exits) - len(opened) :]
            del self.flow.committing[len(self.flow.committing) - len(committing) :]
        if end is None:
            return None
        for scope_id in commits_on:
            self.expressions.commit_scope(scope_id, end)
        for scope_id in opened:
            scope = self.flow.scopes[scope_id]
            if scope.commits_on_exit:
                self.expressions.commit_scope(scope_id, end)
            self.expressions.close_scope(scope_id, end, node.end_lineno or node.lineno)
        return end


    def _Try(self, node: ast.Try, state: State) -> State | None:
        closing = self._closed_in_finally(node.finalbody, state)
        self.flow.exits.extend(closing)
        try:
            body_end = self.block(node.body, state.copy())
            handler_start = join([state, body_end]) or state
            ends = [self.block(node.orelse, body_end) if body_end is not None else None]
            rolled_back = self._rolled_back(node, state)
            for handler in node.handlers:
                start = handler_start.copy()
                if rolled_back is not None:
                    start.env.update(rolled_back[0])
                    start.closed.update(rolled_back[1])
                if handler.type is not None:
                    self.expressions.discard(handler.type, start)
                if handler.name:
                    start.env.pop(handler.name, None)
                ends.append(self.block(handler.body, start))
        finally:
            del self.flow.exits[len(self.flow.exits) - len(closing) :]
        after = join(ends)
        if not node.finalbody:
            return after
        final = self.block(node.finalbody, (after or handler_start).copy())
        return final if after is not None else None


    def _rolled_back(self, node: ast.Try, before: State) -> tuple[dict[str, Val], dict[int, int]] | None:
        """When a try body ends with a commit-on-success ``with`` block, an exception that
        reaches the handler came from inside it, whose error exit rolled back (expiring every
        object) and closed the session. Names first bound inside that block hold such objects
        in the handler (or are unbound, a bug of its own)."""
        last = node.body[-1] if node.body else None
        if not isinstance(last, (ast.With, ast.AsyncWith)):
            return None
        env: dict[str, Val] = {}
        closed: dict[int, int] = {}
        for scope_id in self.flow.with_scopes.get(id(last), ()):
            for name, value in self.flow.bound_in.get(scope_id, {}).items():
                if name in before.env or self._stored_before(name, node.lineno):
                    continue
                env[name] = replace(value, expired=True, loaded=frozenset())
                closed[scope_id] = last.end_lineno or last.lineno
        return (env, closed) if env else None

    def _stored_before(self, name: str, line: int) -> bool:
        return self.flow.first_stores().get(name, line) < line

    def _closed_in_finally(self, finalbody: list[ast.stmt], state: State) -> list[int]:
        found: list[int] = []
        for name in closed_names(finalbody):
            value = state.env.get(name)
            if value is not None and value.kind == SESSION and value.scope >= 0:
                found.append(value.scope)
        return found

    def _Match(self, node: ast.Match, state: State) -> State | None:
        self.expressions.discard(node.subject, state)
        ends: list[State | None] = []
        for case in node.cases:
            inner = state.copy()
            ends.append(self.block(case.body, inner))
        ends.append(state)  # no case may match
        return join(ends)


# What a statement does to the state, by node type (``FunctionFlow.stmt``); any other only
# evaluates its expressions. ``match`` (3.10) and ``try``/``except*`` (3.11) where they exist.
_Statement = Callable[[FunctionFlow, Any, State], "State | None"]
_STATEMENTS: dict[type, _Statement] = {
    ast.Expr: FunctionFlow._Expr,
    ast.Assign: FunctionFlow._Assign,
    ast.AnnAssign: FunctionFlow._AnnAssign,
    ast.AugAssign: FunctionFlow._AugAssign,
    ast.Return: FunctionFlow._Return,
    ast.Raise: FunctionFlow._Raise,
    ast.Break: FunctionFlow._Break,
    ast.Continue: FunctionFlow._Break,
    ast.Global: FunctionFlow._Global,
    ast.Delete: FunctionFlow._Delete,
    ast.FunctionDef: FunctionFlow._FunctionDef,
    ast.AsyncFunctionDef: FunctionFlow._FunctionDef,
    ast.ClassDef: FunctionFlow._FunctionDef,
    ast.Import: FunctionFlow._Import,
    ast.ImportFrom: FunctionFlow._Import,
    ast.If: FunctionFlow._If,
    ast.For: FunctionFlow._For,
    ast.AsyncFor: FunctionFlow._For,
    ast.While: FunctionFlow._While,
    ast.With: FunctionFlow._With,
    ast.AsyncWith: FunctionFlow._With,
    ast.Try: FunctionFlow._Try,
    **{getattr(ast, name): handler for name, handler in (("TryStar", FunctionFlow._Try), ("Match", FunctionFlow._Match)) if hasattr(ast, name)},
}


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)  # as own_walk skips them
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


# --- the check --------------------------------------------------------------------------------


def check(ctx: ModuleContext) -> list[Finding]:
    """DBS003-DBS009 for every function that opens, closes or receives a session."""
    gate = Gate(ctx)
    if gate.empty:
        return []
    models: ModelResolver | None = None
    services: ServiceResolver | None = None
    findings: list[Finding] = []
    for function, qualname in ctx.functions:
        admitted = gate.admits(function) or gate.holds(function, qualname)
        persists = gate.persists(function)
        if not admitted and not persists:
            continue
        if models is None or services is None:
            models = ModelResolver(ctx)
            services = ServiceResolver(ctx, models)
        try:
            flow = FunctionFlow(ctx, models, function, qualname, gate.markers, services, persists, gate.holders)
            findings.extend(flow.run())
            findings.extend(unclosed(ctx, function, qualname, flow.acquisitions))
            if gate.spells_next(function):
                findings.extend(flow.inline_acquisitions(gate.lines_aligned))
        except RecursionError:
            continue
    return findings
