"""Where ORM objects go in the ORM flow analysis: attribute writes on objects without a live
session (DBS004) and stores into something that outlives the session (DBS006). Mixed into
``FunctionFlow`` (escapes.py).
"""

from __future__ import annotations

import ast

from .orm_values import _STATE_HOLDERS, ORM, State, Val, _module_facts, _text, session_like
from .scopes import _own_nodes


class StoreChecks:
    """The write and store half of ``FunctionFlow``."""

    _commits: list[tuple[int, str]] | None = None

    def _write(self, target: ast.Attribute, state: State) -> None:
        """DBS004: an attribute write on an object without a live session. A write followed by
        a ``commit()``/``flush()`` is meant for the database, so it is reported even when the
        object is read again; an object that may be a transient copy (``inferred``) is reported
        only then, since on its other paths the write may be saved."""
        base = self.expr(target.value, state)
        if base is None or base.kind != ORM:
            return
        if base.model is not None and not base.model.mapped(target.attr):
            return  # a plain Python attribute: not a lost write
        gone = self._gone(base, state)
        if gone:
            if base.model is None and not base.detached_source:
                return
            if self._reattached_later(target.value):
                return
            commit = self._committed_after(target.lineno)
            if commit or not self._used_after(target.value, target.lineno):
                self.report(target, "DBS004", name=_text(target.value), attribute=target.attr, why=gone)
            return
        if base.inferred and base.model is not None and not self._reattached_later(target.value):
            commit = self._committed_after(target.lineno)
            if commit:
                name = _text(target.value)
                why = f"{name} may be a new object from {base.inferred} that no session holds, which {commit} does not save"
                self.report(target, "DBS004", name=name, attribute=target.attr, why=why)

    def _committed_after(self, line: int) -> str:
        """The first ``<session>.commit()``/``.flush()`` after ``line`` in this function (as
        ``db.commit() on line N``), or "": on a session-like receiver (a tracked session, or a
        name such as ``db``, ``self.db``, ``session``)."""
        if self._commits is None:
            commits: list[tuple[int, str]] = []
            for node in _own_nodes(self.function.body):  # type: ignore[attr-defined]
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("commit", "flush")
                    and not node.args
                    and session_like(node.func.value)
                ):
                    commits.append((node.lineno, f"{_text(node.func)}() on line {node.lineno}"))
            self._commits = sorted(commits)
        for at, text in self._commits:
            if at > line:
                return text
        return ""

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
