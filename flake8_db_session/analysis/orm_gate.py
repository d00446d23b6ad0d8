"""Cheap text tests that decide which functions the ORM rules analyze at all.

Most functions never open or close a session. One scan of the module's text finds the lines
that call a session factory (the configured scopes, names bound to ``sessionmaker(...)`` or
``contextmanager(...)`` here, imported names that look like a session factory), ``next(get_db())``
or a configured detached source; a function is analyzed when one of those lines is inside it, or
when it takes an annotated session parameter and closes something or hands something on.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache

from .astutil import at_word_start, is_word, last_name, spelled_before, word_matches
from .context import ModuleContext, lines_at, own_walk, word_lines
from .orm_stores import Holders, cache_decorator
from .orm_values import session_name, used_as_sessions

_LOCAL_FACTORY = re.compile(
    r"^(\w+)\s*(?::[^=\n]*)?=\s*(?:[\w.]*\.)?(?:async_sessionmaker|sessionmaker|scoped_session|contextmanager|asynccontextmanager)\(",
    re.MULTILINE,
)
_DECORATED_FACTORY = re.compile(r"[ \t]*@(?:[\w.]*\.)?(?:async)?contextmanager[ \t]*\n[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)")
_SESSION_ANNOTATIONS = ("Session", "AsyncSession")
_SESSIONISH = re.compile(r"[Ss]ession|[Ss]cope")


def factory_names(ctx: ModuleContext) -> set[str]:
    """Local names that may open a session when called."""
    settings = ctx.settings
    names = {name.rpartition(".")[2] for name in settings.scopes}
    source = ctx.source
    manager = _occurrences(source, "contextmanager")  # one scan for both spellings below
    after = len("contextmanager")
    called = [at for at in manager if source.startswith("(", at + after)]
    for word, found in (("sessionmaker(", None), ("scoped_session(", None), ("contextmanager(", called)):
        for start in found if found is not None else _occurrences(source, word):
            # Only the line around each occurrence: a MULTILINE regex over the file is slow.
            line_start = source.rfind("\n", 0, start) + 1
            line_end = source.find("\n", start)
            line = source[line_start : line_end if line_end != -1 else len(source)]
            names.update(_LOCAL_FACTORY.findall(line))
    for start in (at for at in manager if source.startswith("\n", at + after)):
        line_start = source.rfind("\n", 0, start) + 1
        match = _DECORATED_FACTORY.match(source, line_start)
        if match:
            names.add(match.group(1))
    # Imported session factories (AsyncSessionLocal, get_isolated_session, db_scope...).
    names.update(local for local in ctx.names.imports if _SESSIONISH.search(local))
    return names


# ``user.name = ...`` (not ``self.x =``, not ``==``), at the start of a line.
_ATTRIBUTE_WRITE = re.compile(r"^[ \t]+(?!self\.|cls\.)([A-Za-z_]\w*)\.\w+[ \t]*(?:\+|-)?=(?!=)", re.MULTILINE)
# A store on the instance or the class: ``self.x = ``, ``self.x[k] = ``, ``self.x.append(``...
# (at a word boundary: ``word_matches``). One pattern per receiver, each starting with its literal;
# neither crosses a line end.
_HOLDER_STORES = tuple(
    re.compile(receiver + r"\.\w+(?:(?:\[[^\n]*\])?[ \t]*=(?!=)|\.(?:append|add|update|setdefault|extend|insert)\()")
    for receiver in ("self", "cls")
)
# Line breaks of ``str.splitlines`` other than ``\n``: with one, a line of ``ctx.lines`` is not
# a ``\n``-delimited stretch of the text, and a pattern is tested line by line instead.
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_OTHER_ASCII_BREAKS = "".join(character for character in _OTHER_BREAKS if character.isascii())
_CALL_AFTER = re.compile(r"\s*\(")
_EMPTY_CALL = re.compile(r"\(\s*\)")
_NEXT_CALL = re.compile(r"next\(\s*(?:\w+\.)*(\w+)\s*\(")
_PARAMETER_WORDS = (".close(", ".state.", "add_task(", "create_task(", "ensure_future(", "global ", "Streaming")


def has_other_breaks(text: str) -> bool:
    """Whether ``text`` holds one of ``_OTHER_BREAKS``: a plain search per character (a character
    class makes ``re`` try every position of a large module)."""
    characters = _OTHER_ASCII_BREAKS if text.isascii() else _OTHER_BREAKS
    return any(character in text for character in characters)


def _occurrences(source: str, word: str) -> list[int]:
    found = []
    start = source.find(word)
    while start != -1:
        found.append(start)
        start = source.find(word, start + 1)
    return found


def _occurrences_of_each(source: str, names: set[str]) -> dict[str, list[int]]:
    """Every offset of each name. A name that contains a shorter one (``AsyncSession``,
    ``SessionLocal`` and ``Session``) is found from that one's offsets: one scan, not three."""
    found: dict[str, list[int]] = {}
    for name in sorted(names, key=lambda n: (len(n), n)):
        shorter = next((known for known in found if known in name), None)
        if shorter is None:
            found[name] = _occurrences(source, name)
            continue
        shift = name.find(shorter)
        found[name] = [at - shift for at in found[shorter] if at >= shift and source.startswith(name, at - shift)]
    return found


def _dependency_names(ctx: ModuleContext) -> set[str]:
    """The last names of the session providers (``get_db``), and local names imported for them
    (``from app.db import get_db as _get_db``): a call that resolves to a provider spells one."""
    dependencies = {name.rpartition(".")[2] for name in ctx.settings.dependencies}
    dependencies.update(
        local for local, target in ctx.names.imports.items() if target.rpartition(".")[2] in dependencies
    )
    return dependencies


def _opening_offsets(ctx: ModuleContext, factories: set[str], dependencies: set[str]) -> list[int]:
    """Offsets of calls to a session factory or detached source, and of ``next(get_db())``.

    ``str.find`` per name beats one regex alternation over the whole text by far.
    """
    settings = ctx.settings
    source = ctx.source
    offsets: list[int] = []
    calls = factories | {n.rpartition(".")[2] for n in settings.detached_sources}
    for name, starts in _occurrences_of_each(source, calls).items():
        for start in starts:
            if at_word_start(source, start) and _CALL_AFTER.match(source, start + len(name)):
                offsets.append(start)
    for start in _occurrences(source, "next("):
        match = _NEXT_CALL.match(source, start)
        if match and match.group(1) in dependencies:
            offsets.append(start)
    # ``gen = get_db()`` then ``next(gen)``: a provider called with no arguments.
    for name, starts in _occurrences_of_each(source, dependencies).items():
        for start in starts:
            before = source[start - 1] if start else " "
            if not (before.isalnum() or before == "_") and _EMPTY_CALL.match(source, start + len(name)):
                offsets.append(start)
    return offsets


_CLASS_OR_QUERY_CALL = re.compile(r"\b[A-Z]\w*\s*\(|\bselect\(|\bnext\(")


class CallMarkers:
    """Calls whose value the flow analysis must see even when no tracked name is around: a class
    (model constructor, ``SessionLocal()``), ``select()``, ``next(get_db())``, a session factory."""

    def __init__(self, factories: set[str]) -> None:
        self._factories = sorted(factories)
        # A name with a character that is not a word character (a stray configuration value, a
        # middle dot) keeps the plain pattern.
        self._pattern = None if all(is_word(name) for name in factories) else re.compile(
            _CLASS_OR_QUERY_CALL.pattern + "".join(r"|\b" + re.escape(name) + r"\s*\(" for name in self._factories)
        )
        # Else one search of the (short) text for any of them, the word start checked at each
        # match: one call per statement, not one per factory.
        self._calls = (
            re.compile("(?:" + "|".join(re.escape(name) for name in self._factories) + r")\s*\(")
            if self._pattern is None and self._factories
            else None
        )

    def search(self, text: str) -> bool:
        """Whether ``text`` calls one of them (a factory's name at a word start, then ``(``)."""
        if self._pattern is not None:
            return self._pattern.search(text) is not None
        if _CLASS_OR_QUERY_CALL.search(text):
            return True
        return self._calls is not None and next(word_matches(self._calls, text), None) is not None


def _inside(lines: Sequence[int], start: int, end: int) -> bool:
    index = bisect_left(lines, start)
    return index < len(lines) and lines[index] <= end


class Gate:
    """Which functions of one module are worth the flow analysis."""

    def __init__(self, ctx: ModuleContext) -> None:
        source = ctx.source
        self._ctx = ctx
        self._markers: CallMarkers | None = None
        self._using: list[int] | None = None
        self._writes: list[int] | None = None
        self._holders: Holders | None = None
        self._holding: bool | None = None
        self._session_parameters: dict[int, tuple[str, list[str]]] = {}  # by id of the function
        self._aligned: bool | None = None
        self.everything = not source  # only a tree: no text to test, analyze every function
        self.factories = factory_names(ctx)
        self.dependencies = _dependency_names(ctx)
        if self.everything:
            self.opening: list[int] = []
            self._using = []
            return
        self.opening = lines_at(source, sorted(_opening_offsets(ctx, self.factories, self.dependencies)))

    @property
    def using(self) -> list[int]:
        """Lines that close something or hand something on: only needed for a module that opens
        nothing, or for a function with a session parameter that opens nothing (computed then)."""
        if self._using is None:
            source = self._ctx.source
            using: list[int] = []
            if "Session" in source:
                for word in _PARAMETER_WORDS:
                    using.extend(_occurrences(source, word))
            self._using = lines_at(source, sorted(using))
        return self._using

    @property
    def markers(self) -> CallMarkers:
        """Calls whose value the flow analysis must see even when no tracked name is around."""
        if self._markers is None:
            ctx = self._ctx
            self._markers = CallMarkers(self.factories | {n.rpartition(".")[2] for n in ctx.settings.detached_sources})
        return self._markers

    @property
    def empty(self) -> bool:
        """No function can be admitted. ``using`` admits only a function with an annotated
        session parameter, ``holding`` only one with any session parameter (``holds``): asked
        after the parameters, as they read the whole text or the module's long-lived state."""
        if self.everything or self.opening or self.writes:
            return False
        parameters = [self._parameters(function) for function, _ in self._ctx.functions]
        if any(annotated for annotated, _ in parameters) and self.using:
            return False
        return not (any(annotated or named for annotated, named in parameters) and self.holding)

    @property
    def holders(self) -> Holders:
        if self._holders is None:
            self._holders = Holders(self._ctx)
        return self._holders

    @property
    def holding(self) -> bool:
        """The module has something that lives as long as the process and may hold ORM rows."""
        if self._holding is None:
            holders = self.holders
            source = self._ctx.source
            # the instances kept by functions are the costly part: asked last
            self._holding = bool(
                "cache" in source or holders.class_containers or (holders.classes and "cls." in source) or holders.singletons
            )
        return self._holding

    @property
    def lines_aligned(self) -> bool:
        """Whether line N of ``ctx.lines`` is line N of the tree: no line break of
        ``str.splitlines`` that Python does not count (a form feed) in the source."""
        if self._aligned is None:
            self._aligned = not has_other_breaks(self._ctx.source)
        return self._aligned

    def _parameters(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, list[str]]:
        """``_session_parameters`` of a function of this module, computed once."""
        found = self._session_parameters.get(id(function))
        if found is None:
            found = self._session_parameters[id(function)] = _session_parameters(function)
        return found

    def _text_of(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        """The function's lines, from its ``def``."""
        start = function.lineno
        return "".join(self._ctx.lines[start - 1 : function.end_lineno or start])

    def _spells(self, function: ast.FunctionDef | ast.AsyncFunctionDef, word: str) -> bool:
        """Whether the function's lines contain ``word`` (True without source lines)."""
        if not self._ctx.lines:
            return True
        # ``word`` holds no line break: in a line of the function exactly when in their text.
        return word in self._text_of(function)

    def _stores_on_holder(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Whether a line of the function stores on ``self``/``cls`` (``_HOLDER_STORES``; True
        without source lines)."""
        lines = self._ctx.lines
        if not lines:
            return True
        text = self._text_of(function)
        if has_other_breaks(text):  # a line of ctx.lines may end inside the text
            first = function.lineno
            return any(next(word_matches(p, line), None) for p in _HOLDER_STORES for line in lines[first - 1 : function.end_lineno or first])
        return any(next(word_matches(p, text), None) for p in _HOLDER_STORES)

    def spells_next(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Whether the function may call ``next(...)`` on a session provider (for DBS008 on
        ``next(get_db())``): its lines spell ``next(`` and a provider's name."""
        if not self._ctx.lines:
            return bool(self.dependencies)
        text = self._text_of(function)
        return "next(" in text and any(name in text for name in self.dependencies)

    def holds(self, function: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> bool:
        """A function with a session parameter whose results may outlive the call: a method of a
        class with a process-lifetime instance or class-level state, or a cached function."""
        parameter, names = self._parameters(function)
        if not (parameter or names) or not self.holding:
            return False
        owner, _, method = qualname.partition(".")
        is_method = bool(method) and "." not in method and owner in self.holders.classes
        if not (cache_decorator(function) or (is_method and (
            ((owner in self.holders.class_containers or owner in self.holders.singletons)
            and self._stores_on_holder(function))
            or (self._spells(function, "cls.") and _stores_on_class(function))
        ))):
            return False
        return bool(parameter) or bool(used_as_sessions(function, names))

    @property
    def writes(self) -> list[int]:
        """Lines that commit or flush: a function with one may save nothing when it wrote to an
        object no session holds before it (DBS004)."""
        if self._writes is None:
            source = self._ctx.source
            self._writes = word_lines((".commit(", ".flush("), source) if source else []
        return self._writes

    def persists(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
        """The plain names whose attributes the function writes before a later commit
        (``user.name = ...`` then ``db.commit()``), bound to what a call returns; empty when
        there are none."""
        lines = self._ctx.lines
        if self.everything or not lines:
            return frozenset({"*"})
        commits = self.writes
        start = function.lineno
        end = function.end_lineno or start
        index = bisect_left(commits, start)
        if index == len(commits) or commits[index] > end:
            return frozenset()
        last_commit = max(line for line in commits[index:] if line <= end) if commits else 0
        names: set[str] = set()
        for line in lines[start - 1 : last_commit - 1]:
            if "=" in line:
                match = _ATTRIBUTE_WRITE.match(line)
                if match:
                    names.add(match.group(1))
        if not names:
            return frozenset()
        # Only a name bound to what a call returns (``user = svc.get(...)``, ``for t in svc.all()``)
        # can hold an object a service built.
        text = "".join(lines[start - 1 : end])
        return frozenset(name for name in names if bound_from_call(text, name))

    def admits(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        if self.everything:
            return True
        start = function.lineno
        end = function.end_lineno or start
        if _inside(self.opening, start, end):
            return True
        parameter = self._parameters(function)[0]
        # An AsyncSession parameter: a lazy load through it raises MissingGreenlet (DBS009).
        return parameter == "AsyncSession" or (bool(parameter) and _inside(self.using, start, end))


# ``name = call(...)`` after the name (annotated, awaited, a chained call) and ``for name in call(...)``.
_BOUND_FROM_CALL = re.compile(r"[ \t]*(?::[^=\n]*)?=[ \t]*(?:await[ \t]+)?[\w.]+(?:\([^\n]*\))?(?:\.\w+)*\(")
_FOR_FROM_CALL = re.compile(r"for[ \t]+(\w+)[ \t]+in[ \t]+[^\n]*\(")


@lru_cache(maxsize=64)
def _bound_from_call_patterns(name: str) -> tuple[re.Pattern[str], ...]:
    """``bound_from_call`` as patterns, for a name with a character that is not a word character."""
    name = re.escape(name)
    return (
        re.compile(rf"{name}[ \t]*(?::[^=\n]*)?=[ \t]*(?:await[ \t]+)?[\w.]+(?:\([^\n]*\))?(?:\.\w+)*\("),
        re.compile(rf"for[ \t]+{name}[ \t]+in[ \t]+[^\n]*\("),
    )


def bound_from_call(text: str, name: str) -> bool:
    r"""Whether ``text`` binds the identifier ``name`` to what a call returns, at a word boundary:
    what ``\bname[ \t]*(?::[^=\n]*)?=[ \t]*(?:await[ \t]+)?[\w.]+(?:\([^\n]*\))?(?:\.\w+)*\(`` or
    ``\bfor[ \t]+name[ \t]+in[ \t]+[^\n]*\(`` finds, with no pattern compiled per name."""
    if not is_word(name):
        return any(next(word_matches(pattern, text), None) for pattern in _bound_from_call_patterns(name))
    if spelled_before(text, name, _BOUND_FROM_CALL):
        return True
    return any(match.group(1) == name for match in word_matches(_FOR_FROM_CALL, text))


def _stores_on_class(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``cls.x = ...``/``cls.x[k] = ...`` in the function."""
    for node in own_walk(function.body):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                base = target.value if isinstance(target, ast.Subscript) else target
                if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id == "cls":
                    return True
    return False


def _session_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, list[str]]:
    """The annotation name of the first Session/AsyncSession parameter, or "" and the
    parameters without an annotation named like a session (``db``)."""
    parameter = _session_parameter(function)
    if parameter:
        return parameter, []
    args = function.args
    return "", [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation is None and session_name(a.arg)]


def _session_parameter(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The annotation name of the first Session/AsyncSession parameter, or ""."""
    args = function.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
        annotation = arg.annotation
        if isinstance(annotation, ast.Subscript):
            annotation = annotation.slice
            if isinstance(annotation, ast.Tuple) and annotation.elts:
                annotation = annotation.elts[0]
        name = last_name(annotation) if annotation is not None else ""
        if name in _SESSION_ANNOTATIONS:
            return name
    return ""
