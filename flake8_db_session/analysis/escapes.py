"""DBS003-DBS008 (and the opt-in DBS009): ORM objects and sessions used outside their scope.

One forward pass over each function's statements with an abstract state: which names hold a
session, an ORM object or a container of them (and from which scope), which scopes are closed.
Branches are analyzed separately and joined; a fact survives a join only if every branch that
falls through agrees on it, so a value bound in a sibling block, or closed on one path only,
never produces a finding (precision over recall).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ..rules import format_message
from .context import ModuleContext
from .findings import Finding
from .models import ModelInfo, ModelResolver, annotation_class
from .names import matches_configured
from .orm_gate import Gate
from .scopes import ScopeSpec, next_dependency, scope_spec, unclosed

# Kinds of abstract values.
ORM, MANY, SESSION, QUERY, RESULT, SCALARS = "orm", "many", "session", "query", "result", "scalars"

# Session methods that check a connection out again (or re-attach objects) after close().
_REOPENING = frozenset(
    {"query", "execute", "scalar", "scalars", "get", "get_one", "add", "add_all", "flush", "refresh",
     "merge", "delete", "connection", "stream", "stream_scalars"}
)
_CHAIN = frozenset(
    {"filter", "filter_by", "where", "order_by", "limit", "offset", "join", "outerjoin", "distinct",
     "group_by", "having", "execution_options", "with_for_update", "params", "select_from", "options",
     "unique", "yield_per", "populate_existing", "enable_eagerloads", "join_from"}
)
_ONE = frozenset({"first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "get"})
_ALL = frozenset({"all", "fetchall", "fetchmany", "partitions"})
_BORROWED_CONNECTIONS = frozenset({"get_bind", "connection"})
# Builtins that return the same instances in another container.
_SAME_ITEMS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "reversed"})
_LOADERS = frozenset({"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager", "defaultload"})
_STATE_HOLDERS = ("state",)  # request.state / app.state
_TASK_CALLS = frozenset({"add_task", "create_task", "ensure_future", "run_in_executor", "to_thread", "submit", "start_soon"})
_STREAMING = re.compile(r"Streaming|EventSource")


@dataclass(frozen=True)
class Scope:
    id: int
    session: str
    kind: str  # "with", "manual" or "param"
    commits_on_exit: bool
    expire_on_commit: bool
    is_async: bool = False


@dataclass(frozen=True)
class Val:
    kind: str
    scope: int = -1  # -1: no session (transient, unknown)
    model: ModelInfo | None = None
    expired: bool = False
    loaded: frozenset = frozenset()  # relationships loaded while the session was open ("*": all)
    detached_source: str = ""  # a configured detached source it came from

    def is_orm(self) -> bool:
        return self.kind in (ORM, MANY)


@dataclass
class State:
    env: dict = field(default_factory=dict)
    closed: dict = field(default_factory=dict)  # scope id -> line of its close

    def copy(self) -> State:
        return State(dict(self.env), dict(self.closed))


def _merge_val(a: Val, b: Val) -> Val | None:
    if a == b:
        return a
    if a.kind != b.kind or a.scope != b.scope or a.model != b.model or a.detached_source != b.detached_source:
        return None
    return replace(a, expired=a.expired and b.expired, loaded=a.loaded | b.loaded)


def join(states: Iterable[State | None]) -> State | None:
    live = [s for s in states if s is not None]
    if not live:
        return None
    out = live[0].copy()
    for other in live[1:]:
        env = {}
        for name, value in out.env.items():
            theirs = other.env.get(name)
            if theirs is not None:
                merged = _merge_val(value, theirs)
                if merged is not None:
                    env[name] = merged
        out.env = env
        out.closed = {k: v for k, v in out.closed.items() if k in other.closed}
    return out


def _text(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except (ValueError, RecursionError):  # pragma: no cover - unparse handles every parsed tree
        return "object"
    return text if len(text) <= 40 else text[:37] + "..."


class FunctionFlow:
    """The forward analysis of one function body."""

    def __init__(
        self, ctx: ModuleContext, models: ModelResolver, function: ast.AST, qualname: str, markers: re.Pattern[str]
    ) -> None:
        self.markers = markers
        self.ctx = ctx
        self.models = models
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
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if self._is_session_annotation(arg.annotation):
                # An AsyncSession parameter cannot lazy-load either (DBS009).
                is_async = "AsyncSession" in ast.unparse(arg.annotation)  # type: ignore[arg-type]
                spec = ScopeSpec(arg.arg, False, False, False, is_async)
                state.env[arg.arg] = Val(SESSION, self._new_scope(arg.arg, "param", spec))

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
        return qualified.startswith("sqlalchemy") and qualified.rpartition(".")[2] in ("Session", "AsyncSession")

    # -- findings ----------------------------------------------------------------------------
    def report(self, node: ast.AST, code: str, **fields: object) -> None:
        # One DBS006 per line: ``create_task(to_thread(f, obj))`` hands the object on once.
        key = (getattr(node, "lineno", 0), 0 if code == "DBS006" else getattr(node, "col_offset", 0), code)
        if key not in self.findings:
            self.findings[key] = self.ctx.finding(node, code, format_message(code, **fields), self.qualname)

    def _session_label(self, scope_id: int) -> str:
        return self.scopes[scope_id].session

    def _gone(self, value: Val, state: State) -> str:
        """Why the object no longer has a live session ("" if it still has one)."""
        if value.detached_source:
            return f"it comes from {value.detached_source}()"
        if value.scope >= 0 and value.scope in state.closed:
            return f"session {self._session_label(value.scope)} closed on line {state.closed[value.scope]}"
        return ""

    def _hazard(self, value: Val, expires_on_exit: bool) -> str:
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
        return not (producing and self.markers.search(text))

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
            dependency = next_dependency(inner, self.ctx)
            if dependency is not None:
                self._acquired = f"next({dependency}())"
                facts = self.models.scope_facts(self.ctx.names.qualify(inner.args[0].func) or "")  # type: ignore[attr-defined]
                expire = facts[1] if facts is not None else False
                return Val(SESSION, self._new_scope("", "manual", ScopeSpec("", False, expire, True)))
        return self.expr(value_node, state)

    def _borrows_connection(self, call: ast.Call) -> bool:
        """``Session(bind=op.get_bind())``: bound to a connection its caller owns (an alembic
        migration), so there is no pooled connection for a missing close() to keep."""
        bind = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "bind"), None)
        if isinstance(bind, ast.Name):
            bind = self._assigned_in_function(bind.id)
        return (
            isinstance(bind, ast.Call)
            and isinstance(bind.func, ast.Attribute)
            and bind.func.attr in _BORROWED_CONNECTIONS
        )

    def _assigned_in_function(self, name: str) -> ast.expr | None:
        for node in ast.walk(self.function):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node.value
        return None

    def _AugAssign(self, node: ast.AugAssign, state: State) -> State:
        self.expr(node.value, state)
        if isinstance(node.target, ast.Attribute):
            self._write(node.target, state)
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
            if target.id in self.globals and value is not None and value.is_orm() and value.scope >= 0:
                self.report(target, "DBS006", name=_text(value_node or target), target=f"module global {target.id}")
        elif isinstance(target, (ast.Tuple, ast.List)):
            elements = value_node.elts if isinstance(value_node, (ast.Tuple, ast.List)) else None
            # ``first, second = teams`` unpacks instances of the same scope.
            unpacked = self._element(value) if value is not None and value.kind in (MANY, SCALARS) else None
            for index, element in enumerate(target.elts):
                sub = unpacked
                if elements is not None and len(elements) == len(target.elts):
                    sub = self.expr(elements[index], State(dict(state.env), state.closed))
                if isinstance(element, ast.Starred):
                    self.bind(element.value, value if unpacked is not None else None, state)
                else:
                    self.bind(element, sub, state)
        elif isinstance(target, ast.Attribute):
            self._write(target, state)
            self._store(target, value, state, value_node)
        elif isinstance(target, ast.Subscript):
            self.expr(target.value, state)
            self.expr(target.slice, state)
            self._store(target, value, state, value_node)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, None, state)

    def _write(self, target: ast.Attribute, state: State) -> None:
        """DBS004: an attribute write on an object without a live session."""
        base = self.expr(target.value, state)
        if base is None or base.kind != ORM:
            return
        gone = self._gone(base, state)
        if not gone:
            return
        if base.model is not None and not base.model.mapped(target.attr):
            return  # a plain Python attribute: not a lost write
        if base.model is None and not base.detached_source:
            return
        if self._reattached_later(target.value) or self._used_after(target.value, target.lineno):
            return
        self.report(target, "DBS004", name=_text(target.value), attribute=target.attr, why=gone)

    def _used_after(self, node: ast.expr, line: int) -> bool:
        """The object is read again later in the function (returned, serialized, passed on):
        the change may be meant for that in-memory use (scrubbing a field before a response),
        so only a write nothing reads afterwards, whose only purpose is the database, is reported."""
        if not isinstance(node, ast.Name):
            return True
        for sub in ast.walk(self.function):
            if isinstance(sub, ast.Name) and sub.id == node.id and isinstance(sub.ctx, ast.Load) and sub.lineno > line:
                parent_is_write = any(
                    isinstance(t, ast.Attribute) and t.value is sub
                    for stmt in ast.walk(self.function)
                    if isinstance(stmt, (ast.Assign, ast.AugAssign))
                    for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                )
                if not parent_is_write:
                    return True
        return False

    def _reattached_later(self, node: ast.expr) -> bool:
        """The object is handed to ``add``/``merge`` somewhere in the function: the write may be kept."""
        if not isinstance(node, ast.Name):
            return False
        for sub in ast.walk(self.function):
            if (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in ("add", "merge", "add_all")
                and any(isinstance(a, ast.Name) and a.id == node.id for arg in sub.args for a in ast.walk(arg))
            ):
                return True
        return False

    def _store(self, target: ast.expr, value: Val | None, state: State, value_node: ast.expr | None) -> None:
        """DBS006: an ORM object stored where it outlives its session."""
        if value is None or not value.is_orm() or value.scope < 0:
            return
        where = self._long_lived(target)
        if where:
            self.report(target, "DBS006", name=_text(value_node or target), target=where)

    def _long_lived(self, target: ast.expr) -> str:
        if isinstance(target, ast.Attribute):
            holder = target.value
            if isinstance(holder, ast.Attribute) and holder.attr in _STATE_HOLDERS:
                return f"{_text(holder)}.{target.attr}"
            if self._on_singleton(target):
                return f"{_text(target)} of the module-level {self.qualname.partition('.')[0]} instance"
            return ""
        if isinstance(target, ast.Subscript):
            return self._outliving(target.value)
        return ""

    def _outliving(self, holder: ast.expr) -> str:
        """A container that outlives the call: a module-level dict/list/set/cache, a state
        attribute, or an attribute of this module's singleton instance."""
        if isinstance(holder, ast.Name) and self._module_level(holder.id):
            return f"module-level {holder.id}"
        if isinstance(holder, ast.Attribute):
            if isinstance(holder.value, ast.Attribute) and holder.value.attr in _STATE_HOLDERS:
                return _text(holder)
            if self._on_singleton(holder):
                return f"{_text(holder)} of the module-level {self.qualname.partition('.')[0]} instance"
        return ""

    def _module_level(self, name: str) -> bool:
        """A module-level container (``_CACHE = {}``), not shadowed by a local of the same name."""
        return name in _module_facts(self.ctx)[0] and name not in self._locals

    def _on_singleton(self, node: ast.Attribute) -> bool:
        """``self.x`` in a method of a class this module instantiates once at module level."""
        owner, _, method = self.qualname.partition(".")
        return (
            bool(method)
            and "." not in method
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and owner in _module_facts(self.ctx)[1]
        )

    @property
    def _locals(self) -> set[str]:
        cached = getattr(self, "_local_names", None)
        if cached is None:
            cached = set()
            args = self.function.args  # type: ignore[attr-defined]
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    cached.add(arg.arg)
            for node in ast.walk(self.function):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    cached.add(node.id)
            cached -= self.globals
            self._local_names = cached
        return cached

    def _Return(self, node: ast.Return, state: State) -> None:
        if node.value is not None and not self.quiet(node, state):
            value = self.expr(node.value, state)
            self._escape(node.value, value, state, returning=True)

    def _escape(self, node: ast.expr, value: Val | None, state: State, returning: bool) -> None:
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
        if self._hazard(value, expires):
            self.report(node, "DBS003", name=_text(node), session=scope.session or "session")

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
            self.closures[node.name] = _free_names(node)  # type: ignore[attr-defined]
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
        element = None if self.quiet(node.iter, state) else self._element(self.expr(node.iter, state))
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
            self._commit(scope_id, end)
        for scope_id in opened:
            scope = self.scopes[scope_id]
            if scope.commits_on_exit:
                self._commit(scope_id, end)
            self._close(scope_id, end, node.end_lineno or node.lineno)
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
        for stmt in finalbody:
            for sub in ast.walk(stmt):
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "close"
                    and isinstance(sub.func.value, ast.Name)
                ):
                    value = state.env.get(sub.func.value.id)
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

    # -- session effects ---------------------------------------------------------------------
    def _commit(self, scope_id: int, state: State) -> None:
        if not self.scopes[scope_id].expire_on_commit:
            return
        self._expire_all(scope_id, state)

    def _expire_all(self, scope_id: int, state: State) -> None:
        for name, value in list(state.env.items()):
            if value.is_orm() and value.scope == scope_id:
                state.env[name] = replace(value, expired=True, loaded=frozenset())

    def _close(self, scope_id: int, state: State, line: int) -> None:
        state.closed.setdefault(scope_id, line)

    def _session_call(self, call: ast.Call, method: str, session: Val, state: State) -> Val | None:
        scope_id = session.scope
        if scope_id in state.closed and method in _REOPENING:
            scope = self.scopes[scope_id]
            self.report(call, "DBS007", session=scope.session, close_line=state.closed[scope_id])
            del state.closed[scope_id]  # SQLAlchemy reopens it: its objects are attached again
        args = [self.expr(arg, state) for arg in call.args]
        for keyword in call.keywords:
            self.expr(keyword.value, state)
        first = call.args[0] if call.args else None
        if method == "close":
            self._close(scope_id, state, call.lineno)
            return None
        if method == "commit":
            self._commit(scope_id, state)
            return None
        if method == "rollback":
            self._expire_all(scope_id, state)
            return None
        if method == "expire_all":
            self._expire_all(scope_id, state)
            return None
        if method in ("expire", "refresh", "add", "expunge") and isinstance(first, ast.Name):
            value = state.env.get(first.id)
            if value is not None and value.is_orm():
                if method == "expire":
                    state.env[first.id] = replace(value, expired=True, loaded=frozenset())
                elif method == "refresh":  # refresh(x, ["members"]) also loads those relationships
                    state.env[first.id] = replace(value, expired=False, loaded=value.loaded | _refreshed(call))
                elif method == "add" and value.scope < 0:
                    state.env[first.id] = replace(value, scope=scope_id)
                elif method == "expunge":
                    state.env.pop(first.id, None)
            return None
        if method in ("get", "get_one"):
            model = self._model_of(first)
            return Val(ORM, scope_id, model) if model is not None else None
        if method == "merge" and args and args[0] is not None and args[0].is_orm():
            return replace(args[0], scope=scope_id, expired=False, detached_source="")
        if method == "query" and len(call.args) == 1:
            model = self._model_of(first)
            return Val(QUERY, scope_id, model) if model is not None else None
        if method in ("execute", "stream") and args and args[0] is not None and args[0].kind == QUERY:
            return replace(args[0], kind=RESULT, scope=scope_id)
        if method in ("scalars", "stream_scalars") and args and args[0] is not None and args[0].kind == QUERY:
            return replace(args[0], kind=SCALARS, scope=scope_id)
        if method == "scalar" and args and args[0] is not None and args[0].kind == QUERY:
            return replace(args[0], kind=ORM, scope=scope_id)
        return None

    def _model_of(self, node: ast.expr | None) -> ModelInfo | None:
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return None
        return self.models.model(self.ctx.names.qualify(node))

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: ast.expr | None, state: State) -> Val | None:
        if node is None:
            return None
        if isinstance(node, ast.Name):
            return state.env.get(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, state)
        if isinstance(node, ast.Call):
            return self._call(node, state)
        if isinstance(node, ast.Await):
            return self.expr(node.value, state)
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value, state)
            self.expr(node.slice, state)
            return self._element(base)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self._comprehension(node, state)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            values = [self.expr(e.value if isinstance(e, ast.Starred) else e, state) for e in node.elts]
            return self._container(values)
        if isinstance(node, ast.Dict):
            for key in node.keys:
                self.expr(key, state)
            return self._container([self.expr(v, state) for v in node.values])
        if isinstance(node, ast.IfExp):
            self.expr(node.test, state)
            yes, no = self.expr(node.body, state), self.expr(node.orelse, state)
            if _is_none(node.orelse):
                return yes
            if _is_none(node.body):
                return no
            return yes if yes == no else None
        if isinstance(node, ast.NamedExpr):
            value = self.expr(node.value, state)
            self.bind(node.target, value, state)
            return value
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            value = self.expr(node.value, state)
            if node.value is not None:
                self._escape(node.value, value, state, returning=False)
            return None
        if isinstance(node, ast.Lambda):
            return None  # runs later, with its own arguments
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, state)
            elif isinstance(child, ast.keyword):
                self.expr(child.value, state)
        return None

    def _container(self, values: list[Val | None]) -> Val | None:
        for value in values:
            if value is not None and value.is_orm():
                return replace(value, kind=MANY)
        return None

    def _element(self, value: Val | None) -> Val | None:
        if value is None:
            return None
        if value.kind in (MANY, SCALARS):
            return replace(value, kind=ORM)
        if value.kind == QUERY:
            return replace(value, kind=ORM)  # iterating a query yields instances
        return None

    def _comprehension(self, node: ast.expr, state: State) -> Val | None:
        inner = State(dict(state.env), state.closed)
        for generator in node.generators:  # type: ignore[attr-defined]
            element = self._element(self.expr(generator.iter, inner))
            self.bind(generator.target, element, inner)
            for condition in generator.ifs:
                self.expr(condition, inner)
        if isinstance(node, ast.DictComp):
            self.expr(node.key, inner)
            value = self.expr(node.value, inner)
        else:
            value = self.expr(node.elt, inner)  # type: ignore[attr-defined]
        return replace(value, kind=MANY) if value is not None and value.is_orm() else None

    def _attribute(self, node: ast.Attribute, state: State) -> Val | None:
        base = self.expr(node.value, state)
        if base is None or base.kind != ORM:
            return None
        return self._read(node, base, state)

    def _read(self, node: ast.Attribute, base: Val, state: State) -> Val | None:
        """DBS005/DBS009 checks on ``base.attr``; the value read."""
        attribute = node.attr
        model = base.model
        relationship = model.relationships.get(attribute) if model is not None else None
        gone = self._gone(base, state)
        raised = False
        lazy = (
            model is not None
            and attribute in model.lazy_relationships()
            and attribute not in base.loaded
            and "*" not in base.loaded
        )
        if gone and model is not None:
            if base.expired and model.mapped(attribute):
                self.report(node, "DBS005", name=_text(node.value), attribute=attribute, session=self._who(base), reason="expired before the close, every attribute read needs the session")
                raised = True
            elif lazy:
                self.report(node, "DBS005", name=_text(node.value), attribute=attribute, session=self._who(base), reason="lazy relationship: DetachedInstanceError")
                raised = True
            elif attribute in model.touching_members:
                self.report(node, "DBS005", name=_text(node.value), attribute=attribute, session=self._who(base), reason="it reads a relationship or object_session")
        elif not gone and base.scope >= 0:
            scope = self.scopes[base.scope]
            if lazy and scope.is_async:
                self.report(node, "DBS009", name=_text(node.value), attribute=attribute, session=scope.session)
            if isinstance(node.value, ast.Name) and model is not None:
                # A read inside the scope loads it (and refreshes an expired object).
                current = state.env.get(node.value.id)
                if current is not None and current.kind == ORM:
                    loaded = current.loaded | {attribute} if relationship is not None else current.loaded
                    if attribute in model.touching_members:
                        loaded = frozenset({"*"})  # the property or method loaded what it reads
                    state.env[node.value.id] = replace(current, loaded=loaded, expired=False if model.mapped(attribute) else current.expired)
        if relationship is not None and not raised:
            target = self.models.model(relationship[0]) if relationship[0] else None
            return Val(MANY, base.scope, target, base.expired, frozenset(), base.detached_source)
        return None

    def _may_load(self, node: ast.expr, state: State) -> None:
        """An object handed to other code while its session is open may have any relationship
        loaded there (a serializer, a helper): assume it did, rather than report a read that works."""
        if not isinstance(node, ast.Name):
            return
        value = state.env.get(node.id)
        if value is not None and value.is_orm() and value.scope >= 0 and not self._gone(value, state):
            state.env[node.id] = replace(value, loaded=frozenset({"*"}))

    def _who(self, base: Val) -> str:
        if base.detached_source:
            return f"of {base.detached_source}()"
        return self.scopes[base.scope].session if base.scope >= 0 else "session"

    def _call(self, node: ast.Call, state: State) -> Val | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = self.expr(func.value, state)
            if receiver is not None:
                if receiver.kind == SESSION:
                    return self._session_call(node, func.attr, receiver, state)
                if receiver.kind in (QUERY, RESULT, SCALARS):
                    return self._chain(node, func.attr, receiver, state)
                if receiver.kind == ORM:
                    self._read(func, receiver, state)
        args = [self.expr(arg, state) for arg in node.args]
        kwargs = [self.expr(keyword.value, state) for keyword in node.keywords]
        self._check_handoff(node, args + kwargs, state)
        if not _harmless(func):
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self._may_load(arg, state)
        qualified = self.ctx.names.qualify(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if isinstance(func, ast.Attribute):
            found = self._model_method_result(func, args)
            if found is not None:
                return found
        if qualified:
            last = qualified.rpartition(".")[2]
            if last in _SAME_ITEMS and len(node.args) == 1 and self.ctx.names.is_unbound(last):
                first = args[0]
                return replace(first, kind=MANY) if first is not None and first.is_orm() else None
            if last == "select" and len(node.args) == 1:
                model = self._model_of(node.args[0])
                return Val(QUERY, -1, model) if model is not None else None
            if last in _LOADERS:
                return None
            if self.ctx.settings.detached_sources and matches_configured(qualified, self.ctx.settings.detached_sources):
                return Val(ORM, -1, self._returned_model(func), detached_source=_text(func))
            model = self.models.model(qualified) if last[:1].isupper() else None
            if model is not None:
                return Val(ORM, -1, model)  # a new, transient instance
            returned = self._returned_model(func)
            if returned is not None:
                for value in args:
                    if value is not None and value.kind == SESSION:
                        return Val(ORM, value.scope, returned)
        return None

    def _model_method_result(self, func: ast.Attribute, args: list[Val | None]) -> Val | None:
        """``Team.find_by_id(team_id, session)``: a model's method annotated to return a model,
        given a session, returns an instance of that session."""
        if not isinstance(func.value, (ast.Name, ast.Attribute)) or not _last_name(func.value)[:1].isupper():
            return None
        owner = self._model_of(func.value)
        target = owner.returns.get(func.attr) if owner is not None else None
        if not target:
            return None
        model = self.models.model(target)
        for value in args:
            if model is not None and value is not None and value.kind == SESSION:
                return Val(ORM, value.scope, model)
        return None

    def _returned_model(self, func: ast.expr) -> ModelInfo | None:
        """The model a same-module function's return annotation names (``-> Team``)."""
        if not isinstance(func, ast.Name):
            return None
        raw = annotation_class(self._module_returns().get(func.id))
        if not raw:
            return None
        return self.models.model(self.ctx.names.qualify_name(raw) if "." not in raw else raw)

    def _module_returns(self) -> dict[str, ast.expr]:
        cached = getattr(self.ctx, "_dbs_returns", None)
        if cached is None:
            cached = {
                stmt.name: stmt.returns
                for stmt in self.ctx.tree.body
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.returns is not None
            }
            self.ctx._dbs_returns = cached
        return cached

    def _chain(self, node: ast.Call, method: str, receiver: Val, state: State) -> Val | None:
        for arg in node.args:
            self.expr(arg, state)
        for keyword in node.keywords:
            self.expr(keyword.value, state)
        if method in _CHAIN:
            if method == "options":
                return replace(receiver, loaded=receiver.loaded | _loaded_by(node))
            return receiver
        if receiver.kind == RESULT:
            if method == "scalars":
                return replace(receiver, kind=SCALARS)
            if method in ("scalar", "scalar_one", "scalar_one_or_none"):
                return replace(receiver, kind=ORM)
            return None  # rows, not instances
        if method in _ONE:
            return replace(receiver, kind=ORM) if receiver.scope >= 0 else None
        if method in _ALL:
            return replace(receiver, kind=MANY) if receiver.scope >= 0 else None
        return None

    def _check_handoff(self, node: ast.Call, values: list[Val | None], state: State) -> None:
        """DBS006: an ORM object handed to a background task, a new task or a streaming response."""
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in _TASK_CALLS or _STREAMING.search(name):
            carried = self._carried(node, state)
            if carried is not None:
                self.report(node, "DBS006", name=carried, target=f"{name}()")
            return
        if isinstance(func, ast.Attribute) and func.attr in ("append", "add", "setdefault", "update", "extend", "insert"):
            where = self._outliving(func.value)
            if where:
                for arg, value in zip(node.args, values):
                    if value is not None and value.is_orm() and value.scope >= 0:
                        self.report(node, "DBS006", name=_text(arg), target=where)
                        return

    def _carried(self, node: ast.Call, state: State) -> str | None:
        """An ORM object that travels with the task: an argument, an argument of the coroutine
        call, or a name a lambda closes over. ``tool.name`` is read now and travels as a string."""
        pending: list[ast.expr] = [*node.args, *(k.value for k in node.keywords)]
        while pending:
            arg = pending.pop()
            if isinstance(arg, ast.Starred):
                arg = arg.value
            if isinstance(arg, ast.Call):
                pending.extend(arg.args)
                pending.extend(k.value for k in arg.keywords)
                arg = arg.func  # a nested generator or coroutine function carries what it closes over
            if isinstance(arg, ast.Name) and arg.id in self.closures:
                for name in sorted(self.closures[arg.id]):
                    if self._live_orm(state.env.get(name)):
                        return name
                continue
            if isinstance(arg, ast.Lambda):
                for sub in ast.walk(arg.body):
                    if isinstance(sub, ast.Name) and self._live_orm(state.env.get(sub.id)):
                        return sub.id
                continue
            if isinstance(arg, ast.Name) and self._live_orm(state.env.get(arg.id)):
                return arg.id
            if isinstance(arg, (ast.List, ast.Tuple, ast.Set)):
                pending.extend(arg.elts)
            elif isinstance(arg, ast.Dict):
                pending.extend(v for v in arg.values if v is not None)
        return None

    @staticmethod
    def _live_orm(value: Val | None) -> bool:
        return value is not None and value.is_orm() and value.scope >= 0


_CONTAINER_CALLS = re.compile(r"(?:dict|list|set|defaultdict|OrderedDict|deque|Counter|WeakValueDictionary|\w*[Cc]ache\w*)$")


def _module_facts(ctx: ModuleContext) -> tuple[frozenset, frozenset]:
    """(module-level container names, classes instantiated at module level), once per module."""
    cached = getattr(ctx, "_dbs_module_facts", None)
    if cached is None:
        containers: set[str] = set()
        singletons: set[str] = set()
        classes = {stmt.name for stmt in ctx.tree.body if isinstance(stmt, ast.ClassDef)}
        for stmt in ctx.tree.body:
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            else:
                continue
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            callee = _last_name(value.func) if isinstance(value, ast.Call) else ""
            if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
                callee and _CONTAINER_CALLS.match(callee)
            ):
                containers.update(names)
            elif callee in classes:
                singletons.add(callee)
        cached = (frozenset(containers), frozenset(singletons))
        ctx._dbs_module_facts = cached  # type: ignore[attr-defined]
    return cached


def _loaded_by(call: ast.Call) -> frozenset:
    names: set[str] = set()
    for arg in call.args:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Call) and _last_name(sub.func) in _LOADERS:
                for target in sub.args:
                    if isinstance(target, ast.Attribute):
                        names.add(target.attr)
                    elif isinstance(target, ast.Constant) and isinstance(target.value, str):
                        names.add(target.value.rpartition(".")[2])
    return frozenset(names)


def _free_names(function: ast.AST) -> frozenset:
    """Names a nested function reads but does not bind (its parameters and assignments)."""
    args = function.args  # type: ignore[attr-defined]
    bound = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a is not None}
    read: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
    return frozenset(read - bound)


# Calls that read nothing of an object's relationships: they do not load them.
_HARMLESS_CALLS = frozenset({"print", "len", "str", "repr", "id", "hash", "bool", "type", "isinstance", "format"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})


def _harmless(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in _HARMLESS_CALLS
    return isinstance(func, ast.Attribute) and func.attr in _LOG_METHODS


def _refreshed(call: ast.Call) -> frozenset:
    names = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "attribute_names":
            names = keyword.value
    if isinstance(names, (ast.List, ast.Tuple, ast.Set)):
        return frozenset(e.value for e in names.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return frozenset()


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


# --- the check --------------------------------------------------------------------------------


def check(ctx: ModuleContext) -> list[Finding]:
    """DBS003-DBS009 for every function that opens, closes or receives a session."""
    gate = Gate(ctx)
    if gate.empty:
        return []
    models: ModelResolver | None = None
    findings: list[Finding] = []
    for function, qualname in ctx.functions:
        if not gate.admits(function):
            continue
        if models is None:
            models = ModelResolver(ctx)
        try:
            flow = FunctionFlow(ctx, models, function, qualname, gate.markers)
            findings.extend(flow.run())
            findings.extend(unclosed(ctx, function, qualname, flow.acquisitions))
        except RecursionError:
            continue
    return findings
