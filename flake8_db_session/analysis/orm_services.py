"""Service functions and methods whose return annotation names a model, across modules.

``provider = llm_provider_service.get_provider(db, provider_id)`` with
``def get_provider(self, db: Session, provider_id: str) -> LLMProvider`` in another module returns
an instance of the session it was given. The facts come from the defining module's text (its
``def ...) -> X:`` signatures and its module-level ``name = Class(...)`` instances), never a parse:
a service module is large, and most of it is irrelevant here.
"""

from __future__ import annotations

import ast
import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from .models import _imports_only, annotation_class

_T = TypeVar("_T")

if TYPE_CHECKING:
    from .context import ModuleContext
    from .models import ModelResolver

_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)
_CLASS = re.compile(r"^class[ \t]+(\w+)", re.MULTILINE)
# Lines that start a top-level statement (a class, a function, an assignment...).
_TOP = re.compile(r"^[^\s#)\]}'\"@]", re.MULTILINE)
_INSTANCE = re.compile(r"^(\w+)[ \t]*(?::[^=\n]*)?=[ \t]*((?:\w+\.)*[A-Z]\w*)[ \t]*\(", re.MULTILINE)
_CONTAINERS = frozenset({"List", "list", "Sequence", "Iterable", "Iterator", "Set", "set", "Tuple", "tuple"})
_MAX_SIGNATURE = 4000  # characters scanned for one signature's closing parenthesis


@dataclass(frozen=True)
class ServiceFacts:
    # "func" or "Class.method" -> (True if a container of instances, the annotation's class qualified)
    returns: dict[str, tuple[bool, str]] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # module-level name -> its class, qualified


EMPTY_FACTS = ServiceFacts()


def service_facts(text: str, module: str, imports: dict[str, str]) -> ServiceFacts:
    """The annotated returns and module-level instances declared in one module's text."""
    if "->" not in text and "= " not in text:
        return EMPTY_FACTS

    def qualify(name: str) -> str:
        head, dot, rest = name.partition(".")
        if head in imports:
            return imports[head] + dot + rest
        return f"{module}.{name}" if module else name

    returns: dict[str, tuple[bool, str]] = {}
    if "->" in text:
        tops: list[int] = []
        classes: dict[int, str] = {}
        for match in _defs(text):
            annotation = _return_annotation(text, match.end())
            if annotation is None:
                continue
            found = _annotated_model(annotation)
            if found is None:
                continue
            many, name = found
            if not name.rpartition(".")[2][:1].isupper():
                continue  # str, int, dict...: classes, models among them, are capitalized
            indent = match.group(1)
            if not indent:
                key = match.group(2)
            else:
                if not tops:  # only now: most annotated defs return nothing of interest
                    tops = [m.start() for m in _TOP.finditer(text)]
                    classes = {m.start(): m.group(1) for m in _classes(text)}
                owner = _owning_class(tops, classes, match.start(), indent)
                if owner is None:
                    continue
                key = f"{owner}.{match.group(2)}"
            returns[key] = (many, qualify(name))
    instances = {target: qualify(cls) for target, cls in _INSTANCE.findall(text)}
    return ServiceFacts(returns, instances)


def _defs(text: str) -> Iterator[re.Match[str]]:
    """``_DEF.finditer(text)``, faster: the pattern is tried only at the start of the lines that
    spell ``def`` (a match never leaves its line), not at every position of a large module."""
    line_start = -1
    at = text.find("def")
    while at != -1:
        start = text.rfind("\n", 0, at) + 1
        if start != line_start:
            line_start = start
            match = _DEF.match(text, start)
            if match is not None:
                yield match
        at = text.find("def", at + 3)


def _classes(text: str) -> Iterator[re.Match[str]]:
    """``_CLASS.finditer(text)``, faster: tried only where a line starts with ``class``."""
    at = text.find("class")
    while at != -1:
        if at == 0 or text[at - 1] == "\n":
            match = _CLASS.match(text, at)
            if match is not None:
                yield match
        at = text.find("class", at + 5)


def _owning_class(tops: list[int], classes: dict[int, str], position: int, indent: str) -> str | None:
    """The top-level class a method belongs to: the last line starting at column 0 before the
    ``def`` is that class's line (a nested function, deeper than 4 columns, is not a method)."""
    if len(indent.expandtabs()) > 4:
        return None
    index = bisect_right(tops, position) - 1
    return classes.get(tops[index]) if index >= 0 else None


def _return_annotation(text: str, start: int) -> str | None:
    """The text after ``) ->`` of the signature whose parameters start at ``start``."""
    depth = 1
    index = start
    end = min(len(text), start + _MAX_SIGNATURE)
    while index < end and depth:
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        index += 1
    if depth:
        return None
    rest = text[index : index + 300]
    stripped = rest.lstrip()
    if not stripped.startswith("->"):
        return None
    stripped = stripped[2:]
    depth = 0
    for offset, char in enumerate(stripped):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ":" and depth == 0:
            return " ".join(stripped[:offset].split())
    return None


def _annotated_model(annotation: str) -> tuple[bool, str] | None:
    """(container?, class name) for ``Team``, ``Optional[Team]``, ``List[Team]``, ``"Team"``..."""
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return None
    single = annotation_class(node)
    if single:
        return False, single
    if isinstance(node, ast.Subscript):
        outer = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if outer in _CONTAINERS and not isinstance(node.slice, ast.Tuple):
            inner = annotation_class(node.slice)
            if inner:
                return True, inner
    return None


def _tree_facts(ctx: ModuleContext) -> ServiceFacts:
    """The analyzed module's own facts, from its parsed top-level statements (no text scan)."""
    names = ctx.names
    returns: dict[str, tuple[bool, str]] = {}
    instances: dict[str, str] = {}

    def record(key: str, annotation: ast.expr | None) -> None:
        found = _annotated_model(ast.unparse(annotation)) if annotation is not None else None
        if found is not None and found[1].rpartition(".")[2][:1].isupper():
            head, dot, rest = found[1].partition(".")
            returns[key] = (found[0], names.qualify_name(head) + dot + rest)

    for stmt in ctx.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            record(stmt.name, stmt.returns)
        elif isinstance(stmt, ast.ClassDef):
            for member in stmt.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    record(f"{stmt.name}.{member.name}", member.returns)
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            value = stmt.value
            if isinstance(value, ast.Call) and isinstance(value.func, (ast.Name, ast.Attribute)):
                qualified = names.qualify(value.func) or ""
                if qualified.rpartition(".")[2][:1].isupper():
                    instances[stmt.targets[0].id] = qualified
    return ServiceFacts(returns, instances)


_MAX_HOPS = 6  # re-exports followed from the name a module imports to where it is defined


class ServiceResolver:
    """Answers, for one analyzed module, what a call into a service returns. Facts of other
    modules are read from their text once per project index (a process), on first need."""

    def __init__(self, ctx: ModuleContext, models: ModelResolver) -> None:
        self.ctx = ctx
        self.models = models
        self._own: ServiceFacts | None = None

    # facts ---------------------------------------------------------------------------------
    def facts(self, module: str) -> ServiceFacts:
        ctx = self.ctx
        if module == ctx.module or not module:
            if self._own is None:
                self._own = _tree_facts(ctx)
            return self._own
        index = ctx.index
        cache = getattr(index, "_dbs_service_facts", None)
        if cache is None:
            cache = {}
            try:
                index._dbs_service_facts = cache  # type: ignore[attr-defined]
            except AttributeError:  # an index that takes no attributes: no cache, still correct
                pass
        if module not in cache:
            cache[module] = self._read(module)
        return cache[module]

    def _read(self, module: str) -> ServiceFacts:
        path = self._path(module)
        if path is None:
            return EMPTY_FACTS
        try:
            reader = getattr(self.ctx.index, "read_bytes", None)
            if reader is not None and not path.startswith("config:"):
                data = reader(path)
            else:
                with open(path.removeprefix("config:"), "rb") as handle:
                    data = handle.read()
        except OSError:
            return EMPTY_FACTS
        summary = self.models.summary(module)
        imports = dict(summary.imports) if summary is not None else {}
        if not imports and path.startswith("config:"):
            imports = _imports_only(data.decode("utf-8", "replace"), module, False).imports
        return service_facts(data.decode("utf-8", "replace"), module, imports)

    def _path(self, module: str) -> str | None:
        finder = getattr(self.ctx.index, "module_file", None)
        found = finder(module) if finder is not None else None
        if found is not None:
            return found
        # A configured model file (by path) answers for the module named like its file.
        stem = module.rpartition(".")[2]
        for entry in self.ctx.settings.model_modules:
            if entry.endswith(".py") and os.path.splitext(os.path.basename(entry))[0] == stem:
                return "config:" + self.ctx.settings.resolve_path(entry)
        return None

    # questions -----------------------------------------------------------------------------
    def returned(self, owner: str, member: str | None) -> tuple[bool, str] | None:
        """(container?, model class qualified) that ``owner.member`` (a class and its method) or
        ``owner`` (a function) is annotated to return; re-exports followed."""
        key = (lambda name: f"{name}.{member}") if member else (lambda name: name)
        return self._follow(owner, lambda facts, name: facts.returns.get(key(name)))

    def instance_class(self, qualified: str) -> str | None:
        """The class of a module-level instance (``llm_provider_service = LLMProviderService()``)."""
        return self._follow(qualified, lambda facts, name: facts.instances.get(name))

    def _follow(self, qualified: str, lookup: Callable[[ServiceFacts, str], _T | None]) -> _T | None:
        """``lookup`` in the module a qualified name points into, following re-exports."""
        for _ in range(_MAX_HOPS):
            module, _, name = qualified.rpartition(".")
            if not module:
                return None
            found = lookup(self.facts(module), name)
            if found is not None:
                return found
            summary = self.models.summary(module)
            target = summary.imports.get(name) if summary is not None else None
            if target is None:
                return None
            qualified = target
        return None
