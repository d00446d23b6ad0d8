"""What a request-scoped session's open transaction is held across (the ``held-across-await`` tag).

A SQLAlchemy ``Session`` checks out a connection and begins a transaction on its first use
(execute, query, get, flush...) and holds both until ``commit()``, ``rollback()`` or ``close()``.
So for the session parameter of a DBS001/DBS002 site this module walks the function body in
evaluation order with one fact, "a transaction may be open here" (on some path: branches are
joined, loop bodies run twice so a query late in an iteration reaches the await early in the
next), and records every point where the request waits while that fact holds:

- an ``await`` that is not on the session (``await client.get(...)``, ``await asyncio.sleep(1)``);
- ``async with``/``async for`` over something else;
- a known blocking call (``time.sleep``, ``requests.*``, sync ``httpx``, ``subprocess``...).

A call that is given the session and resolves to a function of the same project (a module
function, a method of ``self`` or of a module-level service instance) is followed one call deep:
its own body is analyzed the same way, once with a transaction open on entry and once without.
So is a method of an object built around the session (``EmailAuthService(db).login()``), with
the attribute ``__init__`` stores it in (``self.db``) as the session, and the methods of ``self``
that method calls. An unresolved call given the session counts as a database use.

Other modules are read through the project index as text; a helper is cut out of it and parsed
alone (a service module can be 10,000 lines; the endpoint calls three of its methods).

It also answers whether the transaction may still be open when the function returns: the
response is then serialized and sent with it open.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import textwrap
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from .astutil import dotted

if TYPE_CHECKING:
    from .orm_services import ServiceResolver
from .context import ModuleContext, ProjectIndex, child_fields, walk
from .findings import HELD_TAG, Finding, HeldPoint
from .models import imports_only
from .orm_services import class_matches as _classes
from .orm_services import def_matches as _defs
from .orm_services import service_facts, top_level_lines
from .syntax import TryNode, is_try

# Session methods that end the transaction and hand the connection back to the pool.
_ENDS = frozenset({"commit", "rollback", "close", "reset", "invalidate"})
# Session members that neither connect nor begin a transaction.
_NO_CONNECTION = frozenset(
    {
        "add", "add_all", "expunge", "expunge_all", "expire", "expire_all", "begin", "is_modified",
        "in_transaction", "in_nested_transaction", "get_bind", "enable_relationship_loading", "info",
    }
)
# Methods only a session has (among the common ones): a parameter that receives one of them is a
# session in a helper whose signature says nothing.
_SESSION_ONLY = frozenset(
    {"execute", "query", "scalars", "scalar", "commit", "flush", "rollback", "refresh", "merge", "add_all", "expunge"}
)
_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream"})
# Blocking calls by qualified name; a module here blocks on any of the verbs above.
_BLOCKING = frozenset(
    {
        "time.sleep", "os.system", "os.popen", "os.wait", "os.waitpid",
        "urllib.request.urlopen", "socket.create_connection", "smtplib.SMTP",
        "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
        "subprocess.getoutput", "subprocess.getstatusoutput",
    }
)
_BLOCKING_HTTP_MODULES = ("requests", "httpx")
# The top-level packages of the names above.
_BLOCKING_TOPS = frozenset({*(name.partition(".")[0] for name in _BLOCKING), *_BLOCKING_HTTP_MODULES})
# Synchronous clients: a name bound to one blocks on its HTTP verbs.
_SYNC_CLIENTS = frozenset({"httpx.Client", "requests.Session", "requests.session", "urllib3.PoolManager"})
_SYNC_CLIENT_NAMES = frozenset(name.rpartition(".")[2] for name in _SYNC_CLIENTS)
_NESTED_SCOPE_CLASSES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda})
_TRY_CLASSES = frozenset({ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ())})
_MAX_CALL_TEXT = 60
_T = TypeVar("_T")


@dataclass(frozen=True)
class Outcome:
    """One run over a body from one entry state."""

    points: tuple[HeldPoint, ...]
    open_at_exit: bool


@dataclass(frozen=True)
class HelperSummary:
    """A same-project function given the session: what it does from either entry state."""

    closed_entry: Outcome
    open_entry: Outcome


@dataclass(frozen=True)
class _Signature:
    positional: tuple[str, ...]
    is_method: bool  # called through an instance: the first positional parameter is bound
    summaries: dict[str, HelperSummary]  # session-like parameter -> summary


def _root(node: ast.AST) -> ast.AST:
    """The object a call chain starts from: ``db`` for ``db.query(X).filter(...).all``."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Subscript, ast.Await)):
            node = node.value
        else:
            return node


def _call_text(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else node
    name = dotted(func) if isinstance(func, ast.expr) else ""
    text = " ".join((name or ast.unparse(func)).split())
    return text if len(text) <= _MAX_CALL_TEXT else text[: _MAX_CALL_TEXT - 3] + "..."


class _Flow:
    """The walk over one function body for one set of session names."""

    def __init__(
        self,
        ctx: ModuleContext,
        sessions: set[str],
        owner: str,
        helpers: HeldHelpers | None,
        *,
        follow: bool = True,
        carriers: dict[str, ast.Call] | None = None,
        received: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.sessions = set(sessions)
        # Objects built around the session: ``svc = Service(db)``, ``self.roles = RoleService(db)``.
        self.carriers: dict[str, ast.Call] = dict(carriers or {})
        self.received = received  # in a method whose session is ``self.db``: the ``__init__`` parameter
        self.sync_clients: set[str] = set()
        self.owner = owner  # the enclosing class, for ``self.method(db)``
        self.helpers = helpers
        self.follow = follow  # follow calls given the session into same-project helpers
        self.points: dict[tuple[int, str, str, str], HeldPoint] = {}
        self.open_at_exit = False
        self.uses = 0  # database uses seen so far (a try's handlers start open if its body used it)
        self.finally_bodies: list[list[ast.stmt]] = []
        # Names bound later (``s = db``, ``svc = Service(db)``) are plain names: an attribute chain
        # can only stand for a session or a carrier given at the start (``self.db``).
        self._dotted_sessions = any("." in name for name in self.sessions)
        self._dotted_carriers = any("." in name for name in self.carriers)
        self._self_attributes = [name[5:] for name in self.sessions if name.startswith("self.")]
        # Lines of the body (see ``_quiet``): those whose text spells a session's or a carrier's
        # name, and those that may wait (``await``, a name a blocking call starts from, a
        # synchronous client). None: nothing is skipped (no waits: an open transaction is not).
        self._marks: list[int] | None = None
        self._waits: list[int] | None = None
        self._text = ""  # the body's text, from line ``_first``
        self._first = 0
        self._searched: set[str] = set()
        self._clients: set[str] = set()  # the names of synchronous clients seen so far

    # -- running --------------------------------------------------------------------------------
    def run(self, body: list[ast.stmt], entry: bool) -> Outcome:
        self._find_marks(body)
        end = self._block(body, entry)
        if end:
            self.open_at_exit = True
        return Outcome(tuple(sorted(self.points.values(), key=lambda p: (p.line, p.call))), self.open_at_exit)

    # Skipping what cannot matter: an expression that names no session and no carrier leaves a
    # closed transaction closed and records nothing; while one is open, it records a wait only
    # at an ``await`` or a call that blocks, which names a blocking module (or a name imported
    # from one) or a synchronous client. That holds when the sessions and carriers are plain
    # names (a session given as ``self.db`` also reaches ``self.method()``, which names neither),
    # and a name always sits on a line of its expression that spells it.
    def _find_marks(self, body: list[ast.stmt]) -> None:
        helpers = self.helpers
        if self._dotted_sessions or self._dotted_carriers or helpers is None or not body:
            return
        end = getattr(body[-1], "end_lineno", None)
        text = helpers.window(body[0].lineno, end) if end is not None else None
        if text is None:
            return
        self._text, self._first = text, body[0].lineno
        words = {*self.sessions, *self.carriers}
        self._searched = words
        self._marks = self._lines_spelling(words)

    def _lines_spelling(self, words: Iterable[str]) -> list[int]:
        """The lines of the body holding one of ``words`` (identifiers) as a whole word."""
        first = self._first - 1
        found = {first + line for word in words for line in _word_lines(self._text, word)}
        return sorted(found)

    def _watch(self, name: str, waits: bool = False) -> None:
        """A name bound to the session or a carrier (or, ``waits``, a synchronous client): its
        lines count too."""
        if waits:
            self._clients.add(name)
            if self._waits is None:
                return  # found with the other waits, if they are ever needed
        marks = self._waits if waits else self._marks
        if marks is None or (not waits and name in self._searched):
            return
        if not waits:
            self._searched.add(name)
        found = self._lines_spelling((name,))
        if found:
            merged = sorted({*marks, *found})
            if waits:
                self._waits = merged
            else:
                self._marks = merged

    def _quiet(self, node: ast.expr | ast.stmt, state: bool) -> bool:
        """Whether an expression or a statement can be skipped in this state (see above)."""
        marks = self._marks
        if marks is None:
            return False
        end = getattr(node, "end_lineno", None)
        if end is None:
            return False
        start = node.lineno
        at = bisect_left(marks, start)
        if at < len(marks) and marks[at] <= end:
            return False
        if not state:
            return True
        waits = self._waits
        if waits is None:
            # Found when first needed: many bodies never open the transaction.
            blocking = self.helpers.blocking_words() if self.helpers is not None else None
            if blocking is None:
                self._marks = None
                return False
            waits = self._waits = self._lines_spelling({*blocking, *self._clients})
        at = bisect_left(waits, start)
        return at == len(waits) or waits[at] > end

    def _top(self, node: ast.expr | None, state: bool) -> bool:
        """``_expr`` for an expression a statement holds, unless it can be skipped."""
        if node is None or self._quiet(node, state):
            return state
        return self._expr(node, state)

    def _block(self, body: list[ast.stmt], state: bool | None) -> bool | None:
        """The state after a statement list; None = no path reaches its end."""
        for stmt in body:
            if state is None:
                return None
            state = self._stmt(stmt, state)
        return state

    def _stmt(self, stmt: ast.stmt, state: bool) -> bool | None:
        # Dispatch on the exact class (parsed trees hold no subclasses), spelled ``type(stmt) is C``
        # where the branch reads the node's fields: the type checker narrows on that form.
        kind = type(stmt)
        if kind in _NESTED_SCOPE_CLASSES:
            return state
        if type(stmt) is ast.Assign:
            quiet = self._quiet(stmt, state)
            if not quiet:
                state = self._expr(stmt.value, state)
            self._bind(stmt.targets, stmt.value)
            if not quiet:
                for target in stmt.targets:
                    state = self._expr(target, state)
            return state
        if type(stmt) is ast.Expr:
            return self._top(stmt.value, state)
        if type(stmt) is ast.Return:
            state = self._top(stmt.value, state)
            for body in reversed(self.finally_bodies):
                after = self._block(body, state)
                state = bool(after)
            if state:
                self.open_at_exit = True
            return None
        if type(stmt) is ast.Raise:
            self._top(stmt.exc, state)
            return None
        if type(stmt) is ast.If:
            state = self._top(stmt.test, state)
            return _join(self._block(stmt.body, state), self._block(stmt.orelse, state))
        if type(stmt) is ast.For or type(stmt) is ast.AsyncFor:
            state = self._top(stmt.iter, state)
            on_session = kind is ast.AsyncFor and self._mentions_session(stmt.iter)
            head: bool | None = state
            for _ in range(2):
                if kind is ast.AsyncFor and not on_session and head:
                    self._record(stmt.iter, stmt.lineno, "async for")
                head = _join(head, self._block(stmt.body, bool(head)))
            return self._block(stmt.orelse, bool(head))
        if type(stmt) is ast.While:
            head = state
            for _ in range(2):
                entry = self._top(stmt.test, bool(head))
                head = _join(head, self._block(stmt.body, entry))
            return self._block(stmt.orelse, bool(head))
        if type(stmt) is ast.With or type(stmt) is ast.AsyncWith:
            return self._with(stmt, state)
        if kind in _TRY_CLASSES and is_try(stmt):  # ``is_try``: the same test, which the type checker narrows on
            return self._try(stmt, state)
        # By name first: ``ast.Match`` is new in Python 3.10.
        if kind.__name__ == "Match" and type(stmt) is ast.Match:
            state = self._top(stmt.subject, state)
            end: bool | None = state  # no case matched
            for case in stmt.cases:
                entry = self._top(case.guard, state)
                end = _join(end, self._block(case.body, entry))
            return end
        # AugAssign, AnnAssign, Assert, Delete...: their expressions in field order.
        if not self._quiet(stmt, state):
            for part in _expressions(stmt):
                state = self._expr(part, state)
        if type(stmt) is ast.AnnAssign and stmt.value is not None:
            self._bind([stmt.target], stmt.value)
        return state

    def _with(self, stmt: ast.With | ast.AsyncWith, state: bool) -> bool | None:
        commits_at_exit = False
        waits: list[ast.withitem] = []
        for item in stmt.items:
            expr = item.context_expr
            state = self._top(expr, state)
            if self._mentions_session(expr):
                session = self._session_at(expr)
                func = expr.func if isinstance(expr, ast.Call) else None
                if isinstance(func, ast.Attribute) and func.attr == "begin" and func.value is session:
                    commits_at_exit = True  # ``with db.begin():`` commits (or rolls back) at exit
            elif isinstance(stmt, ast.AsyncWith):
                waits.append(item)
                if state:
                    self._record(expr, stmt.lineno, "async with")
            if (
                isinstance(item.optional_vars, ast.Name)
                and isinstance(expr, ast.Call)
                and self._qualified(expr.func) in _SYNC_CLIENTS
            ):
                self.sync_clients.add(item.optional_vars.id)
                self._watch(item.optional_vars.id, waits=True)
        end = self._block(stmt.body, state)
        if end is None:
            return None
        if commits_at_exit:
            return False
        if end:
            for item in waits:  # ``__aexit__`` is awaited too
                self._record(item.context_expr, stmt.lineno, "async with")
        return end

    def _try(self, stmt: TryNode, state: bool) -> bool | None:
        finalbody = getattr(stmt, "finalbody", [])
        if finalbody:
            self.finally_bodies.append(finalbody)
        uses_before = self.uses
        body_end = self._block(stmt.body, state)
        # A handler may start anywhere in the body: open if the body used the session.
        handler_entry = state or bool(body_end) or self.uses > uses_before
        ends: bool | None = self._block(stmt.orelse, body_end) if body_end is not None else None
        for handler in stmt.handlers:
            ends = _join(ends, self._block(handler.body, handler_entry))
        if finalbody:
            self.finally_bodies.pop()
            # The finally body runs on every path, the exceptional ones included.
            self._block(finalbody, handler_entry)
            return self._block(finalbody, ends) if ends is not None else None
        return ends

    # -- expressions ------------------------------------------------------------------------------
    def _expr(self, node: ast.AST | None, state: bool) -> bool:
        """The state after evaluating an expression (children first, in evaluation order)."""
        if node is None:
            return state
        # Dispatch on the exact class (parsed trees hold no subclasses): the common shapes
        # without the generic child iteration (same children, same order). ``type(node) is C``
        # where the branch reads the node's fields: the type checker narrows on that form.
        kind = type(node)
        if kind is ast.Name or kind is ast.Constant:
            return state
        if type(node) is ast.Call:
            state = self._call_parts(node, state)
            return self._call(node, state, awaited=False, line=node.lineno)
        if type(node) is ast.Attribute or type(node) is ast.Starred:
            return self._expr(node.value, state)
        if type(node) is ast.Await:
            awaited = node.value
            if type(awaited) is ast.Call:
                state = self._call_parts(awaited, state)
                return self._call(awaited, state, awaited=True, line=node.lineno)
            state = self._expr(awaited, state)
            if state and not self._mentions_session(awaited):
                self._record(awaited, node.lineno, "await")
            return state
        if type(node) is ast.Subscript:
            return self._expr(node.slice, self._expr(node.value, state))
        if type(node) is ast.BinOp:
            return self._expr(node.right, self._expr(node.left, state))
        if kind in _NESTED_SCOPE_CLASSES:
            return state
        children: list[ast.expr]
        if type(node) is ast.Compare:
            state = self._expr(node.left, state)
            children = node.comparators
        elif type(node) is ast.BoolOp:
            children = node.values
        elif type(node) is ast.Tuple or type(node) is ast.List:
            children = node.elts
        else:
            for name in child_fields(kind):
                value = getattr(node, name, None)
                if value.__class__ is list:
                    for item in value:
                        if isinstance(item, ast.AST):
                            state = self._expr(item, state)
                elif isinstance(value, ast.AST):
                    state = self._expr(value, state)
            return state
        for child in children:
            state = self._expr(child, state)
        return state

    def _call_parts(self, call: ast.Call, state: bool) -> bool:
        func = call.func
        if type(func) is ast.Attribute:
            state = self._expr(func.value, state)
        elif type(func) is not ast.Name:
            state = self._expr(func, state)
        for arg in call.args:
            state = self._expr(arg, state)
        for keyword in call.keywords:
            state = self._expr(keyword.value, state)
        return state

    def _call(self, call: ast.Call, state: bool, *, awaited: bool, line: int) -> bool:
        func = call.func
        session = self._session_at(func)
        if session is not None:
            if isinstance(func, ast.Attribute) and func.value is session:
                if func.attr in _ENDS:
                    return False
                if func.attr in _NO_CONNECTION:
                    return state
            return self._use()  # a query, or a method on its result: on the session itself
        if isinstance(func, ast.Attribute):
            # A method of an object built around the session: ``svc.method()``, ``Service(db).method()``.
            owner_call = self.carriers.get(dotted(func.value) or "") if self.carriers else None
            if owner_call is None and isinstance(func.value, ast.Call) and self._constructs_carrier(func.value):
                owner_call = func.value
            if owner_call is not None:
                summary = self._carrier_method(owner_call, func.attr)
                return self._apply(summary, call, state, line) if summary is not None else self._use()
        if self._carrier_at(func):
            return self._use()
        if self._self_attributes:
            if self._self_member_uses_session(func):
                # ``self._fetch(...)`` in a method whose session is ``self.db``: that method too.
                summary = self._self_method(func)
                return self._apply(summary, call, state, line) if summary is not None else self._use()
            if isinstance(func, ast.Attribute) and self._self_member_uses_session(func.value):
                return self._use()  # ``self.roles.get(...)``: a property building a service around it
        if self._passes_session(call):
            summary = self._helper(call)
            if summary is not None:
                return self._apply(summary, call, state, line)
            last = (dotted(func) or "").rpartition(".")[2]
            if last[:1].isupper():
                return state  # building an object around the session does not query yet
            return self._use()
        if awaited:
            if state and not self._never_suspends(call):
                self._record(call, line, "await")
            return state
        if state and self._blocking(call):
            self._record(call, line, "blocking")
        return state

    def _use(self) -> bool:
        self.uses += 1
        return True

    def _apply(self, summary: HelperSummary, call: ast.Call, state: bool, line: int) -> bool:
        """A followed helper: its waits become this call's, and it leaves the transaction as it does."""
        outcome = summary.open_entry if state else summary.closed_entry
        callee = _call_text(call)
        for point in outcome.points:
            self._add(HeldPoint(line, callee, point.kind, point.via or point.describe()))
        if outcome.open_at_exit:
            self.uses += 1
        return outcome.open_at_exit

    def _session_at(self, node: ast.AST) -> ast.AST | None:
        """The session (a name, or ``self.db`` in a method) a call chain starts from, or None."""
        sessions = self.sessions
        dotted_sessions = self._dotted_sessions
        while True:
            if type(node) is ast.Name:
                return node if node.id in sessions else None
            if type(node) is ast.Attribute:
                if dotted_sessions and dotted(node) in sessions:
                    return node
                node = node.value
            elif type(node) is ast.Call:
                node = node.func
            elif type(node) is ast.Subscript or type(node) is ast.Await:
                node = node.value
            else:
                return None

    def _carrier_at(self, node: ast.AST) -> bool:
        """Whether a call chain starts from an object built around the session."""
        carriers = self.carriers
        if not carriers:
            return False
        dotted_carriers = self._dotted_carriers
        while True:
            if type(node) is ast.Name:
                return node.id in carriers
            if type(node) is ast.Attribute:
                if dotted_carriers and dotted(node) in carriers:
                    return True
                node = node.value
            elif type(node) is ast.Subscript or type(node) is ast.Await:
                node = node.value
            elif type(node) is ast.Call:
                node = node.func
            else:
                return False

    def _is_session(self, node: ast.AST) -> bool:
        if type(node) is ast.Starred:
            node = node.value
        if type(node) is ast.Name:
            return node.id in self.sessions
        return self._dotted_sessions and isinstance(node, ast.Attribute) and dotted(node) in self.sessions

    def _constructs_carrier(self, call: ast.Call) -> bool:
        """``Service(db)``: a class (capitalized) built around the session."""
        return self._passes_session(call) and (dotted(call.func) or "").rpartition(".")[2][:1].isupper()

    def _self_member_uses_session(self, func: ast.expr) -> bool:
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"):
            return False
        attributes = self._self_attributes
        if not attributes or self.helpers is None:
            return False
        target = self.helpers.resolve(func, self.owner)
        return target is not None and any(self.helpers.mentions(target, f"self.{name}") for name in attributes)

    def _self_method(self, func: ast.expr) -> HelperSummary | None:
        session = next((name for name in sorted(self.sessions) if name.startswith("self.")), None)
        if self.helpers is None or session is None or self.received is None or not isinstance(func, ast.Attribute):
            return None
        return self.helpers.method_summary(f"{self.owner}.{func.attr}", session, self.received)

    def _carrier_method(self, constructor: ast.Call, method: str) -> HelperSummary | None:
        if self.helpers is None or not self.follow:
            return None
        return self.helpers.carrier_method(constructor, method, self.owner, self._is_session)

    def _blocking(self, call: ast.Call) -> bool:
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in self.sync_clients
            and func.attr in _HTTP_VERBS
        ):
            return True
        qualified = self._qualified(func)
        if not qualified:
            return False
        if qualified in _BLOCKING:
            return True
        module, _, name = qualified.rpartition(".")
        return module in _BLOCKING_HTTP_MODULES and name in _HTTP_VERBS

    def _qualified(self, func: ast.AST) -> str | None:
        if not isinstance(func, (ast.Name, ast.Attribute)):
            return None
        root = _root(func)
        if (isinstance(root, ast.Name) and root.id in self.sync_clients) or self._session_at(func) is not None:
            return None
        return self.ctx.names.qualify(func)

    def _may_build_client(self, func: ast.expr) -> bool:
        """Whether the last name of what a call's name qualifies to is a synchronous client's
        (cheaper than qualifying it)."""
        if isinstance(func, ast.Attribute):
            return func.attr in _SYNC_CLIENT_NAMES
        return isinstance(func, ast.Name) and self.ctx.names.qualify_name(func.id).rpartition(".")[2] in _SYNC_CLIENT_NAMES

    def _passes_session(self, call: ast.Call) -> bool:
        is_session = self._is_session
        for arg in call.args:
            if is_session(arg):
                return True
        return any(is_session(keyword.value) for keyword in call.keywords)

    def _never_suspends(self, call: ast.Call) -> bool:
        """An awaited same-project coroutine that awaits nothing itself never gives up the loop."""
        if self.helpers is None:
            return False
        target = self.helpers.resolve(call.func, self.owner)
        return target is not None and self.helpers.suspends(target) is False

    def _helper(self, call: ast.Call) -> HelperSummary | None:
        if self.helpers is None or not self.follow:
            return None
        target = self.helpers.resolve(call.func, self.owner)
        signature = self.helpers.signature(target) if target is not None else None
        if signature is None:
            return None
        bound = list(signature.positional[1:] if signature.is_method else signature.positional)
        found: HelperSummary | None = None
        for position, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                return None
            if self._is_session(arg) and position < len(bound):
                found = found or signature.summaries.get(bound[position])
                if bound[position] not in signature.summaries:
                    return None
        for keyword in call.keywords:
            if self._is_session(keyword.value):
                if keyword.arg is None or keyword.arg not in signature.summaries:
                    return None
                found = found or signature.summaries[keyword.arg]
        return found

    def _bind(self, targets: list[ast.expr], value: ast.expr) -> None:
        """Track local names that stand for the session, carry it, or are synchronous clients."""
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            name = target.id
            self.sessions.discard(name)
            self.carriers.pop(name, None)
            self.sync_clients.discard(name)
            if self._is_session(value):
                self.sessions.add(name)
                self._watch(name)
            elif isinstance(value, ast.Call):
                if self._constructs_carrier(value):
                    self.carriers[name] = value
                    self._watch(name)
                elif self._may_build_client(value.func) and self._qualified(value.func) in _SYNC_CLIENTS:
                    self.sync_clients.add(name)
                    self._watch(name, waits=True)

    def _mentions_session(self, node: ast.AST) -> bool:
        carriers = self.carriers
        return any(
            isinstance(child, (ast.Name, ast.Attribute))
            and ((carriers and dotted(child) in carriers) or self._is_session(child))
            for child in walk(node)
        )

    def _record(self, node: ast.AST, line: int, kind: str) -> None:
        self._add(HeldPoint(line, _call_text(node), kind))

    def _add(self, point: HeldPoint) -> None:
        self.points.setdefault((point.line, point.call, point.kind, point.via), point)


def _join(a: bool | None, b: bool | None) -> bool | None:
    if a is None:
        return b
    if b is None:
        return a
    return a or b


def _expressions(stmt: ast.stmt) -> Iterator[ast.AST]:
    for name in stmt._fields:
        value = getattr(stmt, name, None)
        if isinstance(value, ast.AST):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, ast.AST))


# -- same-project helpers ------------------------------------------------------------------------


def _function_text(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: Sequence[str]) -> str | None:
    """The source of a function's body (None without source lines)."""
    if not lines or not function.body:
        return None
    start = function.body[0].lineno - 1
    end = getattr(function, "end_lineno", None) or len(lines)
    return "".join(lines[start:end])


_SESSION_WORDS = ("Session", *(f".{name}(" for name in sorted(_SESSION_ONLY)))


def _session_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: Sequence[str]) -> list[str]:
    """Parameters that are sessions: annotated as one, or the receiver of a session-only method."""
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if not every:
        return []
    found = []
    receivers: set[str] | None = None
    for arg in every:
        annotation = arg.annotation
        if annotation is not None and any(
            (isinstance(node, ast.Name) and node.id.endswith("Session")) or (isinstance(node, ast.Attribute) and node.attr.endswith("Session"))
            for node in walk(annotation)
        ):
            found.append(arg.arg)
            continue
        if receivers is None:
            receivers = set()
            text = _function_text(function, lines)
            if text is None or any(word in text for word in _SESSION_WORDS[1:]):
                for stmt in function.body:
                    for node in walk(stmt):
                        func = node.func if isinstance(node, ast.Call) else None
                        if isinstance(func, ast.Attribute) and func.attr in _SESSION_ONLY and isinstance(func.value, ast.Name):
                            receivers.add(func.value.id)
        if arg.arg in receivers:
            found.append(arg.arg)
    return found


_IDENTIFIER_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _word_lines(text: str, word: str) -> list[int]:
    """1-based lines holding ``word`` not next to an ASCII identifier character, ascending."""
    lines: list[int] = []
    line, last, size, length = 1, 0, len(word), len(text)
    inside = _IDENTIFIER_CHARACTERS
    at = text.find(word)
    while at >= 0:
        after = at + size
        if (at == 0 or text[at - 1] not in inside) and (after == length or text[after] not in inside):
            line += text.count("\n", last, at)
            last = at
            if not lines or lines[-1] != line:
                lines.append(line)
        at = text.find(word, after)
    return lines


def _suspends(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: Sequence[str]) -> bool | None:
    """Whether awaiting a call of this function can suspend: an ``async def`` whose body never
    awaits runs to its end at once. None: not a coroutine function, so unknown. (An await in a
    function nested in it counts too: cheaper, and only ever errs towards a wait.)"""
    if not isinstance(function, ast.AsyncFunctionDef):
        return None
    text = _function_text(function, lines)
    if text is not None and "await" not in text and "async" not in text:
        return False
    return any(isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)) for stmt in function.body for node in walk(stmt))


def _signature(
    function: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, helpers: HeldHelpers
) -> _Signature:
    args = function.args
    positional = tuple(arg.arg for arg in [*args.posonlyargs, *args.args])
    decorators = {dotted(d) for d in function.decorator_list}
    is_method = "." in qualname and "staticmethod" not in decorators
    owner = qualname.rpartition(".")[0]
    summaries: dict[str, HelperSummary] = {}
    for param in _session_parameters(function, helpers.ctx.lines):
        outcomes = []
        for entry in (False, True):
            # One call deep: inside a helper, a call given the session is a use, not followed.
            flow = _Flow(helpers.ctx, {param}, owner, helpers, follow=False)
            outcomes.append(flow.run(function.body, entry))
        summaries[param] = HelperSummary(outcomes[0], outcomes[1])
    return _Signature(positional, is_method, summaries)


class HeldHelpers:
    """Resolves calls to functions of the same project, for one module: its own functions from
    its tree, other modules' through the project index."""

    def __init__(self, ctx: ModuleContext, source: _SourceModule | None = None) -> None:
        self.ctx = ctx
        self.source = source  # set when ctx holds one function cut out of this module's text
        self._own: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
            qualname: node for node, qualname in ctx.functions if qualname.count(".") <= 1
        }
        self._own_signatures: dict[str, _Signature] = {}
        self._method_summaries: dict[tuple[str, str], HelperSummary] = {}
        self._methods_in_progress: set[tuple[str, str]] = set()
        self._services: ServiceResolver | None = None
        self._instances: dict[str, str] | None = None
        self._blocking_words: frozenset[str] | None = None

    def blocking_words(self) -> frozenset[str] | None:
        """The names a blocking call's name can start from in this module: ``await``, the
        blocking modules, and names imported from them; None when any name may (the module is
        itself one of them)."""
        if self._blocking_words is None:
            names = self.ctx.names
            if self.ctx.module.partition(".")[0] in _BLOCKING_TOPS:
                self._blocking_words = frozenset()
            else:
                imported = {local for local, target in names.imports.items() if target.partition(".")[0] in _BLOCKING_TOPS}
                self._blocking_words = frozenset({"await", *_BLOCKING_TOPS, *imported})
        return self._blocking_words or None

    def window(self, first: int, last: int) -> str | None:
        """The text of lines ``first`` to ``last``, identifiers in the form the parser reads
        them (NFKC); None unless the source lines are numbered as the parser numbers them."""
        lines = self.ctx.lines
        if not self.ctx.lines_aligned or not 0 < first <= last <= len(lines):
            return None
        text = "".join(lines[first - 1 : last])
        if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
            normal = unicodedata.normalize("NFKC", text)
            if normal.count("\n") != text.count("\n"):
                return None
            text = normal
        return text

    # where a call goes -------------------------------------------------------------------------
    def resolve(self, func: ast.expr, owner: str) -> tuple[str, str] | None:
        """(module, qualified name inside it) of a called same-project function or method."""
        ctx = self.ctx
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
            return (ctx.module, f"{owner}.{func.attr}") if owner else None
        if isinstance(func, ast.Name) and func.id in ctx.names.local:
            return ctx.module, func.id
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            instance = ctx.names.qualify(func.value)
            if instance:
                cls = self._annotated_instances().get(func.value.id)
                if cls is None and self.source is None:
                    cls = self._service_resolver().instance_class(instance)
                if cls:
                    return self._locate(f"{cls}.{func.attr}")
        qualified = ctx.names.qualify(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if qualified and "." in qualified:
            return self._locate(qualified)
        return None

    def _annotated_instances(self) -> dict[str, str]:
        """``root_service: RootService = RootService()`` at module level (the service facts read
        plain assignments of this module only)."""
        if self._instances is None:
            self._instances = {}
            if self.source is not None:
                self._instances = self.source.instances()
                return self._instances
            for stmt in self.ctx.tree.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(stmt.value, ast.Call):
                    func = stmt.value.func
                    qualified = self.ctx.names.qualify(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
                    if qualified and qualified.rpartition(".")[2][:1].isupper():
                        self._instances[stmt.target.id] = qualified
        return self._instances

    def _locate(self, qualified: str) -> tuple[str, str] | None:
        """The defining module of a qualified name, one re-export followed."""
        ctx = self.ctx
        if ctx.module and qualified.startswith(ctx.module + "."):
            return ctx.module, qualified[len(ctx.module) + 1 :]
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            _note(ctx, ("module-file", module))  # whether it exists is part of the answer
            if not ctx.index.is_project_module(module):
                continue
            head, rest = parts[cut], parts[cut + 1 :]
            other = _source_module(ctx, module)
            target = other.imports.get(head) if other is not None else None
            if target and "." in target:
                module, _, head = target.rpartition(".")
            return module, ".".join([head, *rest])
        return None

    def _service_resolver(self) -> ServiceResolver:
        if self._services is None:
            from .models import ModelResolver
            from .orm_services import ServiceResolver

            self._services = ServiceResolver(self.ctx, ModelResolver(self.ctx))
        return self._services

    # what it does ------------------------------------------------------------------------------
    def signature(self, target: tuple[str, str]) -> _Signature | None:
        module, qualname = target
        if module == self.ctx.module:
            found = self._own_signatures.get(qualname)
            if found is None and qualname in self._own:
                found = self._own_signatures[qualname] = _signature(self._own[qualname], qualname, self)
            return found
        return _other_signature(self.ctx, module, qualname)

    def carrier_method(
        self, constructor: ast.Call, method: str, owner: str, is_session: Callable[[ast.AST], bool]
    ) -> HelperSummary | None:
        """``Service(db).method()``: the method analyzed with the attribute ``__init__`` stores the
        session in (``self.db = db``) as the session."""
        target = self.resolve(constructor.func, owner)
        if target is None or "." in target[1]:
            return None
        module, cls = target
        init = self.function((module, f"{cls}.__init__"))
        if init is None:
            return None
        node, where = init
        params = [arg.arg for arg in [*node.args.posonlyargs, *node.args.args]][1:]
        received = None
        for position, arg in enumerate(constructor.args):
            if is_session(arg) and position < len(params):
                received = params[position]
        for keyword in constructor.keywords:
            if keyword.arg and is_session(keyword.value):
                received = keyword.arg
        stored = _stored_as(node, received) if received else None
        if stored is None or received is None:
            return None
        if where is self:
            return self.method_summary(f"{cls}.{method}", f"self.{stored}", received)
        return _other_method_summary(self.ctx, module, f"{cls}.{method}", f"self.{stored}", received)

    def function(self, target: tuple[str, str]) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, HeldHelpers] | None:
        """A function's node and the helpers of the module it sits in."""
        module, qualname = target
        if module == self.ctx.module and qualname in self._own:
            return self._own[qualname], self
        if module == self.ctx.module and self.source is None:
            return None
        source = self.source if module == self.ctx.module else _source_module(self.ctx, module)
        helpers = source.helpers(qualname, self.ctx) if source is not None else None
        if helpers is None or qualname not in helpers._own:
            return None
        return helpers._own[qualname], helpers

    def method_summary(self, qualname: str, session: str, received: str) -> HelperSummary | None:
        """A method of this module with ``self.<attribute>`` as the session (``received`` is the
        ``__init__`` parameter it came in by: other attributes built around it carry it too)."""
        node = self._own.get(qualname)
        if node is None:
            if self.source is not None:  # another method of the module this one was cut out of
                return _other_method_summary(self.ctx, self.ctx.module, qualname, session, received)
            return None
        key = (qualname, session)
        if key in self._methods_in_progress:
            return None  # a method calling itself: a use
        if key not in self._method_summaries:
            self._methods_in_progress.add(key)
            cls = qualname.rpartition(".")[0]
            init = self.function((self.ctx.module, f"{cls}.__init__"))
            carriers = _stored_carriers(init[0], received) if init is not None else {}
            outcomes = [
                _Flow(self.ctx, {session}, cls, self, follow=False, carriers=carriers, received=received).run(
                    node.body, entry
                )
                for entry in (False, True)
            ]
            self._methods_in_progress.discard(key)
            self._method_summaries[key] = HelperSummary(outcomes[0], outcomes[1])
        return self._method_summaries[key]

    def mentions(self, target: tuple[str, str], text: str) -> bool:
        """Whether a function's source spells ``text`` (``self.db``), as a whole word."""
        module, qualname = target
        source = self.source if module == self.ctx.module else _source_module(self.ctx, module)
        if module == self.ctx.module and source is None:
            node = self._own.get(qualname)
            body = _function_text(node, self.ctx.lines) if node is not None else None
            if body is None:
                return node is not None and any(
                    isinstance(n, ast.Attribute) and dotted(n) == text for stmt in node.body for n in walk(stmt)
                )
        else:
            found = source.span(qualname) if source is not None else None
            body = source.text[found[0] : found[1]] if source is not None and found is not None else None
        return body is not None and re.search(rf"{re.escape(text)}\b", body) is not None

    def suspends(self, target: tuple[str, str]) -> bool | None:
        module, qualname = target
        if module == self.ctx.module and self.source is None:
            node = self._own.get(qualname)
            return _suspends(node, self.ctx.lines) if node is not None else None
        other = self.source if module == self.ctx.module else _source_module(self.ctx, module)
        return other.suspends(qualname) if other is not None else None


_WAITS = re.compile(r"\bawait\b|\basync[ \t]+(?:for|with)\b")


class _SourceModule:
    """Another project module, read as text: a function is cut out of it and parsed alone, so a
    large service module costs a text search, not a parse, for each helper an endpoint calls.

    Each fact a summary being computed reads of it (its imports, its module-level instances, a
    function's text) is noted in the summary's recording: the summary holds wherever those facts
    do, so a module that gains a function keeps the summaries of its other functions."""

    def __init__(
        self, module: str, path: str, text: str, recordings: list[_Recording], index: ProjectIndex | None = None
    ) -> None:
        self.module = module
        self.path = path
        self.is_package = path.endswith("__init__.py")
        self.text = text
        self._index = index
        self._found_imports: dict[str, str] | None = None
        self._recordings = recordings  # the index's: those of the summaries being computed
        self._instances: dict[str, str] | None = None
        self._defs: dict[str, tuple[int, int, int, bool]] | None = None
        # Per function: its span, and its parsed context (the same for every caller: this object
        # lives as long as one project index, so one settings value).
        self._spans: dict[str, tuple[int, int, bool] | None] = {}
        self._contexts: dict[str, ModuleContext | None] = {}

    def _note(self, fact: tuple) -> None:
        for recording in self._recordings:
            recording.facts.add(fact)

    @property
    def _imports(self) -> dict[str, str]:
        """Its ``from x import y`` names, kept by the index with the module's content: a module
        read again unchanged (the next lint, the next commit) is not searched again."""
        if self._found_imports is None:

            def compute() -> dict[str, str]:
                return imports_only(self.text, self.module, self.is_package).imports

            index = self._index
            key = ("held-imports", self.module, self.is_package)
            self._found_imports = index.text_fact(key, self.path, compute) if index is not None else compute()
        return self._found_imports

    @property
    def imports(self) -> dict[str, str]:
        self._note(("held-imports", self.module))
        return self._imports

    def instances(self) -> dict[str, str]:
        self._note(("held-instances", self.module))
        return self._module_instances()

    def _module_instances(self) -> dict[str, str]:
        if self._instances is None:
            self._instances = dict(service_facts(self.text, self.module, self._imports).instances)
        return self._instances

    def _definitions(self) -> dict[str, tuple[int, int, int, bool]]:
        """Top-level functions and methods of top-level classes: qualified name -> (start of the
        ``def`` line, end of ``def name(``, its indent, is a coroutine function). One pass."""
        if self._defs is None:
            text = self.text
            tops = top_level_lines(text)
            classes = {m.start(): m.group(1) for m in _classes(text)}
            defs: dict[str, tuple[int, int, int, bool]] = {}
            for match in _defs(text):
                indent = len(match.group(1).expandtabs())
                name = match.group(2)
                if indent:
                    # A method: the last line that starts a top-level statement is its class.
                    index = bisect_right(tops, match.start()) - 1
                    owner = classes.get(tops[index]) if index >= 0 else None
                    if owner is None:
                        continue
                    name = f"{owner}.{name}"
                known = defs.get(name)
                if known is None or indent < known[2]:  # a nested function of the same name: deeper
                    is_async = text.startswith("async", match.start() + len(match.group(1)))
                    defs[name] = (match.start(), match.end(), indent, is_async)
            self._defs = defs
        return self._defs

    def span(self, qualname: str) -> tuple[int, int, bool] | None:
        """(start, end) offsets of a top-level function's or a method's text, and whether it is a
        coroutine function."""
        self._note(("held-span", self.module, qualname))
        return self._span(qualname)

    def _span(self, qualname: str) -> tuple[int, int, bool] | None:
        if qualname in self._spans:
            return self._spans[qualname]
        found = self._definitions().get(qualname)
        span = None
        if found is not None:
            start, after_name, indent, is_async = found
            span = start, _block_end(self.text, after_name, indent), is_async
        self._spans[qualname] = span
        return span

    def suspends(self, qualname: str) -> bool | None:
        found = self.span(qualname)
        if found is None or not found[2]:
            return None
        start, end, _ = found
        return _WAITS.search(self.text, start, end) is not None

    def helpers(self, qualname: str, ctx: ModuleContext) -> HeldHelpers | None:
        """The function alone, parsed (once), with this module's imports; new helpers each time,
        so what one caller's analysis remembers never answers another's."""
        self._note(("held-span", self.module, qualname))
        self._note(("held-imports", self.module))
        if qualname not in self._contexts:
            self._contexts[qualname] = self._context(qualname, ctx)
        other = self._contexts[qualname]
        return HeldHelpers(other, self) if other is not None else None

    def _context(self, qualname: str, ctx: ModuleContext) -> ModuleContext | None:
        found = self._span(qualname)
        if found is None:
            return None
        start, end, _ = found
        snippet = textwrap.dedent(self.text[start:end])
        try:
            tree = ast.parse(snippet, filename=self.path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None  # a docstring or a string at column 0 cut the block short
        function = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
        if function is None:
            return None
        tree.body = [function]
        other = ModuleContext.build(
            tree, self.path, ctx.settings, source=snippet, lines=snippet.splitlines(keepends=True),
            module=self.module, is_package=self.is_package, index=ctx.index,
        )
        other.names.imports.update(self._imports)
        other.functions = [(function, qualname)]
        return other


def _block_end(text: str, after_header: int, indent: int) -> int:
    """The end of a ``def`` block whose parameters start at ``after_header``: past the header's
    colon, the first line (once the body started) that is not blank or a comment and is
    indented no deeper than the ``def``."""
    depth, at = 1, after_header  # just after the parameters' opening parenthesis
    while at < len(text):
        char = text[at]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ":" and depth == 0:
            break
        at += 1
    at = text.find("\n", at) + 1
    body_started = False
    while 0 < at < len(text):
        newline = text.find("\n", at)
        line_end = len(text) if newline == -1 else newline
        line = text[at:line_end]
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            depth = len(line[: len(line) - len(stripped)].expandtabs())
            if depth > indent:
                body_started = True
            elif body_started:
                return at
        if newline == -1:
            break
        at = newline + 1
    return len(text)


# Module texts kept for their helpers, most recently used last (a checked module calls into a
# few services; a string costs the garbage collector nothing, unlike a tree).
_KEPT_MODULES = 64


def _index_cache(ctx: ModuleContext, name: str) -> dict:
    """A cache that lives as long as the project index."""
    return ctx.index.derived.setdefault(name, {})


def _other_signature(ctx: ModuleContext, module: str, qualname: str) -> _Signature | None:
    def compute() -> _Signature | None:
        source = _source_module(ctx, module)
        helpers = source.helpers(qualname, ctx) if source is not None else None
        return helpers.signature((module, qualname)) if helpers is not None else None

    return _derived(ctx, "held-signatures", ("held-signature", module, qualname), compute)


def _other_method_summary(
    ctx: ModuleContext, module: str, qualname: str, session: str, received: str
) -> HelperSummary | None:
    def compute() -> HelperSummary | None:
        source = _source_module(ctx, module)
        helpers = source.helpers(qualname, ctx) if source is not None else None
        return helpers.method_summary(qualname, session, received) if helpers is not None else None

    return _derived(ctx, "held-methods", ("held-method", module, qualname, session, received), compute)


@dataclass
class _Recording:
    """The facts of other modules one computation of a helper's summary read (see
    ``fact_state``), and whether it met a summary still being computed: a loop, whose answer
    depends on where it was entered."""

    facts: set[tuple[str, ...]]
    loop: bool = False


_IN_PROGRESS = object()


def _derived(ctx: ModuleContext, cache_name: str, key: tuple, compute: Callable[[], _T]) -> _T | None:
    """A summary of another module's function: once per project index, and, when the index
    keeps it (``ProjectIndex.remember``), once per state of the facts it read of other modules.
    Every use goes through the index, so an index that records what a file depended on records it."""
    cache = _index_cache(ctx, cache_name)
    recordings: list[_Recording] = _index_cache(ctx, "held-recordings").setdefault("stack", [])
    found = cache.get(key)
    if found is _IN_PROGRESS:
        for recording in recordings:
            recording.loop = True
        return None  # asked again while being computed: unknown, not a loop
    if found is None:
        cache[key] = _IN_PROGRESS

        def recorded() -> tuple[_T, frozenset[tuple[str, ...]], bool]:
            recording = _Recording(set())
            recordings.append(recording)
            try:
                value = compute()
            finally:
                recordings.pop()
            return value, frozenset(recording.facts), not recording.loop

        try:
            value, facts = ctx.index.remember(key, recorded, lambda fact: fact_state(ctx, fact))
        except BaseException:
            del cache[key]
            raise
        found = cache[key] = (value, facts)
    else:
        known: tuple[_T, frozenset[tuple[str, ...]]] = found
        value, facts = ctx.index.remember(key, lambda: (*known, False), lambda fact: fact_state(ctx, fact))
    for recording in recordings:  # what this summary read, the computations using it read too
        recording.facts.update(facts)
    return value


def _note(ctx: ModuleContext, fact: tuple[str, ...]) -> None:
    """A summary being computed depends on a fact of another module: kept with its value.
    (Outside a summary, what is read of another module is told to the index fact by fact, by
    ``_SourceFacts``; whether a module exists, by ``is_project_module``.)"""
    for recording in _index_cache(ctx, "held-recordings").get("stack", ()):
        recording.facts.add(fact)


def fact_state(ctx: ModuleContext, fact: tuple[str, ...]) -> str:
    """A digest of what a fact of another module says at ``ctx``'s index: ("module-file", m) its
    file (or none), ("held-imports", m) and ("held-instances", m) those of its text,
    ("held-span", m, name) a function's text and whether it is a coroutine function. A summary
    recorded with the states of the facts it read holds wherever they are the same."""
    kind, module, *rest = fact
    if kind == "module-file":
        value: object = ctx.index.module_file(module) or ""
    else:
        source = _raw_source_module(ctx, module)
        if source is None:
            value = None
        elif kind == "held-imports":
            value = sorted(source._imports.items())
        elif kind == "held-instances":
            value = sorted(source._module_instances().items())
        elif kind == "held-span" and len(rest) == 1:
            value = _span_fact(source, source._span(rest[0]))
        else:
            value = ["unknown", *fact]  # a kind another version recorded: never the same
    text = json.dumps(value)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class _SourceFacts:
    """Another module's text as a file's own analysis sees it (outside any summary): each fact
    read of it (its imports, a function's text) is told to the index (``ProjectIndex.used``), so
    an index that records what a file depended on records the fact, not the whole text (a
    service that gains a method leaves the endpoints using its other methods alone)."""

    def __init__(self, ctx: ModuleContext, source: _SourceModule) -> None:
        self._ctx = ctx
        self._source = source
        self.module = source.module
        self.path = source.path
        self.is_package = source.is_package
        self.text = source.text  # read through ``span``, which tells the function's text

    @property
    def imports(self) -> dict[str, str]:
        imports = self._source.imports
        self._ctx.index.used(("held-imports", self.module), imports)
        return imports

    def instances(self) -> dict[str, str]:
        found = self._source.instances()
        self._ctx.index.used(("held-instances", self.module), found)
        return found

    def span(self, qualname: str) -> tuple[int, int, bool] | None:
        found = self._source.span(qualname)
        self._ctx.index.used(("held-span", self.module, qualname), _span_fact(self._source, found))
        return found

    def suspends(self, qualname: str) -> bool | None:
        self.span(qualname)
        return self._source.suspends(qualname)

    def helpers(self, qualname: str, ctx: ModuleContext) -> HeldHelpers | None:
        self.span(qualname)
        self._ctx.index.used(("held-imports", self.module), self._source.imports)  # parsed with them
        return self._source.helpers(qualname, ctx)


def _span_fact(source: _SourceModule, found: tuple[int, int, bool] | None) -> tuple[bool, str] | None:
    """What a function's span says, wherever it sits in the module: its text (without the blank
    lines a span ends with before the next statement: only the whitespace Python skips), whether
    async."""
    return None if found is None else (found[2], source.text[found[0] : found[1]].rstrip(" \t\f\r\n"))


def recompute(index: ProjectIndex, key: tuple) -> object:
    """The summary a ``ProjectIndex.remember`` key stands for, computed afresh at ``index`` (a
    recording index asks it again at another commit, to tell whether a file's result holds)."""
    from ..config import Settings

    ctx = ModuleContext.build(ast.Module(body=[], type_ignores=[]), "", index.settings or Settings(), index=index)
    kind, *parts = (str(part) for part in key)
    if kind == "held-signature" and len(parts) == 2:
        return _other_signature(ctx, *parts)
    if kind == "held-method" and len(parts) == 4:
        return _other_method_summary(ctx, *parts)
    if kind not in ("held-imports", "held-instances", "held-span") or len(parts) != (2 if kind == "held-span" else 1):
        raise KeyError(key)
    source = _source_module(ctx, parts[0])  # the facts of a module's text: told to the index as read
    if source is None:
        index.used(key, None)
    elif kind == "held-imports":
        return source.imports
    elif kind == "held-instances":
        return source.instances()
    else:
        return source.span(parts[1])
    return None


def _stored_carriers(init: ast.FunctionDef | ast.AsyncFunctionDef, param: str) -> dict[str, ast.Call]:
    """``self.roles = RoleService(db)`` in ``__init__``: attributes built around a parameter."""
    found: dict[str, ast.Call] = {}
    for stmt in init.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            last = (dotted(call.func) or "").rpartition(".")[2]
            given = [*call.args, *(keyword.value for keyword in call.keywords)]
            if not last[:1].isupper() or not any(isinstance(arg, ast.Name) and arg.id == param for arg in given):
                continue
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                    found[f"self.{target.attr}"] = call
    return found


def _stored_as(init: ast.FunctionDef | ast.AsyncFunctionDef, param: str) -> str | None:
    """The attribute ``__init__`` stores a parameter in: ``self.db = db`` -> ``db``."""
    for stmt in init.body:
        if (
            isinstance(stmt, (ast.Assign, ast.AnnAssign))
            and isinstance(stmt.value, ast.Name)
            and stmt.value.id == param
        ):
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                    return target.attr
    return None


def _source_module(ctx: ModuleContext, module: str) -> _SourceModule | _SourceFacts | None:
    _note(ctx, ("module-file", module))
    found = _raw_source_module(ctx, module)
    if _index_cache(ctx, "held-recordings").get("stack"):
        return found  # inside a summary: what it read is kept with it
    if found is None:
        ctx.index.used(("held-imports", module), None)  # no such module (or unreadable)
        return None
    return _SourceFacts(ctx, found)


def _raw_source_module(ctx: ModuleContext, module: str) -> _SourceModule | None:
    """A module's text as read at ``ctx``'s index, kept for the next helper of it."""
    kept = _index_cache(ctx, "held-modules")
    if module in kept:
        kept[module] = kept.pop(module)  # most recently used
        return kept[module]
    found = None
    path = ctx.index.module_file(module)
    if path is not None:
        try:
            text = ctx.index.read_bytes(path).decode("utf-8", "replace")
        except OSError:
            text = None
        if text is not None:
            recordings = _index_cache(ctx, "held-recordings").setdefault("stack", [])
            found = _SourceModule(module, path, text, recordings, ctx.index)
    kept[module] = found
    while len(kept) > _KEPT_MODULES:
        del kept[next(iter(kept))]
    return found


# -- the entry point -----------------------------------------------------------------------------


def analyze_function(
    ctx: ModuleContext,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    qualname: str,
    param: str,
    *,
    open_on_entry: bool = False,
) -> Outcome:
    """What the session in ``param`` holds its transaction across in ``function``."""
    helpers = ctx.held_helpers
    if helpers is None:
        helpers = ctx.held_helpers = HeldHelpers(ctx)
    owner = qualname.rpartition(".")[0]
    return _Flow(ctx, {param}, owner, helpers).run(function.body, open_on_entry)


def annotate(
    finding: Finding,
    ctx: ModuleContext,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    param: str,
) -> Finding:
    """A DBS001/DBS002 finding with what its session is held across (the tag, the points, the
    note in the message) and whether it is open at return."""
    # A decorator that reads the session from kwargs (a permission check) has used it already.
    try:
        outcome = analyze_function(ctx, function, finding.function, param, open_on_entry="decorator-db" in finding.tags)
    except RecursionError:  # an expression nested thousands deep: the finding without the extra facts
        return finding
    if not outcome.points and not outcome.open_at_exit:
        return finding
    tags, message = finding.tags, finding.message
    if outcome.points:
        tags = tags | {HELD_TAG}
        first = outcome.points[0]
        more = len(outcome.points) - 1
        note = f"its transaction is held across {first.describe()} at line {first.line}"
        if more:
            note += f" and {more} more"
        head, separator, tail = message.partition("; ")
        message = f"{head} ({note}){separator}{tail}"
    return replace(finding, tags=tags, message=message, held_across=outcome.points, open_at_return=outcome.open_at_exit)
