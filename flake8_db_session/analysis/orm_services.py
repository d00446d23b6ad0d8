"""What a call into a service returns, across modules: an instance of the caller's session, or
an object no session holds.

``provider = llm_provider_service.get_provider(db, provider_id)`` with
``def get_provider(self, db: Session, provider_id: str) -> LLMProvider`` in another module returns
an instance of the session it was given. ``user = await auth.get_user_by_email(email)`` whose
method returns ``_user_from_dict(cached)`` on a cache hit, a helper that builds
``EmailUser(...)`` and never adds it to a session, may return a *transient* object: a write to it
followed by ``commit()`` saves nothing on that path.

The facts of a module (``ServiceFacts``) come from its text, or from its tree when the text shows
a function that can return an object no session holds. The facts of another module are asked of
the project index (``ProjectIndex.service_facts``), which reads and caches them; nothing here
reads a file.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING

from .astutil import at_word_start, last_name, parse_module, word_matches
from .context import child_fields, lines_at, module_names, own_walk
from .models import annotation_class, imports_only
from .names import Names

if TYPE_CHECKING:
    from .context import ModuleContext
    from .models import ModelInfo, ModelResolver

_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)
_CLASS = re.compile(r"^class[ \t]+(\w+)", re.MULTILINE)
# Lines that start a top-level statement (a class, a function, an assignment...), and
# module-level instances, matched over "\n" + text: a pattern that starts with the newline lets
# the engine jump from line to line (``^`` with MULTILINE tries every position of the module).
_TOP_LEVEL_LINE = re.compile(r"\n[^\s#)\]}'\"@]")
_INSTANCE = re.compile(r"\n(\w+)[ \t]*(?::[^=\n]*)?=[ \t]*((?:\w+\.)*[A-Z]\w*)[ \t]*\(")
_CONTAINERS = frozenset({"List", "list", "Sequence", "Iterable", "Iterator", "Set", "set", "Tuple", "tuple"})
_MAX_SIGNATURE = 4000  # characters scanned for one signature's closing parenthesis


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
        for match in def_matches(text):
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
                    tops = top_level_lines(text)
                    classes = {m.start(): m.group(1) for m in class_matches(text)}
                owner = _owning_class(tops, classes, match.start(), indent)
                if owner is None:
                    continue
                key = f"{owner}.{match.group(2)}"
            returns[key] = (many, qualify(name))
    instances = {target: qualify(cls) for target, cls in _INSTANCE.findall("\n" + text)}
    return ServiceFacts(returns, instances)


def top_level_lines(text: str) -> list[int]:
    """The offset of every line of ``text`` that starts a top-level statement."""
    return [match.start() for match in _TOP_LEVEL_LINE.finditer("\n" + text)]  # "\n" at i: line at i


def def_matches(text: str) -> Iterator[re.Match[str]]:
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


def class_matches(text: str) -> Iterator[re.Match[str]]:
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
    return _annotated_node(node)


def _annotated_node(node: ast.expr) -> tuple[bool, str] | None:
    """``_annotated_model`` of a parsed annotation."""
    single = annotation_class(node)
    if single:
        return False, single
    if isinstance(node, ast.Subscript):
        outer = last_name(node.value)
        if outer in _CONTAINERS and not isinstance(node.slice, ast.Tuple):
            inner = annotation_class(node.slice)
            if inner:
                return True, inner
    return None



@dataclass(frozen=True)
class Origin:
    """Where a function's return value may come from, on some path."""

    kind: str  # "new": built here, never added to a session; "call"/"import"/"method": what another function returns
    many: bool  # a container of them
    target: str  # "new": the class, qualified ("" for a copy); "call": "func" or "Class.method" of the
    # same module; "import": the qualified name of an imported function; "method": "qualified class|method"


@dataclass(frozen=True)
class ServiceFacts:
    # "func" or "Class.method" -> (True if a container of instances, the annotation's class qualified)
    returns: dict[str, tuple[bool, str]] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # module-level name -> its class, qualified
    # "func" or "Class.method" -> what it may return that no session holds (see ``Origin``)
    produces: dict[str, tuple[Origin, ...]] = field(default_factory=dict)
    # "Class.attr" -> the class of ``self.attr = Class(...)`` in that class's ``__init__``
    attributes: dict[str, str] = field(default_factory=dict)


EMPTY_FACTS = ServiceFacts()

# Text that shows a function may return an object no session holds: a class built from a dict
# (``Model(**cached)``), ``return Model(...)``, ``model_validate``, a copy, an unpickled object.
# Each is searched from its own literal (``re`` finds a literal quickly; a leading ``\b`` or class
# makes it try every position), and ``may_produce`` checks the word boundary before it.
_PRODUCING_WORDS = (
    re.compile(r"return[ \t]+(?:await[ \t]+)?(?:\w+\.)*[A-Z]\w*\("),
    re.compile(r"deepcopy\("),
    re.compile(r"copy\.copy\("),
    re.compile(r"pickle\.loads\("),
)
_SPREAD_CALL = re.compile(r"\(\s*\*\*")  # ``Model(**data)``: the class is the word before it


def may_produce(text: str) -> bool:
    """Whether ``text`` shows a function that may return an object no session holds."""
    if ".model_validate(" in text:
        return True
    if any(next(word_matches(pattern, text), None) is not None for pattern in _PRODUCING_WORDS):
        return True
    found = _SPREAD_CALL.search(text)
    while found is not None:
        start = end = found.start()
        while not at_word_start(text, start):
            start -= 1
        if start < end and "A" <= text[start] <= "Z":
            return True
        found = _SPREAD_CALL.search(text, end + 1)
    return False


_KEEPING = frozenset({"add", "add_all", "merge"})  # session calls after which the object is held
_COPIES = frozenset({"copy.copy", "copy.deepcopy", "pickle.loads"})


def facts_of_source(data: bytes, path: str, module: str, is_package: bool, imports: dict[str, str] | None) -> ServiceFacts:
    """The facts of another module, from its bytes (``imports`` from its model summary, if any)."""
    text = data.decode("utf-8", "replace")
    if may_produce(text):
        try:
            tree = parse_module(data, path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        if tree is not None:
            # The spans of functions are read in ``text`` only if the parser read that text.
            spans = text if _read_as_utf8(data) else ""
            return tree_facts(tree.body, module_names(tree, module, is_package), produce=True, text=spans)
    if imports is None:
        imports = imports_only(text, module, is_package).imports
    return service_facts(text, module, imports)


def _read_as_utf8(data: bytes) -> bool:
    """Whether the parser reads ``data`` as UTF-8 (a declared encoding such as UTF-7 spells the
    same code with other bytes, even other line ends)."""
    try:
        encoding, _lines = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return False
    return encoding in ("utf-8", "utf-8-sig")


def tree_facts(body: list[ast.stmt], names: Names, produce: bool, text: str = "") -> ServiceFacts:
    """A module's facts from its parsed top-level statements; ``produce``: also what its
    functions may return that no session holds (only worth it when the text shows such a return).
    ``text``: the module's text, if known (it spares reading the expressions of most functions)."""
    returns: dict[str, tuple[bool, str]] = {}
    instances: dict[str, str] = {}
    attributes: dict[str, str] = {}
    functions: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str | None]] = []

    def record(key: str, annotation: ast.expr | None) -> None:
        found = _annotated_node(annotation) if annotation is not None else None
        if found is not None and found[1].rpartition(".")[2][:1].isupper():
            head, dot, rest = found[1].partition(".")
            returns[key] = (found[0], names.qualify_name(head) + dot + rest)

    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            record(stmt.name, stmt.returns)
            functions.append((stmt.name, stmt, None))
        elif isinstance(stmt, ast.ClassDef):
            for member in stmt.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    key = f"{stmt.name}.{member.name}"
                    record(key, member.returns)
                    functions.append((key, member, stmt.name))
                    if member.name == "__init__":
                        attributes.update(_constructed_attributes(member, stmt.name, names))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value = stmt.value
            if (
                len(targets) == 1
                and isinstance(targets[0], ast.Name)
                and isinstance(value, ast.Call)
                and isinstance(value.func, (ast.Name, ast.Attribute))
            ):
                qualified = names.qualify(value.func) or ""
                if qualified.rpartition(".")[2][:1].isupper():
                    instances[targets[0].id] = qualified
    produces: dict[str, tuple[Origin, ...]] = {}
    if produce:
        module_functions = frozenset(key for key, _, owner in functions if owner is None)
        keeping = _KeepingSpans(text)
        for key, function, owner in functions:
            found = _origins(function, owner, names, module_functions, keeping.possible(function))
            if found:
                produces[key] = found
    return ServiceFacts(returns, instances, produces, attributes)


class OwnOrigins:
    """``_origins`` of the analyzed module's functions, computed only for those asked about."""

    def __init__(self, body: list[ast.stmt], names: Names, text: str = "", lines: Sequence[str] = ()) -> None:
        self.names = names
        self.keeping = _KeepingSpans(text, lines)
        self.functions: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, str | None]] = {}
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[stmt.name] = (stmt, None)
            elif isinstance(stmt, ast.ClassDef):
                for member in stmt.body:
                    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.functions[f"{stmt.name}.{member.name}"] = (member, stmt.name)
        self.module_functions = frozenset(key for key, (_, owner) in self.functions.items() if owner is None)
        self._found: dict[str, tuple[Origin, ...]] = {}

    def get(self, key: str) -> tuple[Origin, ...]:
        if key not in self._found:
            entry = self.functions.get(key)
            self._found[key] = (
                _origins(entry[0], entry[1], self.names, self.module_functions, self.keeping.possible(entry[0]))
                if entry
                else ()
            )
        return self._found[key]


def _constructed_attributes(init: ast.FunctionDef | ast.AsyncFunctionDef, owner: str, names: Names) -> dict[str, str]:
    """``self.auth_service = EmailAuthService(db)`` in ``__init__``: "Owner.auth_service" -> class."""
    found: dict[str, str] = {}
    for stmt in init.body:
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.value, ast.Call):
            continue
        target, func = stmt.targets[0], stmt.value.func
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and isinstance(func, (ast.Name, ast.Attribute))
        ):
            qualified = names.qualify(func) or ""
            if qualified.rpartition(".")[2][:1].isupper():
                found[f"{owner}.{target.attr}"] = qualified
    return found


class _KeepingSpans:
    """Whether a function of a module may call ``add``/``add_all``/``merge``: only if its lines
    spell one of them as a word (identifiers are NFKC-normalized: a line that is not ASCII may
    spell one otherwise). Without the module's text, every function may. ``lines``: the text's
    lines, numbered as the parser numbers them, when the caller has them."""

    def __init__(self, text: str, lines: Sequence[str] = ()) -> None:
        self.text = text
        self.source_lines = lines
        # The lines spelling one (ASCII text, lines ended by ``\n`` alone: one scan of the text),
        # else where each line starts (each function's span scanned).
        self.lines: list[int] | None = None
        self.line_count = 0
        self.starts: list[int] | None = None  # None: not read yet; []: no function may

    def possible(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        text = self.text
        if not text:
            return True
        end = function.end_lineno
        if self.lines is None and self.starts is None:
            anywhere = _spells_keeping(text, 0, len(text)) or not text.isascii()
            if not anywhere:
                self.starts = []
            elif text.isascii() and "\r" not in text:
                self.lines = lines_at(text, (match.start() for match in word_matches(_KEEPING_WORD, text)))
                self.line_count = text.count("\n") + 1
            elif self.source_lines:
                # each function's lines joined when asked; a final line end starts one more line
                self.line_count = len(self.source_lines) + text.endswith(("\n", "\r"))
            else:
                self.starts = _line_starts(text)
        if self.lines is not None:
            if end is None or function.lineno > self.line_count:
                return True
            at = bisect_left(self.lines, function.lineno)
            return at < len(self.lines) and self.lines[at] <= end
        if self.starts is None:
            if end is None or function.lineno > self.line_count:
                return True
            span = "".join(self.source_lines[function.lineno - 1 : end])
            return _spells_keeping(span, 0, len(span)) or not span.isascii()
        starts = self.starts
        if not starts:
            return False
        if end is None or function.lineno > len(starts):
            return True
        start, stop = starts[function.lineno - 1], starts[end] if end < len(starts) else len(self.text)
        return _spells_keeping(self.text, start, stop) or not self.text[start:stop].isascii()


def _line_starts(text: str) -> list[int]:
    """Where each line starts, as the parser counts lines (ended by \\r\\n, \\r or \\n)."""
    if "\r" in text:
        return [0, *(found.end() for found in _LINE_END.finditer(text))]
    lines = text.split("\n")
    return [0, *accumulate(map((1).__add__, map(len, lines[:-1])))]


def _spells_keeping(text: str, start: int, stop: int) -> bool:
    return next(word_matches(_KEEPING_WORD, text, start, stop), None) is not None


_LINE_END = re.compile(r"\r\n?|\n")
_KEEPING_WORD = re.compile(r"(?:add|add_all|merge)(?!\w)")  # led by a word start (``word_matches``)
_STATEMENT_PARTS = (ast.stmt, ast.excepthandler, ast.match_case)


def _own_statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The statements ``own_walk`` yields, in its order, without reading any expression (none
    holds a statement)."""
    stack: list[ast.AST] = list(body)
    pop, push = stack.pop, stack.append
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    while stack:
        node = pop()
        yield node
        for name in child_fields(node.__class__):
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _STATEMENT_PARTS) and not isinstance(item, nested):
                        push(item)


def _origins(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    owner: str | None,
    names: Names,
    module_functions: frozenset[str],
    keeping: bool = True,
) -> tuple[Origin, ...]:
    """What ``function`` may return that no session holds, on any path: an instance it builds
    and never hands to ``add``/``merge``, a copy, or what another function it calls returns.
    ``keeping``: whether it may call ``add``/``merge`` (if not, its expressions are not read)."""
    assigned: dict[str, list[ast.expr]] = {}
    kept: set[str] = set()
    returned: list[ast.expr] = []
    for node in own_walk(function.body) if keeping else _own_statements(function.body):
        if isinstance(node, ast.Return):
            if node.value is not None:
                returned.append(node.value)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and node.value is not None:
                assigned.setdefault(targets[0].id, []).append(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _KEEPING:
            for arg in node.args:
                kept.update(sub.id for sub in ast.walk(arg) if isinstance(sub, ast.Name))
    if not returned:
        return ()
    found: dict[Origin, None] = {}
    # Depth first, left to right, with a stack (a nested function calling itself would be a
    # reference cycle through its own cell).
    pending: list[tuple[ast.expr, bool, int]] = [(value, False, 0) for value in reversed(returned)]
    while pending:
        expr, many, depth = pending.pop()
        if depth > 6:
            continue
        inner: list[tuple[ast.expr, bool]] = []
        if isinstance(expr, ast.Await):
            inner.append((expr.value, many))
        elif isinstance(expr, ast.IfExp):
            inner += [(expr.body, many), (expr.orelse, many)]
        elif isinstance(expr, ast.BoolOp):
            inner += [(value, many) for value in expr.values]
        elif isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            inner.append((expr.elt, True))
        elif isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            inner += [(element, True) for element in expr.elts]
        elif isinstance(expr, ast.Name):
            if expr.id not in kept:
                inner += [(value, many) for value in assigned.get(expr.id, ())]
        elif isinstance(expr, ast.Call) and isinstance(expr.func, (ast.Name, ast.Attribute)):
            origin = _call_origin(expr, many, owner, names, module_functions)
            if origin is not None:
                found[origin] = None
        pending.extend((sub, sub_many, depth + 1) for sub, sub_many in reversed(inner))
    return tuple(found)


def _call_origin(
    call: ast.Call, many: bool, owner: str | None, names: Names, module_functions: frozenset[str]
) -> Origin | None:
    func = call.func
    last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if last == "model_validate" and isinstance(func, ast.Attribute):
        qualified = names.qualify(func.value) or ""
        return Origin("new", many, qualified) if qualified else None
    qualified = names.qualify(func) or ""
    if qualified in _COPIES:
        return Origin("new", many, "")
    if last[:1].isupper():
        # A class built with arguments (``Team(name=...)``, ``Team(**data)``); whether it is a
        # model is for the caller's resolver to say.
        return Origin("new", many, qualified) if (call.args or call.keywords) and qualified else None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        return Origin("call", many, f"{owner}.{last}") if owner else None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        # ``Catalog(db).product(id)``: that class's method.
        built = func.value.func
        cls = names.qualify(built) if isinstance(built, (ast.Name, ast.Attribute)) else None
        if cls and cls.rpartition(".")[2][:1].isupper():
            if isinstance(built, ast.Name) and built.id in names.local:
                return Origin("call", many, f"{built.id}.{last}")
            return Origin("method", many, f"{cls}|{last}")
    if isinstance(func, ast.Name):
        if func.id in module_functions:
            return Origin("call", many, func.id)
        if func.id in names.imports:
            return Origin("import", many, qualified)
    return None

_MAX_HOPS = 6  # re-exports (or calls) followed from a name to where it is defined


class ServiceResolver:
    """Answers, for one analyzed module, what a call into a service returns. The facts of other
    modules come from the project index, once per module."""

    def __init__(self, ctx: ModuleContext, models: ModelResolver) -> None:
        self.ctx = ctx
        self.models = models
        self._facts: dict[str, ServiceFacts] = {}
        self._own_origins: OwnOrigins | None = None
        self._transient: dict[tuple[str, str | None], tuple[bool, ModelInfo, str] | None] = {}
        self._located: dict[tuple[str, str | None], tuple[str, str] | None] = {}  # memo of _locate

    # facts ---------------------------------------------------------------------------------
    def facts(self, module: str) -> ServiceFacts:
        found = self._facts.get(module)
        if found is None:
            ctx = self.ctx
            if module == ctx.module or not module:
                found = tree_facts(ctx.tree.body, ctx.names, produce=False)
            else:
                found = ctx.index.service_facts(module) or EMPTY_FACTS
            self._facts[module] = found
        return found

    # questions -----------------------------------------------------------------------------
    def returned(self, owner: str, member: str | None) -> tuple[bool, str] | None:
        """(container?, model class qualified) that ``owner.member`` (a class and its method) or
        ``owner`` (a function) is annotated to return; re-exports followed."""
        located = self._locate(owner, member)
        return self.facts(located[0]).returns.get(located[1]) if located is not None else None

    def instance_class(self, qualified: str) -> str | None:
        """The class of a module-level instance (``llm_provider_service = LLMProviderService()``)."""
        located = self._locate(qualified, None)
        return self.facts(located[0]).instances.get(located[1]) if located is not None else None

    def attribute_class(self, owner: str, attribute: str) -> str | None:
        """The class of ``self.attribute``, built in the ``__init__`` of the class ``owner``."""
        located = self._locate(owner, attribute)
        return self.facts(located[0]).attributes.get(located[1]) if located is not None else None

    def transient(self, owner: str, member: str | None) -> tuple[bool, ModelInfo, str] | None:
        """(container?, model, the function that builds it) when ``owner.member`` (or the function
        ``owner``) may return a model instance that no session holds, on some path."""
        key = (owner, member)
        if key not in self._transient:
            located = self._locate(owner, member)
            self._transient[key] = self._produced(*located, set()) if located is not None else None
        return self._transient[key]

    def _produced(self, module: str, key: str, seen: set[tuple[str, str]]) -> tuple[bool, ModelInfo, str] | None:
        if (module, key) in seen or len(seen) > 4 * _MAX_HOPS:
            return None
        seen.add((module, key))
        facts = self.facts(module)
        for origin in self._origins_of(module, key, facts):
            if origin.kind == "new":
                target = origin.target or (facts.returns.get(key) or (False, ""))[1]
                model = self.models.model(target) if target else None
                if model is not None:
                    return origin.many, model, key.rpartition(".")[2]
                continue
            if origin.kind == "call":
                located: tuple[str, str] | None = (module, origin.target)
            elif origin.kind == "method":
                cls, _, member = origin.target.partition("|")
                located = self._locate(cls, member)
            else:
                located = self._locate(origin.target, None)
            found = self._produced(*located, seen) if located is not None else None
            if found is not None:
                return origin.many or found[0], found[1], found[2]
        return None

    def _origins_of(self, module: str, key: str, facts: ServiceFacts) -> tuple[Origin, ...]:
        ctx = self.ctx
        if module != ctx.module and module:
            return facts.produces.get(key, ())
        if self._own_origins is None:
            producing = not ctx.source or may_produce(ctx.source)
            lines = ctx.lines if ctx.source and ctx.lines_aligned else ()
            self._own_origins = (
                OwnOrigins(ctx.tree.body, ctx.names, ctx.source, lines) if producing else OwnOrigins([], ctx.names)
            )
        return self._own_origins.get(key)

    def _locate(self, qualified: str, member: str | None) -> tuple[str, str] | None:
        """(module, "name" or "Class.member") where a qualified name is defined, following re-exports."""
        key = (qualified, member)
        if key not in self._located:
            self._located[key] = self._follow(qualified, member)
        return self._located[key]

    def _follow(self, qualified: str, member: str | None) -> tuple[str, str] | None:
        for _ in range(_MAX_HOPS):
            module, _, name = qualified.rpartition(".")
            if not module:
                if qualified not in self.ctx.names.local:
                    return None
                module = self.ctx.module  # a module analyzed without a name: its own definitions
            key = f"{name}.{member}" if member else name
            facts = self.facts(module)
            if key in facts.produces or key in facts.returns or key in facts.instances or key in facts.attributes:
                return module, key
            if (module == self.ctx.module or not module) and name in self.ctx.names.local:
                return module, key
            summary = self.models.summary(module)
            target = summary.imports.get(name) if summary is not None else None
            if target is None:
                return module, key
            qualified = target
        return None
