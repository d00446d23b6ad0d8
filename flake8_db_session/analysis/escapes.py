"""DBS003-DBS008 (and the opt-in DBS009): ORM objects and sessions used outside their scope.

One forward pass over each function's statements with an abstract state: which names hold a
session, an ORM object or a container of them (and from which scope), which scopes are closed.
Branches are analyzed separately and joined; a fact survives a join only if every branch that
falls through agrees on it, so a value bound in a sibling block, or closed on one path only,
never produces a finding (precision over recall).

Where each code is reported (one ``# == DBSnnn`` section each; messages in rules.py):
DBS003 ``FunctionFlow.escape`` here; DBS004 ``StoreChecks.write`` and DBS006 ``StoreChecks`` in
orm_stores.py; DBS005 and DBS009 ``ExpressionFlow._read`` and DBS007 ``ExpressionFlow._reopened``
in orm_expressions.py; DBS008 ``FunctionFlow.inline_acquisitions`` here and ``scopes.unclosed``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from ..rules import format_message
from .astutil import closed_names, free_names, short_text
from .context import ModuleContext, own_walk
from .findings import Finding
from .models import ModelResolver
from .orm_expressions import ExpressionFlow
from .orm_gate import Gate
from .orm_services import ServiceResolver
from .orm_stores import Holders, StoreChecks
from .orm_values import (
    BORROWED_CONNECTIONS,
    MANY,
    SCALARS,
    SESSION,
    Scope,
    State,
    Val,
    join,
    session_like,
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


class FunctionFlow(StoreChecks, ExpressionFlow):
    """The forward analysis of one function body."""

    def __init__(
        self,
        ctx: ModuleContext,
        models: ModelResolver,
        function: ast.AST,
        qualname: str,
        markers: re.Pattern[str],
        services: ServiceResolver | None = None,
        persists: frozenset[str] = frozenset(),
        holders: Holders | None = None,
    ) -> None:
        self.markers = markers
        self.ctx = ctx
        self.models = models
        self.services = services if services is not None else ServiceResolver(ctx, models)
        self.holders = holders if holders is not None else Holders(ctx)
        # Names whose attributes the function writes before a commit: a call assigned to one is
        # resolved (a service may return an object no session holds), not skipped as quiet.
        self.persists = persists
        self.function = function
        self.qualname = qualname
        self.scopes: dict[int, Scope] = {}
        self.exits: list[int] = []  # scopes that close before a `return` reaches the caller
        self.findings: dict[tuple[int, int, str], Finding] = {}
        self.globals: set[str] = set()
        # Sessions assigned from a factory or next(get_db()): (statement, name, source) for DBS008.
        self.acquisitions: list[tuple[ast.Assign, str, str]] = []
        # Nested functions -> the names their bodies read (a closure carries those values).
        self.closures: dict[str, frozenset[str]] = {}
        self.nested: dict[str, ast.AST] = {}  # nested functions by name
        # Commit-on-success scopes being analyzed, and the ORM values their bodies bound, by
        # scope: an ``except`` after the block sees them rolled back (expired) and closed.
        self._committing: list[int] = []
        self.bound_in: dict[int, dict[str, Val]] = {}
        self.with_scopes: dict[int, list[int]] = {}
        self._first_store: dict[str, int] | None = None
        self._acquired = ""

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        state = State()
        self._bind_parameters(state)
        self.block(self.function.body, state)  # type: ignore[attr-defined]
        return list(self.findings.values())

    def _new_scope(self, session: str, kind: str, spec: ScopeSpec | None) -> int:
        scope_id = len(self.scopes)
        self.scopes[scope_id] = Scope(
            scope_id,
            session,
            kind,
            spec.commits_on_exit if spec else False,
            spec.expire_on_commit if spec else False,
            spec.is_async if spec else False,
        )
        return scope_id

    def _bind_parameters(self, state: State) -> None:
        args = self.function.args  # type: ignore[attr-defined]
        unannotated = []
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if self._is_session_annotation(arg.annotation):
                # An AsyncSession parameter cannot lazy-load either (DBS009).
                is_async = "AsyncSession" in ast.unparse(arg.annotation)
                spec = ScopeSpec(arg.arg, False, False, False, is_async)
                state.env[arg.arg] = Val(SESSION, self._new_scope(arg.arg, "param", spec))
            elif arg.annotation is None and session_like(ast.Name(arg.arg)):
                unannotated.append(arg.arg)
        for name in used_as_sessions(self.function, unannotated):
            # ``def get(self, db)`` that calls ``db.query(...)``: a session without an annotation.
            state.env[name] = Val(SESSION, self._new_scope(name, "param", ScopeSpec(name, False, False, False)))

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

    # -- findings ----------------------------------------------------------------------------
    def report(self, node: ast.AST, code: str, **fields: object) -> None:
        # One DBS006 per line: ``create_task(to_thread(f, obj))`` hands the object on once.
        key = (getattr(node, "lineno", 0), 0 if code == "DBS006" else getattr(node, "col_offset", 0), code)
        if key not in self.findings:
            self.findings[key] = self.ctx.finding(node, code, format_message(code, **fields), self.qualname)

    def _session_label(self, scope_id: int) -> str:
        return self.scopes[scope_id].session

    def gone(self, value: Val, state: State) -> str:
        """Why the object no longer has a live session ("" if it still has one)."""
        if value.detached_source:
            return f"it comes from {value.detached_source}()"
        if value.scope >= 0 and value.scope in state.closed:
            return f"session {self._session_label(value.scope)} closed on line {state.closed[value.scope]}"
        return ""

    def hazard(self, value: Val, expires_on_exit: bool) -> str:
        """What goes wrong when this value is used after its session closed ("" if nothing)."""
        if value.expired or (expires_on_exit and value.model is not None):
            return "expired"
        model = value.model
        if model is None or "*" in value.loaded:
            return ""
        lazy = model.lazy_relationships() - value.loaded
        if lazy:
            return "lazy relationship " + min(lazy)
        return ""

    # -- statements --------------------------------------------------------------------------
    def block(self, body: list[ast.stmt], state: State | None) -> State | None:
        for stmt in body:
            if state is None:
                return None
            state = self.stmt(stmt, state)
        return state

    def stmt(self, node: ast.stmt, state: State) -> State | None:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is not None:
            return method(node, state)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, state)
        return state

    def quiet(self, node: ast.AST, state: State, producing: bool = False) -> bool:
        """Whether an expression cannot matter: its text names no tracked value (nor a closure
        over one) and, where its value is kept, no call that could make a session or an ORM
        value. Skipping those keeps long endpoint bodies cheap."""
        lines = self.ctx.lines
        if not lines:
            return False
        text = "".join(lines[node.lineno - 1 : getattr(node, "end_lineno", None) or node.lineno])  # type: ignore[attr-defined]
        if any(name in text for name in state.env) or any(name in text for name in self.closures):
            return False
        if producing and self.persists and "(" in text and self._persisted_target(node):
            return False
        return not (producing and (self.markers.search(text) or self.session_holders(text, state)))

    def _persisted_target(self, node: ast.AST) -> bool:
        if "*" in self.persists:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        return any(isinstance(t, ast.Name) and t.id in self.persists for t in targets)

    def _Expr(self, node: ast.Expr, state: State) -> State:
        if not self.quiet(node, state):
            self.expr(node.value, state)
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
                    self.expr(arg, state)
                if not self._borrows_connection(inner):
                    self._acquired = f"{spec.label}()"
                return Val(SESSION, self._new_scope("", "manual", spec))
            found = self.provider_next(inner)
            if found is not None:
                dependency, provider = found
                generator = inner.args[0]
                # ``gen.close()`` in a ``finally`` runs the provider's own ``finally``: a close.
                if not (isinstance(generator, ast.Name) and guaranteed_close(self.function, generator.id)):
                    self._acquired = f"next({dependency}())"
                facts = self.models.scope_facts(self.ctx.names.qualify(provider.func) or "")
                expire = facts[1] if facts is not None else False
                return Val(SESSION, self._new_scope("", "manual", ScopeSpec("", False, expire, True)))
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

    def inline_acquisitions(self) -> list[Finding]:
        """DBS008 for ``next(get_db())`` whose session is never bound to a name: handed straight
        to a call (``SSOService(next(get_db()))``), nothing can close it. Returned or yielded,
        its caller owns it."""
        kept: set[int] = set()
        calls: list[tuple[ast.Call, str]] = []
        for node in own_walk(self.function.body):  # type: ignore[attr-defined]
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
                findings.append(self.ctx.finding(call, "DBS008", message, self.qualname))
        return findings

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
        for node in ast.walk(self.function):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node.value
        return None

    def _AugAssign(self, node: ast.AugAssign, state: State) -> State:
        self.expr(node.value, state)
        if isinstance(node.target, ast.Attribute):
            self.write(node.target, state)
        elif isinstance(node.target, ast.Name):
            state.env.pop(node.target.id, None)
        else:
            self.expr(node.target, state)
        return state

    def bind(self, target: ast.expr, value: Val | None, state: State, value_node: ast.expr | None = None) -> None:
        if isinstance(target, ast.Name):
            for scope_id in self._committing:
                if value is not None and value.is_orm() and value.scope == scope_id:
                    self.bound_in[scope_id][target.id] = value
                else:
                    self.bound_in[scope_id].pop(target.id, None)
            if value is not None and value.kind == SESSION and value.scope >= 0 and not self.scopes[value.scope].session:
                scope = self.scopes[value.scope]
                self.scopes[value.scope] = replace(scope, session=target.id)
            if value is None:
                state.env.pop(target.id, None)
            else:
                state.env[target.id] = value
            self.store_in_global(target, value, value_node)
        elif isinstance(target, (ast.Tuple, ast.List)):
            elements = value_node.elts if isinstance(value_node, (ast.Tuple, ast.List)) else None
            # ``first, second = teams`` unpacks instances of the same scope.
            unpacked = self.element(value) if value is not None and value.kind in (MANY, SCALARS) else None
            for index, element in enumerate(target.elts):
                sub = unpacked
                if elements is not None and len(elements) == len(target.elts):
                    sub = self.expr(elements[index], State(dict(state.env), state.closed))
                if isinstance(element, ast.Starred):
                    self.bind(element.value, value if unpacked is not None else None, state)
                else:
                    self.bind(element, sub, state)
        elif isinstance(target, ast.Attribute):
            self.write(target, state)
            self.store(target, value, state, value_node)
        elif isinstance(target, ast.Subscript):
            self.expr(target.value, state)
            self.expr(target.slice, state)
            self.store(target, value, state, value_node)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, None, state)

    def _Return(self, node: ast.Return, state: State) -> None:
        if node.value is not None and not self.quiet(node, state):
            value = self.expr(node.value, state)
            self.escape(node.value, value, state, returning=True)
            self.cached_return(node.value, value)

    # == DBS003: an ORM object returned or yielded out of its scope ==========================
    def escape(self, node: ast.expr, value: Val | None, state: State, returning: bool) -> None:
        """DBS003: an ORM value handed to code that runs after its session closed."""
        if value is None or not value.is_orm() or value.scope < 0:
            return
        scope = self.scopes[value.scope]
        closing = returning and value.scope in self.exits
        if not closing and value.scope not in state.closed:
            return
        if scope.kind == "param" and value.scope not in state.closed:
            return
        expires = closing and scope.commits_on_exit and scope.expire_on_commit
        if self.hazard(value, expires):
            self.report(node, "DBS003", name=short_text(node), session=scope.session or "session")

    def _Raise(self, node: ast.Raise, state: State) -> None:
        for child in (node.exc, node.cause):
            if child is not None:
                self.expr(child, state)

    def _Break(self, node: ast.stmt, state: State) -> None:
        return None

    _Continue = _Break

    def _Global(self, node: ast.Global, state: State) -> State:
        self.globals.update(node.names)
        return state

    def _Delete(self, node: ast.Delete, state: State) -> State:
        for target in node.targets:
            if isinstance(target, ast.Name):
                state.env.pop(target.id, None)
            else:
                self.expr(target, state)
        return state

    def _FunctionDef(self, node: ast.AST, state: State) -> State:
        state.env.pop(node.name, None)  # type: ignore[attr-defined]
        if not isinstance(node, ast.ClassDef):
            self.closures[node.name] = free_names(node)  # type: ignore[attr-defined]
            self.nested[node.name] = node  # type: ignore[attr-defined]
        return state

    _AsyncFunctionDef = _ClassDef = _FunctionDef

    def _Import(self, node: ast.Import | ast.ImportFrom, state: State) -> State:
        for alias in node.names:
            state.env.pop((alias.asname or alias.name).partition(".")[0], None)
        return state

    _ImportFrom = _Import

    def _If(self, node: ast.If, state: State) -> State | None:
        if not self.quiet(node.test, state):
            self.expr(node.test, state)
        return join([self.block(node.body, state.copy()), self.block(node.orelse, state.copy())])

    def _For(self, node: ast.For, state: State) -> State | None:
        element = None if self.quiet(node.iter, state) else self.element(self.expr(node.iter, state))
        inner = state.copy()
        self.bind(node.target, element, inner)
        end = self.block(node.body, inner)
        after = join([state, end])
        if after is None:
            return None
        return join([after, self.block(node.orelse, after.copy())]) if node.orelse else after

    _AsyncFor = _For

    def _While(self, node: ast.While, state: State) -> State | None:
        if not self.quiet(node.test, state):
            self.expr(node.test, state)
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
            if spec is not None:
                for arg in expr.args:  # type: ignore[attr-defined]
                    self.expr(arg, state)
                session = item.optional_vars.id if isinstance(item.optional_vars, ast.Name) else ""
                scope_id = self._new_scope(session, "with", replace(spec, is_async=spec.is_async or isinstance(node, ast.AsyncWith)))
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
        self.exits.extend(opened)
        committing = [scope_id for scope_id in opened if self.scopes[scope_id].commits_on_exit]
        for scope_id in committing:
            self.bound_in[scope_id] = {}
        self._committing.extend(committing)
        self.with_scopes[id(node)] = committing
        try:
            end = self.block(node.body, state)
        finally:
            del self.exits[len(self.exits) - len(opened) :]
            del self._committing[len(self._committing) - len(committing) :]
        if end is None:
            return None
        for scope_id in commits_on:
            self.commit_scope(scope_id, end)
        for scope_id in opened:
            scope = self.scopes[scope_id]
            if scope.commits_on_exit:
                self.commit_scope(scope_id, end)
            self.close_scope(scope_id, end, node.end_lineno or node.lineno)
        return end

    _AsyncWith = _With

    def _Try(self, node: ast.Try, state: State) -> State | None:
        closing = self._closed_in_finally(node.finalbody, state)
        self.exits.extend(closing)
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
                    self.expr(handler.type, start)
                if handler.name:
                    start.env.pop(handler.name, None)
                ends.append(self.block(handler.body, start))
        finally:
            del self.exits[len(self.exits) - len(closing) :]
        after = join(ends)
        if not node.finalbody:
            return after
        final = self.block(node.finalbody, (after or handler_start).copy())
        return final if after is not None else None

    _TryStar = _Try

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
        for scope_id in self.with_scopes.get(id(last), ()):
            for name, value in self.bound_in.get(scope_id, {}).items():
                if name in before.env or self._stored_before(name, node.lineno):
                    continue
                env[name] = replace(value, expired=True, loaded=frozenset())
                closed[scope_id] = last.end_lineno or last.lineno
        return (env, closed) if env else None

    def _stored_before(self, name: str, line: int) -> bool:
        if self._first_store is None:
            first: dict[str, int] = {}
            args = self.function.args  # type: ignore[attr-defined]
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    first[arg.arg] = 0
            for sub in ast.walk(self.function):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    first[sub.id] = min(first.get(sub.id, sub.lineno), sub.lineno)
            self._first_store = first
        return self._first_store.get(name, line) < line

    def _closed_in_finally(self, finalbody: list[ast.stmt], state: State) -> list[int]:
        found: list[int] = []
        for name in closed_names(finalbody):
            value = state.env.get(name)
            if value is not None and value.kind == SESSION and value.scope >= 0:
                found.append(value.scope)
        return found

    def _Match(self, node: ast.AST, state: State) -> State | None:
        self.expr(node.subject, state)  # type: ignore[attr-defined]
        ends = []
        for case in node.cases:  # type: ignore[attr-defined]
            inner = state.copy()
            ends.append(self.block(case.body, inner))
        ends.append(state)  # no case may match
        return join(ends)


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
                findings.extend(flow.inline_acquisitions())
        except RecursionError:
            continue
    return findings
