"""Where the short scope goes in one endpoint body (pure ``ast``, no edits).

The scope covers the smallest run of top-level body statements that use the session, extended
forwards while a later statement reads a value made inside that may hold ORM objects (a lazy
relationship read after the scope would raise DetachedInstanceError). Values that are certainly
plain (constants, serializer results, counts, comparisons) do not extend it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

NestedScope = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

# Calls whose result is plain data, whatever they are given.
SERIALIZER_METHODS = frozenset(
    {"model_dump", "model_dump_json", "model_validate", "model_validate_json", "model_construct", "from_orm", "parse_obj",
     "dict", "json", "to_dict", "count", "isoformat", "hex"}
)
PLAIN_BUILTINS = frozenset(
    {"len", "int", "str", "float", "bool", "abs", "round", "repr", "hash", "isinstance", "issubclass",
     "any", "all", "sum", "jsonable_encoder", "HTTPException", "ValueError", "Decimal"}
)
# Classes whose instances are never ORM objects (responses, exceptions).
PLAIN_CLASS_SUFFIXES = ("Response", "Exception", "Error")
# Calls that hand their arguments to something that runs after the endpoint returned.
DEFERRING_CALLS = frozenset(
    {"add_task", "create_task", "ensure_future", "run_coroutine_threadsafe", "run_in_executor", "submit",
     "start_soon", "call_soon", "call_later", "call_soon_threadsafe", "Thread", "Process", "Timer",
     "apply_async", "delay", "spawn"}
)


@dataclass
class ScopePlan:
    """What to do with one endpoint body."""

    action: str  # "move", "remove" (unused parameter) or "skip"
    reason: str = ""  # skip reason key
    detail: str = ""  # one line for the summary
    first: int = 0  # index of the first body statement inside the scope
    last: int = 0  # index of the last one
    returns: list[ast.Return] = field(default_factory=list)  # returns inside the scope that may carry ORM values
    statements: list[ast.stmt] = field(default_factory=list)  # the body (function's or a try's) holding the scope


def names_in(node: ast.AST, ctx: type | tuple[type, ...] | None = None) -> Iterator[ast.Name]:
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and (ctx is None or isinstance(child.ctx, ctx)):
            yield child


def _mentions(node: ast.AST, name: str) -> bool:
    return any(n.id == name for n in names_in(node))


def outlives_call(body: list[ast.stmt], session: str) -> str:
    """Why the session would escape the call (empty when it does not)."""
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, NestedScope) and _mentions(node, session):
                return f"captured by a nested {'lambda' if isinstance(node, ast.Lambda) else 'definition'} (line {node.lineno})"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in DEFERRING_CALLS and any(
                    _mentions(arg, session) for arg in [*node.args, *(k.value for k in node.keywords)]
                ):
                    return f"passed to {name}() (line {node.lineno})"
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _mentions(node.value, session):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets) and _holds(node.value, session):
                    return f"stored on an object (line {node.lineno})"
            if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and node.value is not None and _holds(
                node.value, session
            ):
                return f"returned to the caller (line {node.lineno})"
            if isinstance(node, ast.Global) and session in node.names:
                return f"declared global (line {node.lineno})"
    return ""


def _holds(value: ast.expr, session: str) -> bool:
    """The value is the session itself or a container literal holding it."""
    if isinstance(value, ast.Name):
        return value.id == session
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        return any(_holds(elt, session) for elt in value.elts)
    if isinstance(value, ast.Dict):
        return any(v is not None and _holds(v, session) for v in value.values)
    return False


def rebinds(body: list[ast.stmt], session: str) -> bool:
    return any(n.id == session for stmt in body for n in names_in(stmt, (ast.Store, ast.Del)))


class ValueKinds:
    """Which names may hold ORM objects after a run of statements."""

    def __init__(self, serializers: Iterable[str], schemas: Iterable[str] = ()) -> None:
        self.serializers = frozenset(s.rpartition(".")[2] for s in serializers) | SERIALIZER_METHODS
        # Constructors known to build plain data (response schemas): ``AuthorBrief(...)``,
        # ``schemas.ToolRead(...)``. Any other class call may build an ORM instance.
        self.schemas = frozenset(schemas)

    def is_plain(self, node: ast.expr | None, risky: set[str]) -> bool:
        """True when the expression certainly yields plain data (no ORM instance)."""
        if node is None or isinstance(node, (ast.Constant, ast.JoinedStr, ast.Compare)):
            return True
        if isinstance(node, ast.Name):
            return node.id not in risky
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return all(self.is_plain(e, risky) for e in node.elts)
        if isinstance(node, ast.Dict):
            return all(self.is_plain(v, risky) for v in node.values) and all(
                self.is_plain(k, risky) for k in node.keys if k is not None
            )
        if isinstance(node, ast.Await):
            return self.is_plain(node.value, risky)
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, ast.Not) or self.is_plain(node.operand, risky)
        if isinstance(node, (ast.BoolOp,)):
            return all(self.is_plain(v, risky) for v in node.values)
        if isinstance(node, ast.BinOp):
            return self.is_plain(node.left, risky) and self.is_plain(node.right, risky)
        if isinstance(node, ast.IfExp):
            return self.is_plain(node.body, risky) and self.is_plain(node.orelse, risky)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = set(risky)
            for generator in node.generators:
                bound = {n.id for n in names_in(generator.target)}
                if self.is_plain(generator.iter, inner):
                    inner -= bound
                else:
                    inner |= bound
            if isinstance(node, ast.DictComp):
                return self.is_plain(node.key, inner) and self.is_plain(node.value, inner)
            return self.is_plain(node.elt, inner)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                receiver = ast.unparse(func.value)
                return (
                    func.attr in self.serializers
                    or func.attr.endswith(PLAIN_CLASS_SUFFIXES)
                    or ast.unparse(func) in self.schemas
                    # Alternate constructors of a schema (EmailUserResponse.from_email_user(user)).
                    or ((receiver in self.schemas or receiver.endswith(PLAIN_CLASS_SUFFIXES)) and receiver[:1].isupper())
                )
            if isinstance(func, ast.Name):
                name = func.id
                return (
                    name in PLAIN_BUILTINS
                    or name in self.serializers
                    or name.endswith(PLAIN_CLASS_SUFFIXES)
                    or name in self.schemas
                )
        return False

    def risky_after(self, statements: list[ast.stmt], risky: set[str]) -> set[str]:
        """Names that may hold ORM objects once the statements ran (in order, conservatively)."""
        risky = set(risky)
        for stmt in statements:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Assign):
                    plain = self.is_plain(node.value, risky)
                    for target in node.targets:
                        self._bind(target, plain, risky)
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                    plain = self.is_plain(node.value, risky) and (
                        isinstance(node, ast.AnnAssign) or self.is_plain(node.target, risky)
                    )
                    self._bind(node.target, plain, risky)
                elif isinstance(node, ast.NamedExpr):
                    self._bind(node.target, self.is_plain(node.value, risky), risky)
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                    self._bind(node.target, self.is_plain(node.iter, risky), risky)
                elif isinstance(node, (ast.With, ast.AsyncWith)):
                    for item in node.items:
                        if item.optional_vars is not None:
                            self._bind(item.optional_vars, False, risky)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    # items.append(obj), cache.update(...): the receiver may now hold ORM objects.
                    receiver = node.func.value
                    if isinstance(receiver, ast.Name) and not all(
                        self.is_plain(a, risky) for a in [*node.args, *(k.value for k in node.keywords)]
                    ):
                        risky.add(receiver.id)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    risky.add(node.name)
        return risky

    @staticmethod
    def _bind(target: ast.expr, plain: bool, risky: set[str]) -> None:
        if isinstance(target, ast.Name):
            if plain:
                risky.discard(target.id)
            else:
                risky.add(target.id)
        elif isinstance(target, (ast.Subscript, ast.Attribute)):
            # obj[k] = value / obj.attr = value: obj may now hold what value holds.
            base = target.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name) and not plain:
                risky.add(base.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                ValueKinds._bind(elt.value if isinstance(elt, ast.Starred) else elt, plain, risky)


def _shadows(stmt: ast.stmt, session: str) -> bool:
    """``db = next(get_db())`` before any read: the parameter is dead."""
    return (
        isinstance(stmt, (ast.Assign, ast.AnnAssign))
        and stmt.value is not None
        and any(isinstance(t, ast.Name) and t.id == session for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))
        and not _mentions(stmt.value, session)
    )


def _stmt_lines(stmt: ast.stmt) -> tuple[int, int]:
    first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
    return first, stmt.end_lineno or stmt.lineno


def plan_scope(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    session: str,
    lines: list[str],
    kinds: ValueKinds,
) -> ScopePlan:
    body = function.body
    head = body[0]
    if lines[head.lineno - 1].encode("utf-8")[: head.col_offset].strip():
        return ScopePlan("skip", "layout", "the body starts on the line of the signature")
    using = [i for i, stmt in enumerate(body) if _mentions(stmt, session)]
    if using and _shadows(body[using[0]], session):
        return ScopePlan("remove", detail=f"the body binds its own {session} first")
    if rebinds(body, session):
        return ScopePlan("skip", "rebinds-session", f"the body assigns or deletes {session}")
    escape = outlives_call(body, session)
    if escape:
        return ScopePlan("skip", "outlives-call", f"the session is {escape}")
    if not using:
        return ScopePlan("remove")
    statements: list[ast.stmt] = body
    prefix: set[str] = set()
    first, last, risky = _span(statements, session, kinds, prefix)
    # A scope around a whole `try` can often move inside it: the handlers then run without
    # the session (they never used it), and the except clauses keep their indentation.
    while first == last:
        whole = statements[first]
        if not isinstance(whole, ast.Try):
            break
        outer_prefix = kinds.risky_after(statements[:first], prefix)
        inner = _inside_try(whole, session, kinds, outer_prefix, lines)
        if inner is None:
            break
        statements, prefix = whole.body, outer_prefix
        first, last, risky = inner
    returns = [
        node
        for stmt in statements[first : last + 1]
        for node in walk_local(stmt)
        if isinstance(node, ast.Return) and not kinds.is_plain(node.value, risky)
    ]
    return ScopePlan("move", first=first, last=last, returns=returns, statements=statements)


def _span(body: list[ast.stmt], session: str, kinds: ValueKinds, prefix: set[str]) -> tuple[int, int, set[str]]:
    """(first, last, names that may hold ORM objects after it) of the scope within one body."""
    using = [i for i, stmt in enumerate(body) if _mentions(stmt, session)]
    first, last = using[0], using[-1]
    while True:
        first, last = _whole_lines(body, first, last)
        # A value made before the scope and handed to the session inside it (db.add(note))
        # is attached to it from then on.
        mentioned = {n.id for stmt in body[first : last + 1] for n in names_in(stmt)}
        attached = kinds.risky_after(body[:first], prefix) & mentioned
        risky = kinds.risky_after(body[first : last + 1], attached)
        risky.discard(session)
        later = next(
            (j for j in range(len(body) - 1, last, -1) if any(n.id in risky for n in names_in(body[j], ast.Load))),
            None,
        )
        if later is None:
            return first, last, risky
        last = later


def _inside_try(
    statement: ast.Try, session: str, kinds: ValueKinds, prefix: set[str], lines: list[str]
) -> tuple[int, int, set[str]] | None:
    """The scope within a ``try`` body, when nothing outside that body needs the session or its values."""
    outside = [*statement.handlers, *statement.orelse, *statement.finalbody]
    if any(_mentions(part, session) for part in outside):
        return None
    first, last, risky = _span(statement.body, session, kinds, prefix)
    if any(n.id in risky for part in outside for n in names_in(part, ast.Load)):
        return None
    head = statement.body[first]
    if lines[head.lineno - 1].encode("utf-8")[: head.col_offset].strip():
        return None  # `try: x = db.get(...)` on one line
    return first, last, risky


def _whole_lines(body: list[ast.stmt], first: int, last: int) -> tuple[int, int]:
    """Widen the run so no line holds statements both inside and outside it (``a = 1; b = db``)."""
    while first > 0 and _stmt_lines(body[first - 1])[1] >= _stmt_lines(body[first])[0]:
        first -= 1
    while last + 1 < len(body) and _stmt_lines(body[last + 1])[0] <= _stmt_lines(body[last])[1]:
        last += 1
    return first, last


def walk_local(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk without descending into nested functions, lambdas or classes."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, NestedScope):
                stack.append(child)


def statement_lines(stmt: ast.stmt) -> tuple[int, int]:
    return _stmt_lines(stmt)
