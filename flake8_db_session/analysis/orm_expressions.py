"""Expressions and session calls in the ORM flow analysis: what value an expression has, the
session effects of a call (close, commit, rollback, refresh...), and the reads it makes (DBS005,
DBS007, DBS009) or the hand-offs (DBS006). Mixed into ``FunctionFlow`` (escapes.py), which
provides the statements, ``report``, ``bind`` and the scopes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .astutil import at_word_end, at_word_start, is_none, is_word, last_name, short_text
from .context import statements_with_scope, walk
from .models import ModelInfo
from .names import matches_configured
from .orm_values import (
    ALL,
    CHAIN,
    LOADERS,
    MANY,
    ONE,
    ORM,
    QUERY,
    REOPENING,
    RESULT,
    SAME_ITEMS,
    SCALARS,
    SESSION,
    FlowContext,
    State,
    Val,
    harmless_call,
    loaded_by,
    refreshed_names,
)

if TYPE_CHECKING:
    from .escapes import Escapes
    from .orm_stores import StoreChecks


# What may follow or precede ``name`` where it is bound; tested at each place ``name`` is spelled,
# so no pattern is compiled per name (compiling cost more than all the searches).
_ASSIGNED_AFTER = re.compile(r"[ \t]*(?::[^=\n]*)?=(?!=)")
_COMMA_AFTER = re.compile(r"[ \t]*,")
_EQUALS_AFTER = re.compile(r"[ \t]*=")


@lru_cache(maxsize=64)
def _rebinding_pattern(name: str) -> re.Pattern[str]:
    """``rebinds_in`` as one pattern, for a name with a character that is not a word character."""
    name = re.escape(name)
    return re.compile(
        rf"\b{name}[ \t]*(?::[^=\n]*)?=(?!=)|\bas[ \t]+{name}\b|\bfor[ \t]+{name}\b|\b{name}[ \t]*,|,[ \t]*{name}[ \t]*="
    )


def rebinds_in(text: str, name: str) -> bool:
    r"""Whether ``text`` binds the identifier ``name``: ``name = ...`` (annotated too), ``as name``,
    ``for name``, ``name, ...``, ``..., name =``; what the pattern
    ``\bname[ \t]*(?::[^=\n]*)?=(?!=)|\bas[ \t]+name\b|\bfor[ \t]+name\b|\bname[ \t]*,|,[ \t]*name[ \t]*=``
    finds."""
    if not is_word(name):
        return _rebinding_pattern(name).search(text) is not None
    size = len(name)
    at = text.find(name)
    while at != -1:
        end = at + size
        if at_word_start(text, at) and (_ASSIGNED_AFTER.match(text, end) or _COMMA_AFTER.match(text, end)):
            return True
        before = at
        while before and text[before - 1] in " \t":
            before -= 1
        if before < at and at_word_end(text, end):
            for keyword in ("as", "for"):
                start = before - len(keyword)
                if start >= 0 and text.startswith(keyword, start) and at_word_start(text, start):
                    return True
        if before and text[before - 1] == "," and _EQUALS_AFTER.match(text, end):
            return True
        at = text.find(name, at + 1)
    return False


def _lines_naming(text: str, name: str) -> str:
    """The newline-separated lines of ``text`` that contain ``name``, in order, each with its
    newline: a pattern that spells ``name`` and matches within one line finds the same there."""
    parts: list[str] = []
    at = text.find(name)
    while at != -1:
        start = text.rfind("\n", 0, at) + 1
        stop = text.find("\n", at)
        stop = len(text) if stop == -1 else stop + 1
        parts.append(text[start:stop])
        at = text.find(name, stop)
    return "".join(parts)


# ``svc = TeamService(db)``: a line binding a name to a capitalized call. Searched from the
# ``=`` (a literal ``re`` finds quickly, where a line-start anchor is tried at every position),
# then the text before it on the line must be one name.
_INSTANCE_CALL = re.compile(r"=[ \t]*(?:\w+\.)*[A-Z]\w*[ \t]*\(([^\n]*)")
_INSTANCE_TARGET = re.compile(r"[ \t]*(\w+)[ \t]*")


def instance_lines(text: str) -> list[tuple[str, str]]:
    """(name, the text after the call's parenthesis) for each line ``name = Class(...`` of
    ``text``, in order."""
    found: list[tuple[str, str]] = []
    search, target_at = _INSTANCE_CALL.search, _INSTANCE_TARGET.fullmatch
    call = search(text)
    while call is not None:
        at = call.start()
        target = target_at(text, text.rfind("\n", 0, at) + 1, at)
        if target is not None:
            found.append((target.group(1), call.group(1)))
        call = search(text, call.end())  # the rest of the line has an ``=`` before it: no target
    return found


@dataclass(frozen=True)
class _Unloaded:
    lazy: frozenset  # load-on-access (and dynamic) relationships a read would load
    raising: frozenset  # lazy="raise" relationships a read would need
    dynamic: frozenset = frozenset()  # the dynamic ones among ``lazy``


_NOTHING = _Unloaded(frozenset(), frozenset())


def _closed_message(session: str, reason: str) -> dict[str, str]:
    return {
        "problem": f"is read after the session {session} closed ({reason})",
        "fix": "read it inside the scope or eager-load it",
    }


def _raise_message(relationships: frozenset) -> dict[str, str]:
    return {
        "problem": f'needs relationship {min(relationships)} declared lazy="raise", which raises InvalidRequestError when it was not eager-loaded, inside the session scope too',
        "fix": f"eager-load it in the query (selectinload(...{min(relationships)}))",
    }


class _Undecided(Enum):
    UNDECIDED = 0


UNDECIDED = _Undecided.UNDECIDED


class Expressions:
    """What expressions are worth in one function, and the reads, session calls and bindings
    they make."""

    def __init__(self, flow: FlowContext, stores: StoreChecks, escapes: Escapes) -> None:
        self.flow = flow
        self.ctx = flow.ctx
        self.models = flow.models
        self.services = flow.services
        self.stores = stores
        self.escapes = escapes
        # Per function, built on first use: ``name = Class(...)`` lines (name -> the arguments'
        # text), and the names bound once to such a call.
        self._instance_names: dict[str, str] | None = None
        self._instances: dict[str, ast.Call] | None = None
        self._rebound: dict[str, bool] = {}  # name -> whether a line of the function rebinds it

    # -- session effects ---------------------------------------------------------------------
    def commit_scope(self, scope_id: int, state: State) -> None:
        if not self.flow.scopes[scope_id].expire_on_commit:
            return
        self._expire_all(scope_id, state)

    def _expire_all(self, scope_id: int, state: State) -> None:
        for name, value in list(state.env.items()):
            if value.is_orm() and value.scope == scope_id:
                state.env[name] = replace(value, expired=True, loaded=frozenset())

    def close_scope(self, scope_id: int, state: State, line: int) -> None:
        state.closed.setdefault(scope_id, line)

    # == DBS007: a session used after its close() ===============================================
    def _reopened(self, call: ast.Call, method: str, scope_id: int, state: State) -> None:
        if scope_id in state.closed and method in REOPENING:
            scope = self.flow.scopes[scope_id]
            self.flow.report(call, "DBS007", session=scope.session, close_line=state.closed[scope_id])
            del state.closed[scope_id]  # SQLAlchemy reopens it: its objects are attached again

    def _session_call(self, call: ast.Call, method: str, session: Val, state: State) -> Val | None:
        scope_id = session.scope
        self._reopened(call, method, scope_id, state)
        args = [self.expr(arg, state) for arg in call.args]
        for keyword in call.keywords:
            self.discard(keyword.value, state)
        effect = _SESSION_EFFECTS.get(method)
        return effect(self, call, method, scope_id, args, state) if effect is not None else None

    # Session methods, by name: their effect on the state and the value they return.
    def _closed_by(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        self.close_scope(scope_id, state, call.lineno)
        return None

    def _committed_by(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        self.commit_scope(scope_id, state)
        return None

    def _expired_by(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        """``rollback()``, ``expire_all()``: every instance of the session is expired."""
        self._expire_all(scope_id, state)
        return None

    def _instance_effect(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        """``expire(x)``, ``refresh(x)``, ``add(x)``, ``expunge(x)`` on a named instance."""
        first = call.args[0] if call.args else None
        if not isinstance(first, ast.Name):
            return None
        value = state.env.get(first.id)
        if value is not None and value.is_orm():
            if method == "expire":
                state.env[first.id] = replace(value, expired=True, loaded=frozenset())
            elif method == "refresh":  # refresh(x, ["members"]) also loads those relationships
                state.env[first.id] = replace(value, expired=False, loaded=value.loaded | refreshed_names(call))
            elif method == "add" and value.scope < 0:
                state.env[first.id] = replace(value, scope=scope_id, inferred="")
            elif method == "expunge":
                state.env.pop(first.id, None)
        return None

    def _loaded_by_key(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        """``get(Model, id)``, ``get_one(Model, id)``."""
        model = self._model_of(call.args[0] if call.args else None)
        return Val(ORM, scope_id, model) if model is not None else None

    def _merged(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        if args and args[0] is not None and args[0].is_orm():
            return replace(args[0], scope=scope_id, expired=False, detached_source="", inferred="")
        return None

    def _queried(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        """``query(Model)`` (1.4 style)."""
        if len(call.args) != 1:
            return None
        model = self._model_of(call.args[0])
        return Val(QUERY, scope_id, model) if model is not None else None

    def _executed(self, call: ast.Call, method: str, scope_id: int, args: list[Val | None], state: State) -> Val | None:
        """``execute(select(Model))`` and its kin: rows, instances or one instance of the session."""
        if args and args[0] is not None and args[0].kind == QUERY:
            return replace(args[0], kind=_EXECUTED_KIND[method], scope=scope_id)
        return None

    def _model_of(self, node: ast.expr | None) -> ModelInfo | None:
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return None
        return self.models.model(self.ctx.names.qualify(node))

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: ast.expr | None, state: State) -> Val | None:
        """The value of an expression (None: nothing tracked), after the reads, session calls
        and bindings in it."""
        if node is None:
            return None
        if isinstance(node, ast.Name):
            return state.env.get(node.id)
        kind = _EXPRESSIONS.get(node.__class__)
        if kind is not None:
            return kind(self, node, state)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.discard(child, state)
            elif isinstance(child, ast.keyword):
                self.discard(child.value, state)
        return None

    # Expressions by node type (``_EXPRESSIONS``); any other evaluates its parts and is untracked.
    def _awaited(self, node: ast.Await, state: State) -> Val | None:
        return self.expr(node.value, state)

    def _subscript(self, node: ast.Subscript, state: State) -> Val | None:
        base = self.expr(node.value, state)
        self.discard(node.slice, state)
        return self.element(base)

    def _sequence(self, node: ast.List | ast.Tuple | ast.Set, state: State) -> Val | None:
        values = [self.expr(e.value if isinstance(e, ast.Starred) else e, state) for e in node.elts]
        return self._container(values)

    def _dict(self, node: ast.Dict, state: State) -> Val | None:
        for key in node.keys:
            self.discard(key, state)
        return self._container([self.expr(v, state) for v in node.values])

    def _if_expression(self, node: ast.IfExp, state: State) -> Val | None:
        self.discard(node.test, state)
        yes, no = self.expr(node.body, state), self.expr(node.orelse, state)
        if is_none(node.orelse):
            return yes
        if is_none(node.body):
            return no
        return yes if yes == no else None

    def _walrus(self, node: ast.NamedExpr, state: State) -> Val | None:
        value = self.expr(node.value, state)
        self.bind(node.target, value, state)
        return value

    def _yielded(self, node: ast.Yield | ast.YieldFrom, state: State) -> Val | None:
        value = self.expr(node.value, state)
        if node.value is not None:
            self.escapes.escape(node.value, value, state, returning=False)
        return None

    def _lambda(self, node: ast.Lambda, state: State) -> Val | None:
        return None  # runs later, with its own arguments

    # -- bindings ----------------------------------------------------------------------------
    def bind(self, target: ast.expr, value: Val | None, state: State, value_node: ast.expr | None = None) -> None:
        """``target = value``: the names it binds hold the value; an attribute or item it
        stores into may outlive the session (DBS004, DBS006)."""
        flow = self.flow
        if isinstance(target, ast.Name):
            for scope_id in flow.committing:
                if value is not None and value.is_orm() and value.scope == scope_id:
                    flow.bound_in[scope_id][target.id] = value
                else:
                    flow.bound_in[scope_id].pop(target.id, None)
            if value is not None and value.kind == SESSION and value.scope >= 0 and not flow.scopes[value.scope].session:
                scope = flow.scopes[value.scope]
                flow.scopes[value.scope] = replace(scope, session=target.id)
            if value is None:
                state.env.pop(target.id, None)
            else:
                state.env[target.id] = value
            self.stores.store_in_global(target, value, value_node)
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
            self.stores.write(target, self.expr(target.value, state), state)
            self.stores.store(target, value, state, value_node)
        elif isinstance(target, ast.Subscript):
            self.discard(target.value, state)
            self.discard(target.slice, state)
            self.stores.store(target, value, state, value_node)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, None, state)

    def _container(self, values: list[Val | None]) -> Val | None:
        for value in values:
            if value is not None and value.is_orm():
                return replace(value, kind=MANY)
        return None

    def element(self, value: Val | None) -> Val | None:
        if value is None:
            return None
        if value.kind in (MANY, SCALARS):
            return replace(value, kind=ORM)
        if value.kind == QUERY:
            return replace(value, kind=ORM)  # iterating a query yields instances
        return None

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, state: State) -> Val | None:
        inner = State(dict(state.env), state.closed)
        for generator in node.generators:
            element = self.element(self.expr(generator.iter, inner))
            self.bind(generator.target, element, inner)
            for condition in generator.ifs:
                self.discard(condition, inner)
        if isinstance(node, ast.DictComp):
            self.expr(node.key, inner)
            value = self.expr(node.value, inner)
        else:
            value = self.expr(node.elt, inner)
        # What the comprehension loaded through outer names (``[m.name for m in team.members]``
        # inside the scope loads team.members) stays loaded after it.
        own = {sub.id for generator in node.generators for sub in walk(generator.target) if isinstance(sub, ast.Name)}
        for name, outer in list(state.env.items()):
            after = inner.env.get(name)
            if name not in own and after is not None and after is not outer and after.kind == outer.kind and after.scope == outer.scope:
                state.env[name] = after
        return replace(value, kind=MANY) if value is not None and value.is_orm() else None

    # == DBS005 / DBS009: attribute reads after the scope ended, or lazy loads in an async one ==
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
        gone = self.flow.gone(base, state)
        raised = False
        unloaded = self._unloaded(model, attribute, base) if model is not None else _NOTHING
        name = short_text(node.value)
        if unloaded.raising and (base.scope >= 0 or base.detached_source):
            # lazy="raise": no load on access at all, with or without a session.
            self.flow.report(node, "DBS005", name=name, attribute=attribute, **_raise_message(unloaded.raising))
            raised = True
        elif gone and model is not None:
            why = ""
            if base.expired and model.mapped(attribute):
                why = "expired before the close, every attribute read needs the session"
            elif unloaded.dynamic and relationship is not None:
                why = "dynamic relationship: its query has no session, SQLAlchemy warns and returns an empty result"
            elif unloaded.lazy and relationship is not None:
                why = "lazy relationship: DetachedInstanceError"
            elif unloaded.lazy:
                why = f"it reads lazy relationship {min(unloaded.lazy)}: DetachedInstanceError"
            elif attribute in model.touching and "<object_session>" in model.touching[attribute]:
                why = "it calls object_session, which has no session now"
            if why:
                self.flow.report(node, "DBS005", name=name, attribute=attribute, **_closed_message(self._who(base), why))
                raised = relationship is not None or base.expired
        elif not gone and base.scope >= 0:
            scope = self.flow.scopes[base.scope]
            if unloaded.lazy and scope.is_async:
                self.flow.report(node, "DBS009", name=name, attribute=attribute, session=scope.session)
            if isinstance(node.value, ast.Name) and model is not None:
                # A read inside the scope loads it (and refreshes an expired object).
                current = state.env.get(node.value.id)
                if current is not None and current.kind == ORM:
                    loaded = current.loaded | {attribute} if relationship is not None else current.loaded
                    if attribute in model.touching:
                        loaded = loaded | model.touching[attribute]  # the member loaded what it reads
                    loaded = loaded - model.dynamic_relationships()  # a query on each use
                    state.env[node.value.id] = replace(current, loaded=loaded, expired=False if model.mapped(attribute) else current.expired)
        if relationship is not None and not raised:
            target = self.models.model(relationship[0]) if relationship[0] else None
            return Val(MANY, base.scope, target, base.expired, frozenset(), base.detached_source)
        return None

    @staticmethod
    def _unloaded(model: ModelInfo, attribute: str, base: Val) -> _Unloaded:
        """The relationships reading ``attribute`` would load and that are not loaded yet:
        the attribute itself, or those a property or method of the model reads (with their
        strategy: a property over ``lazy="selectin"`` relationships loads nothing)."""
        if "*" in base.loaded:
            return _NOTHING
        relationship = model.relationships.get(attribute)
        if relationship is not None:
            lazy = relationship[1]
            if attribute in base.loaded:
                return _NOTHING
            if attribute in model.raising_relationships():
                return _Unloaded(frozenset(), frozenset({attribute}))
            if attribute in model.dynamic_relationships():
                return _Unloaded(frozenset({attribute}), frozenset(), frozenset({attribute}))
            return _Unloaded(frozenset({attribute}) if attribute in model.lazy_relationships() else frozenset(), frozenset())
        lazy = model.touching.get(attribute, frozenset()) - {"<object_session>"} - base.loaded
        raising = model.raising.get(attribute, frozenset()) - base.loaded
        dynamic = lazy & model.dynamic_relationships()
        return _Unloaded(frozenset(lazy), frozenset(raising), dynamic) if lazy or raising else _NOTHING

    def _may_load(self, node: ast.expr, state: State) -> None:
        """An object handed to other code while its session is open may have any relationship
        loaded there (a serializer, a helper): assume it did, rather than report a read that works."""
        if not isinstance(node, ast.Name):
            return
        value = state.env.get(node.id)
        if value is not None and value.is_orm() and value.scope >= 0 and not self.flow.gone(value, state):
            state.env[node.id] = replace(value, loaded=frozenset({"*"}))

    def _who(self, base: Val) -> str:
        if base.detached_source:
            return f"of {base.detached_source}()"
        return self.flow.scopes[base.scope].session if base.scope >= 0 else "session"

    def discard(self, node: ast.expr | None, state: State) -> None:
        """Evaluate an expression whose value nothing uses (an expression statement, a test, an
        operand of an untracked operation): its reads, session effects and hand-offs, without
        resolving what a call to an untracked receiver returns."""
        inner = node.value if isinstance(node, ast.Await) else node
        if isinstance(inner, ast.Call):
            self._call(inner, state, used=False)
        else:
            self.expr(node, state)

    def _call(self, node: ast.Call, state: State, used: bool = True) -> Val | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = self.expr(func.value, state)
            if receiver is not None:
                method_call = _METHOD_CALLS.get(receiver.kind)
                if method_call is not None:
                    return method_call(self, node, func.attr, receiver, state)
                if receiver.kind == ORM:
                    self._read(func, receiver, state)
        args = [self.expr(arg, state) for arg in node.args]
        kwargs = [self.expr(keyword.value, state) for keyword in node.keywords]
        self.stores.check_handoff(node, args + kwargs, state)
        if not harmless_call(func):
            for arg in (*node.args, *(k.value for k in node.keywords)):
                self._may_load(arg, state)
        if not used:
            return None  # what follows only resolves the value: no effect on the state
        qualified = self.ctx.names.qualify(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        if isinstance(func, ast.Attribute):
            found = self._model_method_result(func, args)
            if found is not None:
                return found
        if qualified:
            last = qualified.rpartition(".")[2]
            known = _KNOWN_CALLS.get(last)
            if known is not None:
                result = known(self, node, last, args)
                if result is not UNDECIDED:
                    return result
            if self.ctx.settings.detached_sources and matches_configured(qualified, self.ctx.settings.detached_sources):
                return Val(ORM, -1, self._returned_model(func), detached_source=short_text(func))
            model = self.models.model(qualified) if last[:1].isupper() else None
            if model is not None:
                return Val(ORM, -1, model)  # a new, transient instance
            if isinstance(func, ast.Name):
                inferred = self._inferred_result(qualified, None, func)
                if inferred is not None:
                    return inferred
            returned = self._returned_model(func)
            if returned is not None:
                for value in args:
                    if value is not None and value.kind == SESSION:
                        return Val(ORM, value.scope, returned, loaded=self._eager_in(func))
        return self._service_result(func, args + kwargs, state)

    # Calls known by their last name (``_KNOWN_CALLS``): a value, or UNDECIDED to go on resolving.
    def _same_items(self, node: ast.Call, last: str, args: list[Val | None]) -> Val | _Undecided | None:
        """``list(teams)``, ``sorted(teams)``: the same instances in another container."""
        if len(node.args) == 1 and self.ctx.names.is_unbound(last):
            first = args[0]
            return replace(first, kind=MANY) if first is not None and first.is_orm() else None
        return UNDECIDED

    def _select(self, node: ast.Call, last: str, args: list[Val | None]) -> Val | _Undecided | None:
        """``select(Model)``: a statement a session call turns into instances of it."""
        if len(node.args) == 1:
            model = self._model_of(node.args[0])
            return Val(QUERY, -1, model) if model is not None else None
        return UNDECIDED

    def _loader_option(self, node: ast.Call, last: str, args: list[Val | None]) -> Val | _Undecided | None:
        """``selectinload(Team.members)``: an option, never an instance."""
        return None

    def _service_result(self, func: ast.expr, values: list[Val | None], state: State) -> Val | None:
        """``svc.get_team(db, 1)`` where the service (another module's function, a class's
        method through an instance, ``Service(db)``, ``self.helper()`` or ``self.service``) is
        annotated ``-> Team``: an instance of the session handed to it, in the call or to the
        service's constructor. A service that may return an object no session holds (built from
        a cached dict, a copy) gives that, whatever session it was handed (``services.transient``)."""
        session = next((v for v in values if v is not None and v.kind == SESSION), None)
        names = self.ctx.names
        owner = member = None
        if isinstance(func, ast.Name):
            owner = names.qualify(func)
        elif isinstance(func, ast.Attribute):
            receiver, member = func.value, func.attr
            constructor = receiver if isinstance(receiver, ast.Call) else None
            if isinstance(receiver, ast.Name):
                if receiver.id in ("self", "cls") and self._method_owner():
                    owner = self._method_owner()
                else:
                    constructor = self._local_instances().get(receiver.id) if self._binds_instance(receiver.id) else None
                    if constructor is None and not self._rebinds(receiver.id):
                        owner = self.services.instance_class(names.qualify(receiver) or "")
            elif (
                isinstance(receiver, ast.Attribute)
                and isinstance(receiver.value, ast.Name)
                and receiver.value.id == "self"
                and self._method_owner()
            ):
                owner = self.services.attribute_class(self._method_owner(), receiver.attr)
            if constructor is not None and isinstance(constructor.func, (ast.Name, ast.Attribute)):
                owner = names.qualify(constructor.func)
                if session is None:
                    session = next(
                        (
                            state.env[arg.id]
                            for arg in (*constructor.args, *(k.value for k in constructor.keywords))
                            if isinstance(arg, ast.Name) and arg.id in state.env and state.env[arg.id].kind == SESSION
                        ),
                        None,
                    )
        if not owner:
            return None
        inferred = self._inferred_result(owner, member, func)
        if inferred is not None:
            return inferred
        if session is None or "." not in owner:
            return None
        found = self.services.returned(owner, member)
        model = self.models.model(found[1]) if found is not None else None
        if model is None or found is None:
            return None
        return Val(MANY if found[0] else ORM, session.scope, model)

    def _inferred_result(self, owner: str, member: str | None, func: ast.expr) -> Val | None:
        """What a call returns when the callee may return a model instance no session holds.
        Only asked in a function that writes an attribute before a commit: nowhere else can
        such an object be reported (DBS004)."""
        if not self.flow.persists:
            return None
        transient = self.services.transient(owner, member)
        if transient is None:
            return None
        many, model, builder = transient
        via = "" if builder == (member or owner.rpartition(".")[2]) else f" (through {builder}())"
        return Val(MANY if many else ORM, -1, model, inferred=f"{short_text(func)}(){via}")

    def _method_owner(self) -> str:
        """The qualified class of the method being analyzed ("" for a function)."""
        owner, dot, _ = self.flow.qualname.rpartition(".")
        if not dot or "." in owner or owner not in self.ctx.names.local:
            return ""
        return self.ctx.names.qualify_name(owner)

    def _instance_lines(self) -> dict[str, str]:
        """``name = Class(...)`` lines of the function: name -> the text of the arguments
        (``{"*": ""}`` without source lines: let the walk decide)."""
        if self._instance_names is None:
            text = self.flow.text
            found: dict[str, str] = {}
            for target, arguments in instance_lines(text) if text else ():
                found[target] = found.get(target, "") + arguments
            self._instance_names = found if text else {"*": ""}
        return self._instance_names

    def _binds_instance(self, name: str) -> bool:
        """A text test before the walk: does a line of the function assign ``name = Class(``?"""
        bound = self._instance_lines()
        return "*" in bound or name in bound

    def _rebinds(self, name: str) -> bool:
        """Whether the function binds ``name`` itself (a parameter, an assignment, a loop or
        ``with`` target), so it is not the module-level service of that name."""
        args = self.flow.function.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        if any(arg is not None and arg.arg == name for arg in every):
            return True
        text = self.flow.text
        if not text:
            return True  # no source lines: do not guess
        found = self._rebound.get(name)
        if found is None:
            # Every alternative spells ``name`` and stays on one line: search only those lines.
            found = self._rebound[name] = rebinds_in(_lines_naming(text, name), name)
        return found

    def session_holders(self, text: str, state: State) -> bool:
        """Whether ``text`` names a local service built with a tracked session
        (``service = TeamService(db)``): a call on it may return that session's objects."""
        instances = self._instance_lines()
        if not instances:
            return False
        sessions = [name for name, value in state.env.items() if value.kind == SESSION]
        if not sessions:
            return False
        for holder, arguments in instances.items():
            if holder in text and any(session in arguments for session in sessions):
                return True
        return False

    def _local_instances(self) -> dict[str, ast.Call]:
        """Names the function binds once, to ``Class(...)`` (``svc = TeamService(db)``)."""
        if self._instances is None:
            seen: dict[str, ast.Call | None] = {}
            # Statements only (a rebinding sits in one), not every expression node.
            for node, _ in statements_with_scope(self.flow.function.body):
                if isinstance(node, ast.Assign) and not (len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                    for sub in (n for target in node.targets for n in walk(target)):
                        if isinstance(sub, ast.Name):
                            seen[sub.id] = None
                elif isinstance(node, ast.Assign):
                    target, value = node.targets[0], node.value  # one plain name (the branch above)
                    if isinstance(target, ast.Name):
                        is_instance = (
                            isinstance(value, ast.Call)
                            and isinstance(value.func, (ast.Name, ast.Attribute))
                            and last_name(value.func)[:1].isupper()
                        )
                        seen[target.id] = value if isinstance(value, ast.Call) and is_instance and target.id not in seen else None
                elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
                    for sub in walk(node.target):
                        if isinstance(sub, ast.Name):
                            seen[sub.id] = None
                elif isinstance(node, (ast.With, ast.AsyncWith)):
                    for item in node.items:
                        for sub in walk(item.optional_vars) if item.optional_vars is not None else ():
                            if isinstance(sub, ast.Name):
                                seen[sub.id] = None
            self._instances = {name: call for name, call in seen.items() if call is not None}
        return self._instances

    def _model_method_result(self, func: ast.Attribute, args: list[Val | None]) -> Val | None:
        """``Team.find_by_id(team_id, session)``: a model's method annotated to return a model,
        given a session, returns an instance of that session."""
        if not isinstance(func.value, (ast.Name, ast.Attribute)) or not last_name(func.value)[:1].isupper():
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
        if not isinstance(func, ast.Name) or func.id not in self.ctx.names.local:
            return None
        found = self.services.facts(self.ctx.module).returns.get(func.id)
        return self.models.model(found[1]) if found is not None and not found[0] else None

    def _eager_in(self, func: ast.expr) -> frozenset:
        """Relationships a same-module function's queries eager-load (``.options(joinedload(
        User.role))``): the object it returns has them loaded. Over-approximated: any loader
        option in its body counts, as a loaded relationship never produces a finding."""
        cached = self.flow.holders.eager_by_function
        name = func.id if isinstance(func, ast.Name) else ""
        if name not in cached:
            loaded: set[str] = set()
            for stmt in self.ctx.tree.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                    for node in walk(stmt):
                        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "options":
                            loaded |= loaded_by(node)
            cached[name] = frozenset(loaded)
        return cached[name]

    def _chain(self, node: ast.Call, method: str, receiver: Val, state: State) -> Val | None:
        for arg in node.args:
            self.discard(arg, state)
        for keyword in node.keywords:
            self.discard(keyword.value, state)
        if method in CHAIN:
            if method == "options":
                return replace(receiver, loaded=receiver.loaded | loaded_by(node))
            return receiver
        if receiver.kind == RESULT:
            if method == "scalars":
                return replace(receiver, kind=SCALARS)
            if method in ("scalar", "scalar_one", "scalar_one_or_none"):
                return replace(receiver, kind=ORM)
            return None  # rows, not instances
        if method in ONE:
            return replace(receiver, kind=ORM) if receiver.scope >= 0 else None
        if method in ALL:
            return replace(receiver, kind=MANY) if receiver.scope >= 0 else None
        return None


# What ``session.<method>(...)`` does, by method name (``Expressions._session_call``).
_SessionEffect = Callable[[Expressions, ast.Call, str, int, "list[Val | None]", State], "Val | None"]
_SESSION_EFFECTS: dict[str, _SessionEffect] = {
    "close": Expressions._closed_by,
    "commit": Expressions._committed_by,
    "rollback": Expressions._expired_by,
    "expire_all": Expressions._expired_by,
    **dict.fromkeys(("expire", "refresh", "add", "expunge"), Expressions._instance_effect),
    "get": Expressions._loaded_by_key,
    "get_one": Expressions._loaded_by_key,
    "merge": Expressions._merged,
    "query": Expressions._queried,
    **dict.fromkeys(("execute", "stream", "exec", "scalars", "stream_scalars", "scalar"), Expressions._executed),
}
# SQLModel's ``session.exec(select(Hero))`` gives the instances, like ``scalars``.
_EXECUTED_KIND = {"execute": RESULT, "stream": RESULT, "exec": SCALARS, "scalars": SCALARS, "stream_scalars": SCALARS, "scalar": ORM}

# A method called on a session, or on a query or result of one, by the receiver's kind.
_MethodCall = Callable[[Expressions, ast.Call, str, Val, State], "Val | None"]
_METHOD_CALLS: dict[str, _MethodCall] = {
    SESSION: Expressions._session_call,
    QUERY: Expressions._chain,
    RESULT: Expressions._chain,
    SCALARS: Expressions._chain,
}

# Calls known by their last name, before models, detached sources and services are asked.
_KnownCall = Callable[[Expressions, ast.Call, str, "list[Val | None]"], "Val | _Undecided | None"]
_KNOWN_CALLS: dict[str, _KnownCall] = {
    **dict.fromkeys(SAME_ITEMS, Expressions._same_items),
    "select": Expressions._select,
    **dict.fromkeys(LOADERS, Expressions._loader_option),
}

# What an expression is worth, by node type (``Expressions.expr``; ``Name`` is looked up first).
_Expression = Callable[[Expressions, Any, State], "Val | None"]
_EXPRESSIONS: dict[type, _Expression] = {
    ast.Attribute: Expressions._attribute,
    ast.Call: Expressions._call,
    ast.Await: Expressions._awaited,
    ast.Subscript: Expressions._subscript,
    **dict.fromkeys((ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp), Expressions._comprehension),
    **dict.fromkeys((ast.List, ast.Tuple, ast.Set), Expressions._sequence),
    ast.Dict: Expressions._dict,
    ast.IfExp: Expressions._if_expression,
    ast.NamedExpr: Expressions._walrus,
    **dict.fromkeys((ast.Yield, ast.YieldFrom), Expressions._yielded),
    ast.Lambda: Expressions._lambda,
}
