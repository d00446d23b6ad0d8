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
from typing import TYPE_CHECKING, Protocol

from .astutil import last_name
from .context import own_walk
from .models import ModelInfo

if TYPE_CHECKING:
    from .context import ModuleContext
    from .models import ModelResolver
    from .orm_services import ServiceResolver
    from .orm_stores import Holders

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
    name = last_name(node)
    return bool(name) and _SESSION_NAME.search(name) is not None and _NOT_SESSIONS.search(name) is None


_SESSION_METHODS = frozenset({"query", "execute", "scalars", "scalar", "get", "exec", "add", "commit", "flush", "merge", "refresh"})


def used_as_sessions(function: ast.AST, candidates: list[str]) -> list[str]:
    """Of parameters named like a session, those the function calls session methods on
    (``db.query(...)``, ``db.execute(...)``): ``db`` as a Redis index or a path is not one."""
    if not candidates:
        return []
    found: list[str] = []
    for node in own_walk(function.body):  # type: ignore[attr-defined]
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



class FlowHost(Protocol):
    """What the rule pieces of the flow analysis (``ExpressionFlow``, ``StoreChecks``) share: the
    function being analyzed, its scopes and resolvers, and the operations each piece offers the
    others. ``FunctionFlow`` (escapes.py) is the one implementation."""

    ctx: ModuleContext
    models: ModelResolver
    services: ServiceResolver
    holders: Holders
    function: ast.AST
    qualname: str
    persists: frozenset[str]
    scopes: dict[int, Scope]
    closures: dict[str, frozenset[str]]
    nested: dict[str, ast.AST]
    globals: set[str]

    def report(self, node: ast.AST, code: str, **fields: object) -> None: ...
    def bind(self, target: ast.expr, value: Val | None, state: State, value_node: ast.expr | None = None) -> None: ...
    def gone(self, value: Val, state: State) -> str: ...
    def hazard(self, value: Val, expires_on_exit: bool) -> str: ...
    def escape(self, node: ast.expr, value: Val | None, state: State, returning: bool) -> None: ...
    # ExpressionFlow
    def expr(self, node: ast.expr | None, state: State) -> Val | None: ...
    def element(self, value: Val | None) -> Val | None: ...
    def commit_scope(self, scope_id: int, state: State) -> None: ...
    def close_scope(self, scope_id: int, state: State, line: int) -> None: ...
    # StoreChecks
    def write(self, target: ast.Attribute, state: State) -> None: ...
    def store_in_global(self, target: ast.Name, value: Val | None, value_node: ast.expr | None) -> None: ...
    def store(self, target: ast.expr, value: Val | None, state: State, value_node: ast.expr | None) -> None: ...
    def check_handoff(self, node: ast.Call, values: list[Val | None], state: State) -> None: ...
    def cached_return(self, node: ast.expr, value: Val | None) -> None: ...


if TYPE_CHECKING:
    FlowPiece = FlowHost  # the pieces are typed against the host they are mixed into
else:
    FlowPiece = object
