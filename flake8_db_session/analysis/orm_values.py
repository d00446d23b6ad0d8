"""The abstract values of the ORM flow analysis, and small AST helpers it shares.

A name holds a session, an ORM object, a container of them, a statement or a result (``Val``),
tied to the scope (``Scope``) that loaded it. ``State`` is what is known at one point of a
function; ``join`` keeps only what every branch that falls through agrees on.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..rules import format_message
from .astutil import free_names, last_name
from .context import own_walk
from .models import ModelInfo

if TYPE_CHECKING:
    from .context import ModuleContext
    from .findings import Finding
    from .models import ModelResolver
    from .orm_gate import CallMarkers
    from .orm_services import ServiceResolver
    from .orm_stores import Holders
    from .scopes import ScopeSpec

# Kinds of abstract values.
ORM, MANY, SESSION, QUERY, RESULT, SCALARS = "orm", "many", "session", "query", "result", "scalars"

# Session methods that check a connection out again (or re-attach objects) after close().
REOPENING = frozenset(
    {"query", "execute", "scalar", "scalars", "get", "get_one", "add", "add_all", "flush", "refresh",
     "merge", "delete", "connection", "stream", "stream_scalars"}
)
CHAIN = frozenset(
    {"filter", "filter_by", "where", "order_by", "limit", "offset", "join", "outerjoin", "distinct",
     "group_by", "having", "execution_options", "with_for_update", "params", "select_from", "options",
     "unique", "yield_per", "populate_existing", "enable_eagerloads", "join_from"}
)
ONE = frozenset({"first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "get"})
ALL = frozenset({"all", "fetchall", "fetchmany", "partitions"})
BORROWED_CONNECTIONS = frozenset({"get_bind", "connection"})
# Builtins that return the same instances in another container.
SAME_ITEMS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "reversed"})
LOADERS = frozenset({"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager", "defaultload"})
STATE_HOLDERS = ("state",)  # request.state / app.state
TASK_CALLS = frozenset({"add_task", "create_task", "ensure_future", "run_in_executor", "to_thread", "submit", "start_soon"})
STREAMING = re.compile(r"Streaming|EventSource")


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
    # A call that may return it with no session (built from a cached dict, a copy), as written:
    # ``auth.get_user(email) (through _user_from_dict())``; it may be attached on other paths.
    inferred: str = ""

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
    # "May have no session" on one path is kept: it is a fact about some path.
    return replace(a, expired=a.expired and b.expired, loaded=a.loaded | b.loaded, inferred=a.inferred or b.inferred)


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



_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def walk_breadth_first(node: ast.AST) -> list[ast.AST]:
    """The nodes ``ast.walk`` yields, in its order, but the shared ``Load``/``Store`` contexts:
    about twice as fast (no generator per node)."""
    found = [node]
    fields = _CHILD_FIELDS
    at = 0
    while at < len(found):
        current = found[at]
        at += 1
        cls = current.__class__
        names = fields.get(cls)
        if names is None:
            names = fields[cls] = tuple(name for name in cls._fields if name != "ctx")
        for name in names:
            value = getattr(current, name, None)
            if value.__class__ is list:
                found.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                found.append(value)
    return found


def loaded_by(call: ast.Call) -> frozenset:
    names: set[str] = set()
    for arg in call.args:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Call) and last_name(sub.func) in LOADERS:
                for target in sub.args:
                    if isinstance(target, ast.Attribute):
                        names.add(target.attr)
                    elif isinstance(target, ast.Constant) and isinstance(target.value, str):
                        names.add(target.value.rpartition(".")[2])
    return frozenset(names)



# Calls that read nothing of an object's relationships: they do not load them.
_HARMLESS_CALLS = frozenset({"print", "len", "str", "repr", "id", "hash", "bool", "type", "isinstance", "format"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})


def harmless_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in _HARMLESS_CALLS
    return isinstance(func, ast.Attribute) and func.attr in _LOG_METHODS


def refreshed_names(call: ast.Call) -> frozenset:
    names = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "attribute_names":
            names = keyword.value
    if isinstance(names, (ast.List, ast.Tuple, ast.Set)):
        return frozenset(e.value for e in names.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return frozenset()



# Names a session goes by: ``db``, ``session``, ``db_session``, ``self.db``, ``async_session``...
_SESSION_NAME = re.compile(r"(?:^|_)(?:db|session|sess|dbsession)$", re.IGNORECASE)
_NOT_SESSIONS = re.compile(r"(?:http|client|aiohttp|requests|redis|ws|web|browser|ssh|ftp|boto|grpc)_?session$", re.IGNORECASE)


def session_like(node: ast.expr) -> bool:
    """Whether an expression's last name is one a database session goes by."""
    return session_name(last_name(node))


def session_name(name: str) -> bool:
    """Whether a name is one a database session goes by."""
    return bool(name) and _SESSION_NAME.search(name) is not None and _NOT_SESSIONS.search(name) is None


_SESSION_METHODS = frozenset({"query", "execute", "scalars", "scalar", "get", "exec", "add", "commit", "flush", "merge", "refresh"})


def used_as_sessions(function: ast.FunctionDef | ast.AsyncFunctionDef, candidates: list[str]) -> list[str]:
    """Of parameters named like a session, those the function calls session methods on
    (``db.query(...)``, ``db.execute(...)``): ``db`` as a Redis index or a path is not one."""
    if not candidates:
        return []
    found: list[str] = []
    for node in own_walk(function.body):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SESSION_METHODS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in candidates
            and node.func.value.id not in found
            and (node.func.attr != "get" or (node.args and last_name(node.args[0])[:1].isupper()))
        ):
            found.append(node.func.value.id)
    return found



class FlowContext:
    """One function's flow analysis, shared by its rule pieces (``Expressions``, ``StoreChecks``,
    ``Escapes`` and the statements of ``FunctionFlow``): the function and its module, the
    resolvers, the scopes opened so far, the findings, and what the statements learned about
    the function (globals, nested functions, commit-on-success blocks)."""

    def __init__(
        self,
        ctx: ModuleContext,
        models: ModelResolver,
        services: ServiceResolver,
        holders: Holders,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        qualname: str,
        markers: CallMarkers,
        persists: frozenset[str],
    ) -> None:
        self.ctx = ctx
        self.models = models
        self.services = services
        self.holders = holders
        self.function = function
        self.qualname = qualname
        # Calls whose value must be seen even when no tracked name is around (``Gate.markers``).
        self.markers = markers
        # Names whose attributes the function writes before a commit: a call assigned to one is
        # resolved (a service may return an object no session holds), not skipped as quiet.
        self.persists = persists
        self.scopes: dict[int, Scope] = {}
        self.exits: list[int] = []  # scopes that close before a `return` reaches the caller
        self.findings: dict[tuple[int, int, str], Finding] = {}
        self.globals: set[str] = set()
        self.nested: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}  # nested functions by name
        self._closures: dict[str, frozenset[str]] = {}
        # Commit-on-success scopes being analyzed, and the ORM values their bodies bound, by
        # scope: an ``except`` after the block sees them rolled back (expired) and closed.
        self.committing: list[int] = []
        self.bound_in: dict[int, dict[str, Val]] = {}
        self.with_scopes: dict[int, list[int]] = {}  # id of a ``with`` -> the committing scopes it opened
        self._first_stores: dict[str, int] | None = None
        self._text: str | None = None
        self._nodes: list[ast.AST] | None = None

    def define_nested(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A nested ``def`` reached: its name now stands for this function."""
        self.nested[function.name] = function
        self._closures.pop(function.name, None)

    def closure(self, name: str) -> frozenset[str]:
        """The names the nested function ``name`` reads and does not bind: a closure carries
        those values (computed when a hand-off asks)."""
        found = self._closures.get(name)
        if found is None:
            found = self._closures[name] = free_names(self.nested[name])
        return found

    def new_scope(self, session: str, kind: str, spec: ScopeSpec | None) -> int:
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

    def report(self, node: ast.AST, code: str, **fields: object) -> None:
        # One DBS006 per line: ``create_task(to_thread(f, obj))`` hands the object on once.
        key = (getattr(node, "lineno", 0), 0 if code == "DBS006" else getattr(node, "col_offset", 0), code)
        if key not in self.findings:
            self.findings[key] = self.ctx.finding(node, code, format_message(code, **fields), self.qualname)

    def gone(self, value: Val, state: State) -> str:
        """Why the object no longer has a live session ("" if it still has one)."""
        if value.detached_source:
            return f"it comes from {value.detached_source}()"
        if value.scope >= 0 and value.scope in state.closed:
            return f"session {self.scopes[value.scope].session} closed on line {state.closed[value.scope]}"
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

    @property
    def text(self) -> str:
        """The function's source lines from its ``def`` ("" without source lines)."""
        if self._text is None:
            function = self.function
            lines = self.ctx.lines
            self._text = "".join(lines[function.lineno - 1 : function.end_lineno]) if lines else ""
        return self._text

    def nodes(self) -> list[ast.AST]:
        """Every node of the function, nested code included, in ``ast.walk`` order (walked once)."""
        if self._nodes is None:
            self._nodes = walk_breadth_first(self.function)
        return self._nodes

    def first_stores(self) -> dict[str, int]:
        """Every name the function binds (nested code included), with the first line that
        binds it: 0 for a parameter."""
        if self._first_stores is None:
            first: dict[str, int] = {}
            args = self.function.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    first[arg.arg] = 0
            for sub in self.nodes():
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    first[sub.id] = min(first.get(sub.id, sub.lineno), sub.lineno)
            self._first_stores = first
        return self._first_stores
