"""Where ORM objects go in the ORM flow analysis: attribute writes on objects without a live
session (DBS004) and stores into something that outlives the session (DBS006). One
``StoreChecks`` per analyzed function, over its ``FlowContext``; ``Expressions`` hands it the
writes, stores and calls it evaluates.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left

from .astutil import last_name, short_text
from .context import (
    ModuleContext,
    own_walk,
    statement_span,
    statements_on_lines,
    walk,
    word_lines,
)
from .orm_values import (
    ORM,
    STATE_HOLDERS,
    STREAMING,
    TASK_CALLS,
    FlowContext,
    State,
    Val,
    harmless_call,
    session_like,
)


class StoreChecks:
    """Writes and stores of ORM objects in one function."""

    def __init__(self, flow: FlowContext) -> None:
        self.flow = flow
        # Built on first use: the session-like commits and flushes (line, as written), and the
        # calls that may hand an object on, of the function.
        self._commits: list[tuple[int, str]] | None = None
        self._calls: list[ast.Call] = []
        self._commit_writes: frozenset[tuple[str, str]] = frozenset()  # (object, commit) reported
        self._local_names: set[str] | None = None
        self._written_bases: set[int] | None = None  # ids of ``x`` in ``x.attr = ...``
        self._reattached: set[str] | None = None  # names handed to add/merge/add_all

    # == DBS004: a write to an ORM object without a live session ================================
    def write(self, target: ast.Attribute, base: Val | None, state: State) -> None:
        """DBS004: an attribute write on ``base`` (the value of ``target.value``, evaluated by
        the caller) without a live session. A write followed by
        a ``commit()``/``flush()`` is meant for the database, so it is reported even when the
        object is read again; an object that may be a transient copy (``inferred``) is reported
        only then, since on its other paths the write may be saved."""
        if base is None or base.kind != ORM:
            return
        if base.model is not None and not base.model.mapped(target.attr):
            return  # a plain Python attribute: not a lost write
        gone = self.flow.gone(base, state)
        if gone:
            if base.model is None and not base.detached_source:
                return
            if self._reattached_later(target.value):
                return
            commit = self._committed_after(target.lineno, target.value)
            if (commit and self._first_write_before(target, commit)) or (not commit and not self._used_after(target.value, target.lineno)):
                self.flow.report(target, "DBS004", name=short_text(target.value), attribute=target.attr, why=gone)
            return
        if base.inferred and base.model is not None and not self._reattached_later(target.value):
            commit = self._committed_after(target.lineno, target.value)
            if commit and self._first_write_before(target, commit):
                name = short_text(target.value)
                why = f"{name} may be a new object from {base.inferred} that no session holds, which {commit} does not save"
                self.flow.report(target, "DBS004", name=name, attribute=target.attr, why=why)

    def _first_write_before(self, target: ast.Attribute, commit: str) -> bool:
        """One finding per object and commit: the first write the commit was meant to save."""
        key = (short_text(target.value), commit)
        if key in self._commit_writes:
            return False
        self._commit_writes = self._commit_writes | {key}
        return True

    def _committed_after(self, line: int, obj: ast.expr) -> str:
        """The first ``<session>.commit()``/``.flush()`` after ``line`` in this function (as
        ``db.commit() on line N``), or "": on a session-like receiver (a tracked session, or a
        name such as ``db``, ``self.db``, ``session``). "" as well when the object is handed to
        other code, or one of its methods is called, before that commit: that code may add it
        to a session or save it itself."""
        if self._commits is None:
            commits: list[tuple[int, str]] = []
            calls: list[ast.Call] = []
            for node in own_walk(self.flow.function.body):
                if not isinstance(node, ast.Call):
                    continue
                if (
                    isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("commit", "flush")
                    and not node.args
                    and session_like(node.func.value)
                ):
                    commits.append((node.lineno, f"{short_text(node.func)}() on line {node.lineno}"))
                elif not harmless_call(node.func):
                    calls.append(node)
            self._commits = sorted(commits)
            self._calls = calls
        for at, text in self._commits:
            if at > line:
                return "" if self._handed_on(obj, line, at) else text
        return ""

    def _handed_on(self, obj: ast.expr, after: int, before: int) -> bool:
        if not isinstance(obj, ast.Name):
            return True
        for call in self._calls:
            if not after < call.lineno < before:
                continue
            func = call.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == obj.id:
                return True  # ``user.save()``, ``user.reset_failed_attempts()``
            if any(isinstance(arg, ast.Name) and arg.id == obj.id for arg in (*call.args, *(k.value for k in call.keywords))):
                return True
        return False

    def _used_after(self, node: ast.expr, line: int) -> bool:
        """The object is read again later in the function (returned, serialized, passed on):
        the change may be meant for that in-memory use (scrubbing a field before a response),
        so only a write nothing reads afterwards, whose only purpose is the database, is reported."""
        if not isinstance(node, ast.Name):
            return True
        if self._written_bases is None:
            # The objects attributes are assigned on: ``x`` of ``x.a = ...`` and ``x.a += ...``.
            self._written_bases = {
                id(target.value)
                for stmt in self.flow.nodes()
                if isinstance(stmt, (ast.Assign, ast.AugAssign))
                for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                if isinstance(target, ast.Attribute)
            }
        written = self._written_bases
        return any(
            isinstance(sub, ast.Name) and sub.id == node.id and isinstance(sub.ctx, ast.Load) and sub.lineno > line and id(sub) not in written
            for sub in self.flow.nodes()
        )

    def _reattached_later(self, node: ast.expr) -> bool:
        """The object is handed to ``add``/``merge`` somewhere in the function: the write may be kept."""
        if not isinstance(node, ast.Name):
            return False
        if self._reattached is None:
            self._reattached = {
                name.id
                for sub in self.flow.nodes()
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in ("add", "merge", "add_all")
                for arg in sub.args
                for name in ast.walk(arg)
                if isinstance(name, ast.Name)
            }
        return node.id in self._reattached

    # == DBS006: an ORM object stored where it outlives its session ==============================
    def store_in_global(self, target: ast.Name, value: Val | None, value_node: ast.expr | None) -> None:
        """``global x; x = obj``: the module keeps the instance after its session closed."""
        if target.id in self.flow.globals and value is not None and value.is_orm() and value.scope >= 0:
            self.flow.report(target, "DBS006", name=short_text(value_node or target), target=f"module global {target.id}")

    def store(self, target: ast.expr, value: Val | None, state: State, value_node: ast.expr | None) -> None:
        """DBS006: an ORM object stored where it outlives its session."""
        if value is None or not value.is_orm() or value.scope < 0:
            return
        where = self._long_lived(target)
        if where:
            self.flow.report(target, "DBS006", name=short_text(value_node or target), target=where)

    def _long_lived(self, target: ast.expr) -> str:
        if isinstance(target, ast.Attribute):
            holder = target.value
            if isinstance(holder, ast.Attribute) and holder.attr in STATE_HOLDERS:
                return f"{short_text(holder)}.{target.attr}"
            return self._held_by_instance(target) or self._class_attribute(target)
        if isinstance(target, ast.Subscript):
            return self._outliving(target.value)
        return ""

    def _outliving(self, holder: ast.expr) -> str:
        """A container that outlives the call: a module-level dict/list/set/cache, a state
        attribute, an attribute of a process-lifetime instance, or a class attribute."""
        if isinstance(holder, ast.Name) and self._module_level(holder.id):
            return f"module-level {holder.id}"
        if isinstance(holder, ast.Attribute):
            if isinstance(holder.value, ast.Attribute) and holder.value.attr in STATE_HOLDERS:
                return short_text(holder)
            return self._held_by_instance(holder) or self._class_attribute(holder) or self._class_container(holder)
        return ""

    def _module_level(self, name: str) -> bool:
        """A module-level container (``_CACHE = {}``), not shadowed by a local of the same name."""
        return name in self.flow.holders.containers and name not in self._locals

    def _held_by_instance(self, node: ast.Attribute) -> str:
        """``self.x`` in a method of a class whose instance lives as long as the process."""
        owner = self._own_class()
        if not owner or not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            return ""
        how = self.flow.holders.singletons.get(owner)
        return f"{short_text(node)} of the {how} {owner} instance" if how else ""

    def _class_attribute(self, node: ast.Attribute) -> str:
        """``cls.x``/``Class.x`` of a class of this module: shared by every instance, for good."""
        base = node.value
        owner = self._own_class()
        if isinstance(base, ast.Name) and (
            (base.id == "cls" and owner) or (base.id in self.flow.holders.classes and base.id not in self._locals)
        ):
            return f"class attribute {owner if base.id == 'cls' else base.id}.{node.attr}"
        return ""

    def _class_container(self, node: ast.Attribute) -> str:
        """``self._cache`` where the class body holds ``_cache = {}``: one dict for every instance."""
        owner = self._own_class()
        if (
            owner
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in self.flow.holders.class_containers.get(owner, ())
        ):
            return f"class attribute {owner}.{node.attr}"
        return ""

    def _own_class(self) -> str:
        """The class whose method is being analyzed ("" for a function or a nested one)."""
        owner, _, method = self.flow.qualname.partition(".")
        return owner if method and "." not in method and owner in self.flow.holders.classes else ""

    # -- DBS006 continued: hand-offs to tasks and streaming responses, cached returns ----------
    def check_handoff(self, node: ast.Call, values: list[Val | None], state: State) -> None:
        """DBS006: an ORM object handed to a background task, a new task or a streaming response
        that can fail with it (a lazy relationship read, an expired object read, a write), or
        appended to a long-lived container."""
        func = node.func
        name = last_name(func)
        if name in TASK_CALLS or STREAMING.search(name):
            carried = self._carried(node, state, streaming=name not in TASK_CALLS)
            if carried is not None:
                self.flow.report(node, "DBS006", name=carried, target=f"{name}()")
            return
        if isinstance(func, ast.Attribute) and func.attr in ("append", "add", "setdefault", "update", "extend", "insert"):
            for arg, value in zip(node.args, values):
                if value is not None and value.is_orm() and value.scope >= 0:
                    where = self._outliving(func.value)
                    if where:
                        self.flow.report(node, "DBS006", name=short_text(arg), target=where)
                    return

    def _carried(self, node: ast.Call, state: State, streaming: bool = False) -> str | None:
        """An ORM object that travels with the task and can fail there: an argument (followed
        into the function it is handed to, when that function is in this module), an argument of
        the coroutine call, or a name a nested function or lambda closes over. ``tool.name`` is
        read now and travels as a string.

        A streaming response over a session parameter (the endpoint's request-scoped
        ``Depends(get_db)``) that is still open is not reported: FastAPI closes that session
        only after the response has been sent."""

        def outlives(value: Val | None) -> bool:
            if value is None or not value.is_orm() or value.scope < 0:
                return False
            return not streaming or self.flow.scopes[value.scope].kind != "param" or value.scope in state.closed

        # (expression, the function it is handed to, its position there)
        pending: list[tuple[ast.expr, ast.expr | None, int]] = []
        followed: set[int] = set()  # arguments handed to a function of this module, followed there

        def push_arguments(call: ast.Call) -> None:
            # ``add_task(notify, team)``, ``to_thread(notify, team)``: ``team`` is notify's first argument.
            for position, arg in enumerate(call.args):
                if self._function_node(arg) is not None:
                    for index, later in enumerate(call.args[position + 1 :]):
                        pending.append((later, arg, index))
                        followed.add(id(later))
                    break
            pending.extend((a, None, -1) for a in (*call.args, *(k.value for k in call.keywords)) if id(a) not in followed)

        push_arguments(node)
        while pending:
            arg, receiver, index = pending.pop()
            if isinstance(arg, ast.Starred):
                arg = arg.value
            if isinstance(arg, ast.Call):
                if last_name(arg.func) in TASK_CALLS:
                    push_arguments(arg)
                    continue
                pending.extend((a, arg.func, i) for i, a in enumerate(arg.args))
                pending.extend((k.value, None, -1) for k in arg.keywords)
                arg = arg.func  # a nested generator or coroutine function carries what it closes over
            if isinstance(arg, ast.Name) and arg.id in self.flow.nested:
                for name in sorted(self.flow.closure(arg.id)):
                    value = state.env.get(name)
                    if value is not None and outlives(value) and self._fails_with(value, self._uses(self.flow.nested.get(arg.id), name)):
                        return name
                continue
            if isinstance(arg, ast.Lambda):
                for sub in ast.walk(arg.body):
                    value = state.env.get(sub.id) if isinstance(sub, ast.Name) else None
                    if value is not None and isinstance(sub, ast.Name) and outlives(value) and self._fails_with(value, self._uses(arg, sub.id)):
                        return sub.id
                continue
            if isinstance(arg, ast.Name) and outlives(state.env.get(arg.id)):
                uses = self._uses_in_callee(receiver, index) if receiver is not None else None
                if self._fails_with(state.env[arg.id], uses):
                    return arg.id
            if isinstance(arg, (ast.List, ast.Tuple, ast.Set)):
                pending.extend((e, None, -1) for e in arg.elts)
            elif isinstance(arg, ast.Dict):
                pending.extend((v, None, -1) for v in arg.values if v is not None)
        return None

    def _function_node(self, func: ast.expr) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """A nested function of this one, or a module-level function of this module."""
        if not isinstance(func, ast.Name):
            return None
        if func.id in self.flow.nested:
            return self.flow.nested[func.id]
        if func.id in self.flow.ctx.names.local:
            for stmt in self.flow.ctx.tree.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == func.id:
                    return stmt
        return None

    def _uses_in_callee(self, func: ast.expr, index: int) -> tuple[frozenset, frozenset] | None:
        """What the function an object is handed to (at ``index``) does with it; None if unknown."""
        function = self._function_node(func)
        if function is None or index < 0:
            return None
        args = function.args
        positional = [*args.posonlyargs, *args.args]
        if index >= len(positional):
            return None
        return self._uses(function, positional[index].arg)

    @staticmethod
    def _uses(function: ast.AST | None, name: str) -> tuple[frozenset, frozenset] | None:
        """(attributes read, attributes written) on ``name`` and the items of a loop over it, in
        ``function``; "*" among the reads when it is handed on to other code."""
        if function is None:
            return None
        tracked = {name}
        nodes = list(ast.walk(function))
        for node in nodes:
            loop = node if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) else None
            if loop is not None and isinstance(loop.iter, ast.Name) and loop.iter.id in tracked and isinstance(loop.target, ast.Name):
                tracked.add(loop.target.id)
        reads: set[str] = set()
        writes: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in tracked:
                (writes if isinstance(node.ctx, ast.Store) else reads).add(node.attr)
            elif isinstance(node, ast.Call) and not harmless_call(node.func):
                for arg in (*node.args, *(k.value for k in node.keywords)):
                    if isinstance(arg, ast.Name) and arg.id in tracked:
                        reads.add("*")
        return frozenset(reads), frozenset(writes)

    def _fails_with(self, value: Val, uses: tuple[frozenset, frozenset] | None) -> bool:
        """Whether what runs later can fail with this object: a lazy relationship read (or a
        member that reads one), any read of an expired object, a write that nothing saves. Code
        that cannot be read here (another module's function) fails only with an expired object:
        whether it reads a relationship is not known, and most such code reads columns."""
        scope = self.flow.scopes[value.scope]
        expires = scope.commits_on_exit and scope.expire_on_commit
        if uses is None:
            return self.flow.hazard(value, expires) == "expired"
        reads, writes = uses
        model = value.model
        if model is None:
            return bool(reads or writes)
        if any(model.mapped(attribute) for attribute in writes):
            return True
        if (value.expired or expires) and reads:
            return True
        if "*" in value.loaded:
            return False
        risky = (model.lazy_relationships() - value.loaded) | model.touching_members
        return bool(reads & risky)

    def cached_return(self, node: ast.expr, value: Val | None) -> None:
        """DBS006: an ORM object returned by an ``lru_cache``/``cache`` function is kept by the
        cache and handed to later callers after its session is gone."""
        if value is None or not value.is_orm() or value.scope < 0:
            return
        decorator = cache_decorator(self.flow.function)
        if decorator:
            name = getattr(self.flow.function, "name", "function")
            self.flow.report(node, "DBS006", name=short_text(node), target=f"the {decorator} of {name}()")

    @property
    def _locals(self) -> set[str]:
        """The function's own names (parameters and names it binds), but its globals as
        declared when first asked."""
        if self._local_names is None:
            self._local_names = set(self.flow.first_stores()) - self.flow.globals
        return self._local_names


# --- what lives as long as the process -----------------------------------------------------------

_CONTAINER_CALLS = re.compile(r"(?:dict|list|set|defaultdict|OrderedDict|deque|Counter|WeakValueDictionary|\w*[Cc]ache\w*)$")
_CACHE_DECORATORS = frozenset({"lru_cache", "cache", "cached", "ttl_cache", "alru_cache", "memoize", "cached_property"})


def cache_decorator(function: ast.AST) -> str:
    """``lru_cache``/``cache``/``cached(...)``... decorating a function (not a method's
    ``cached_property``, which lives with its instance), or ""."""
    for decorator in getattr(function, "decorator_list", ()):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = last_name(target)
        if name in _CACHE_DECORATORS and name != "cached_property":
            return name
    return ""


def _is_container(value: ast.expr | None) -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    return isinstance(value, ast.Call) and bool(_CONTAINER_CALLS.match(last_name(value.func)))


class Holders:
    """What in one module lives as long as the process: module-level containers and caches,
    classes with a process-lifetime instance, class-level containers. Computed once per module."""

    def __init__(self, ctx: ModuleContext) -> None:
        self._ctx = ctx
        self._containers: set[str] = set()
        # class -> how its instance lives on: "module-level", "singleton", "cached"
        self._singletons: dict[str, str] = {}
        self._classes: set[str] = set()
        self._class_containers: dict[str, set[str]] = {}
        self._class_nodes: dict[str, ast.ClassDef] = {}
        self._built = False  # the module is read on first need: many flows never ask
        self._singletons_found = False  # the instances kept by a function or the class itself
        # Per-module memo of Expressions._eager_in: function name -> relationships it eager-loads.
        self.eager_by_function: dict[str, frozenset[str]] = {}

    @property
    def containers(self) -> set[str]:
        """Module-level containers and caches (``_CACHE = {}``)."""
        self._build()
        return self._containers

    @property
    def singletons(self) -> dict[str, str]:
        """Classes with a process-lifetime instance -> how it lives on."""
        self._build()
        if not self._singletons_found:
            self._singletons_found = True
            source = self._ctx.source
            if self._classes and (not source or "global " in source or "instance" in source or "cache" in source):
                self._singleton_patterns(self._ctx, self._ctx.tree.body, self._class_nodes)
        return self._singletons

    @property
    def classes(self) -> set[str]:
        """The module's top-level classes."""
        self._build()
        return self._classes

    @property
    def class_containers(self) -> dict[str, set[str]]:
        """Class -> its class-level containers (``_cache = {}`` in the class body)."""
        self._build()
        return self._class_containers

    def _build(self) -> None:
        if self._built:
            return
        self._built = True
        ctx = self._ctx
        body = ctx.tree.body
        classes = {stmt.name: stmt for stmt in body if isinstance(stmt, ast.ClassDef)}
        self._class_nodes = classes
        self._classes = set(classes)
        for stmt in body:
            targets, value = _assignment(stmt)
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if not names:
                continue
            callee = last_name(value.func) if isinstance(value, ast.Call) else ""
            if callee in classes:
                self._singletons.setdefault(callee, "module-level")
            elif _is_container(value):
                self._containers.update(names)
        for name, cls in classes.items():
            for member in cls.body:
                targets, value = _assignment(member)
                if targets and _is_container(value):
                    self._class_containers.setdefault(name, set()).update(
                        t.id for t in targets if isinstance(t, ast.Name)
                    )

    def _singleton_patterns(self, ctx: ModuleContext, body: list[ast.stmt], classes: dict[str, ast.ClassDef]) -> None:
        """``global _x; _x = Cls()`` in a function, ``cls._instance = cls()`` in the class, a
        ``functools.cache``d factory returning ``Cls()``. Only the statements whose lines spell
        ``global`` or ``instance`` are walked (all of them when there is no source text)."""
        source = ctx.source
        declaring = word_lines(("global ",), source) if source else None
        instance_lines = _target_lines(source, "instance") if source else None
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                cached = bool(cache_decorator(stmt))
                if not (cached or declaring is None or (declaring and _spans(declaring, *statement_span(stmt)))):
                    continue
                nodes = list(own_walk(stmt.body))
                declared = {n for node in nodes if isinstance(node, ast.Global) for n in node.names}
                for node in nodes:
                    if declared and isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                        callee = last_name(node.value.func)
                        if callee in classes and any(isinstance(t, ast.Name) and t.id in declared for t in node.targets):
                            self._singletons.setdefault(callee, "singleton")
                    elif cached and isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
                        callee = last_name(node.value.func)
                        if callee in classes:
                            self._singletons.setdefault(callee, "cached")
            elif isinstance(stmt, ast.ClassDef) and stmt.name in classes:
                name = stmt.name
                statements = (
                    statements_on_lines([stmt], instance_lines) if instance_lines is not None else list(walk(stmt))
                )
                for node in statements:
                    if isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Attribute) and t.attr.endswith("instance") and last_name(t.value) in ("cls", name)
                        for t in node.targets
                    ):
                        self._singletons.setdefault(name, "singleton")
                        break


def _target_lines(source: str, word: str) -> list[int]:
    """1-based lines holding ``word`` not followed by ``(``, ascending, without duplicates: an
    assignment target ending in ``word`` is never called there (``isinstance(`` is no target)."""
    lines: list[int] = []
    line, last = 1, 0
    after = len(word)
    at = source.find(word)
    while at >= 0:
        if not source.startswith("(", at + after):
            line += source.count("\n", last, at)
            last = at
            if not lines or lines[-1] != line:
                lines.append(line)
        at = source.find(word, at + after)
    return lines


def _spans(lines: list[int], start: int, end: int) -> bool:
    index = bisect_left(lines, start)
    return index < len(lines) and lines[index] <= end


def _assignment(stmt: ast.stmt) -> tuple[list[ast.expr], ast.expr | None]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets, stmt.value
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return [stmt.target], stmt.value
    return [], None
