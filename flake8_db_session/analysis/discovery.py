"""Discovery: which functions hand out a session (providers), which open a short-lived scope,
and which functions FastAPI resolves as dependencies -- found in the code, with no configuration.

Pure: a module's text or tree in, small frozen facts out. Facts about other modules come from
the project index (``ProjectIndex.name_facts`` / ``dependency_uses`` / ``mentions``), which
caches them by module content; nothing here reads a file or imports user code.

Kinds a qualified name can have:
- ``provider``: a function that yields or returns a session (``def get_db(): yield SessionLocal()``),
  what ``Depends(...)`` makes request-scoped;
- ``scope``: a short-lived scope: a ``@contextmanager``/``@asynccontextmanager`` function yielding
  a session, ``fresh_db_session = contextmanager(get_db)``;
- ``maker``: a ``sessionmaker(...)``/``async_sessionmaker(...)`` result (``SessionLocal``), whose call
  is a session usable as ``with SessionLocal() as db``;
- ``session``: the session classes themselves (``Session(engine)``, ``AsyncSession(engine)``).
"""

from __future__ import annotations

import ast
import re
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Optional

from ..config import Settings
from .astutil import dotted as dotted_name  # "dotted" names a local value here
from .names import ANNOTATED, Names, reexport_target

if TYPE_CHECKING:
    from .context import ProjectIndex

SESSION_TYPES = frozenset({"Session", "AsyncSession"})
_SESSION_LIBRARIES = ("sqlalchemy", "sqlmodel", "flask_sqlalchemy")
# Libraries with a class named Session that is not a database session.
_OTHER_SESSIONS = frozenset(
    {
        "requests", "httpx", "aiohttp", "niquests", "curl_cffi", "requests_cache", "cachecontrol", "boto3",
        "botocore", "aioboto3", "aiobotocore", "tensorflow", "tf", "onnxruntime", "neo4j", "cassandra",
        "pyspark", "snowflake", "keystoneauth1", "paramiko", "tls_client", "playwright", "selenium",
    }
)
MAKERS = frozenset({"sessionmaker", "async_sessionmaker", "scoped_session", "async_scoped_session"})
CONTEXT_MANAGERS = frozenset({"contextmanager", "asynccontextmanager"})
# Generic wrappers whose first argument is what a function hands out.
_WRAPPERS = frozenset(
    {
        "Generator", "AsyncGenerator", "Iterator", "AsyncIterator", "Iterable", "AsyncIterable",
        "ContextManager", "AsyncContextManager", "AbstractContextManager", "AbstractAsyncContextManager",
        "Awaitable", "Optional", "Union",
    }
)
PROVIDER, SCOPE, MAKER, SESSION = "provider", "scope", "maker", "session"
_MAX_HOPS = 6


# --- facts about one name ---------------------------------------------------------------------


@dataclass(frozen=True)
class NameFacts:
    """What a module-level name (or ``Class.method``) is, before following other modules.

    ``kind``: "function", "maker", "wrapper" (``X = contextmanager(f)``; ``sources`` holds f) or
    "reexport" (``from m import X``; ``sources`` holds the origin).
    """

    kind: str
    line: int = 0
    is_async: bool = False
    context_manager: bool = False  # decorated with @contextmanager / @asynccontextmanager
    typed: bool = False  # the return annotation says it hands out a session
    # Qualified names whose calls produce what it yields or returns (``SessionLocal``,
    # ``create_session``), or the wrapped / re-exported name.
    sources: tuple[str, ...] = ()
    # Context managers it enters around what it yields (``with create_session() as s: yield s``).
    entered: tuple[str, ...] = ()
    # Module-level names that wrap it: ``fresh_db_session = contextmanager(get_db)``.
    wrapped_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Discovered:
    """A provider or scope, as resolved."""

    qualified: str
    kind: str  # PROVIDER, SCOPE, MAKER or SESSION
    line: int = 0
    is_async: bool = False
    # For a provider: the short scope that hands out the same session (``fresh_db_session``,
    # ``create_session``, ``SessionLocal``), as a qualified name; "" when there is none.
    scope: str = ""


def _last(qualified: str) -> str:
    return qualified.rpartition(".")[2]


def is_session_class(qualified: str) -> bool:
    """``Session``/``AsyncSession`` of SQLAlchemy or SQLModel, or a project re-export of them;
    not ``requests.Session`` and the like."""
    if _last(qualified) not in SESSION_TYPES:
        return False
    top = qualified.partition(".")[0]
    return top not in _OTHER_SESSIONS


def session_annotation(node: ast.expr | None, names: Names, depth: int = 0) -> bool:
    """Whether an annotation says "a session": ``Session``, ``AsyncSession``, ``Optional[Session]``,
    ``Generator[Session, None, None]``, ``AsyncIterator[AsyncSession]``, ``"Session"``,
    ``Annotated[Session, ...]``."""
    if node is None or depth > 4:
        return False
    if isinstance(node, (ast.Name, ast.Attribute)):
        qualified = names.qualify(node)
        return qualified is not None and is_session_class(qualified)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
        try:
            inner = ast.parse(node.value, mode="eval").body
        except (SyntaxError, ValueError):
            return False
        return session_annotation(inner, names, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return session_annotation(node.left, names, depth + 1) or session_annotation(node.right, names, depth + 1)
    if isinstance(node, ast.Subscript):
        outer = names.qualify(node.value) or ""
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer in ANNOTATED or _last(outer) == "Annotated":
            return bool(elts) and session_annotation(elts[0], names, depth + 1)
        if _last(outer) in ("Optional", "Union"):
            return any(session_annotation(elt, names, depth + 1) for elt in elts)
        if _last(outer) in _WRAPPERS and elts:
            return session_annotation(elts[0], names, depth + 1)
    return False


def _call_source(node: ast.expr | None, names: Names) -> str | None:
    """The qualified factory a value comes from: ``SessionLocal()``, ``await get_session()``,
    ``next(get_db())``, ``maker.begin()``."""
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Name) and func.id == "next" and names.is_unbound("next") and node.args:
        return _call_source(node.args[0], names)
    if isinstance(func, ast.Attribute) and func.attr == "begin" and not node.args:
        func = func.value
    if not isinstance(func, (ast.Name, ast.Attribute)):
        return None
    return names.qualify(func)


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_OWN_FIELDS: dict[type, tuple[str, ...]] = {}


def _own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of a function body, not those of functions or classes nested in it (statements
    and expressions only: contexts and operators are skipped)."""
    stack: list[ast.AST] = list(body)
    fields = _OWN_FIELDS
    while stack:
        node = stack.pop()
        yield node
        cls = node.__class__
        names = fields.get(cls)
        if names is None:
            names = fields[cls] = tuple(f for f in cls._fields if f not in ("ctx", "op", "type_comment"))
        for name in names:
            value = getattr(node, name, None)
            if value.__class__ is list:
                stack.extend(item for item in value if isinstance(item, ast.AST) and not isinstance(item, _NESTED))
            elif isinstance(value, ast.AST) and not isinstance(value, _NESTED):
                stack.append(value)


def function_facts(node: ast.FunctionDef | ast.AsyncFunctionDef, names: Names) -> NameFacts | None:
    """What a function hands out, or None when it yields and returns nothing session-like."""
    context_manager = any(
        _last(names.qualify(d.func if isinstance(d, ast.Call) else d) or "") in CONTEXT_MANAGERS
        for d in node.decorator_list
    )
    typed = session_annotation(node.returns, names)
    bound: dict[str, str] = {}  # local name -> the factory it was bound from
    entered: dict[str, str] = {}  # local name -> the context manager it was entered from
    handed_out: list[ast.expr] = []
    for child in _own_nodes(node.body):
        if isinstance(child, (ast.Yield, ast.Return)) and child.value is not None:
            handed_out.append(child.value)
        elif isinstance(child, (ast.With, ast.AsyncWith)):
            for item in child.items:
                source = _call_source(item.context_expr, names)
                if source and isinstance(item.optional_vars, ast.Name):
                    entered[item.optional_vars.id] = source
        elif isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
            source = _call_source(child.value, names)
            if source:
                bound[child.targets[0].id] = source
        elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name):
            source = _call_source(child.value, names)
            if source:
                bound[child.target.id] = source
    sources: list[str] = []
    enters: list[str] = []
    for value in handed_out:
        if isinstance(value, ast.Name):
            if value.id in entered:
                sources.append(entered[value.id])
                enters.append(entered[value.id])
            elif value.id in bound:
                sources.append(bound[value.id])
            continue
        source = _call_source(value, names)
        if source:
            sources.append(source)
    if not typed and not sources:
        return None
    return NameFacts(
        "function",
        node.lineno,
        isinstance(node, ast.AsyncFunctionDef),
        context_manager,
        typed,
        tuple(dict.fromkeys(sources)),
        tuple(dict.fromkeys(enters)),
    )


def assignment_facts(value: ast.expr | None, line: int, names: Names) -> NameFacts | None:
    """``X = sessionmaker(...)`` (a maker), ``X = contextmanager(get_db)`` (a wrapper)."""
    if not isinstance(value, ast.Call) or not isinstance(value.func, (ast.Name, ast.Attribute)):
        return None
    called = names.qualify(value.func) or ""
    last = _last(called)
    if last in MAKERS:
        return NameFacts("maker", line)
    if last in CONTEXT_MANAGERS and value.args and isinstance(value.args[0], (ast.Name, ast.Attribute)):
        wrapped = names.qualify(value.args[0])
        if wrapped:
            return NameFacts("wrapper", line, last.startswith("async"), True, sources=(wrapped,))
    return None


def module_facts(
    tree: ast.Module, names: Names, functions: Iterable[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]
) -> dict[str, NameFacts]:
    """Facts of every provider-like function (by qualname) and module-level maker or wrapper."""
    facts: dict[str, NameFacts] = {}
    for stmt in tree.body:
        value, target = None, None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        if isinstance(target, ast.Name):
            found = assignment_facts(value, stmt.lineno, names)
            if found is not None:
                facts[target.id] = found
    for node, qualname in functions:
        found = function_facts(node, names)
        if found is not None:
            facts[qualname] = found
    return facts


# --- facts from a module's text, parsing only what a question needs ---------------------------

_IMPORT_STATEMENT = re.compile(
    r"^[ \t]*(?:from[ \t]+[.\w]+[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)", re.MULTILINE
)
# Patterns that start with a newline: the engine jumps from one to the next (``^`` with MULTILINE
# tries every position of a large module).
_IMPORT_AFTER_NEWLINE = re.compile(r"\n[ \t]*(?:from[ \t]+[.\w]+[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)")
_TOP_BINDING = re.compile(r"\n(?:(?:(?:async[ \t]+)?def|class)[ \t]+(\w+)|(\w+)[ \t]*(?::[^=\n]*)?=(?!=))")
_TOP_DEFINITION = re.compile(r"(?:(?:async[ \t]+)?def[ \t]+|class[ \t]+)(\w+)|(\w+)[ \t]*(?::[^=\n]*)?=(?!=)")
# A function may hand out a session only if it yields, returns something session-like, or says
# so in its return annotation.
_MAY_HAND_OUT = re.compile(r"\byield\b|\breturn\b[^\n]*(?:[Ss]ession|[Mm]aker|[Ss]cope|[Dd]b\b)|->[^:\n]*Session")


def may_hand_out_session(text: str) -> bool:
    """Cheap text gate before looking at a function's body."""
    return _MAY_HAND_OUT.search(text) is not None


def text_names(text: str, module: str, is_package: bool) -> Names:
    """The module-level bindings a module's text shows: imports (anywhere) and top-level
    definitions, without parsing the module."""
    names = Names(module, is_package)
    text = "\n" + text
    for match in _TOP_BINDING.finditer(text):
        names.local.add(match.group(1) or match.group(2))
    statements = [statement.strip() for statement in _IMPORT_AFTER_NEWLINE.findall(text)]
    try:
        parsed = [ast.parse("\n".join(statements))]  # one parse for all of them
    except (SyntaxError, ValueError):
        parsed = []
        for statement in statements:  # a backslash continuation or the like: one at a time
            try:
                parsed.append(ast.parse(statement))
            except (SyntaxError, ValueError):
                continue
    for tree in parsed:
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.add_import(node)
    for name in list(names.imports):
        if name in names.local:
            del names.imports[name]
    return names


_NEXT_TOP_LINE = re.compile(r"\n(?=[^\s#)\]}])")


def _definition_span(text: str, name: str) -> tuple[int, int, int] | None:
    """(start offset with decorators, end offset, 0-based line) of the last top-level
    ``def``/``class``/assignment of ``name``: up to the next line that starts at column 0 (a
    closing bracket or a comment does not)."""
    found = -1
    at = text.find(name)
    while at >= 0:
        line_start = text.rfind("\n", 0, at) + 1
        match = _TOP_DEFINITION.match(text, line_start)
        if match and (match.group(1) or match.group(2)) == name:
            found = line_start
        at = text.find(name, at + len(name))
    if found < 0:
        return None
    first = found
    while first > 0:
        previous = text.rfind("\n", 0, first - 1) + 1
        if not text.startswith("@", previous):
            break
        first = previous
    following = _NEXT_TOP_LINE.search(text, found)
    end = following.start() + 1 if following else len(text)
    return first, end, text.count("\n", 0, first)


def text_facts(text: str, module: str, is_package: bool, name: str, path: str = "<unknown>") -> NameFacts | None:
    """The facts of ``name`` (a module-level name) from a module's text.

    Parses only the definition's own lines (a session provider in a 6,000-line models module
    costs a few lines), the import statements, and nothing when the definition neither yields nor
    returns anything session-like. Falls back to the whole module when the lines do not parse
    alone (a docstring with lines at column 0).
    """
    span = _definition_span(text, name)
    if span is None:
        target = reexport_target(text, module, is_package, name)
        if target is not None:
            return NameFacts("reexport", sources=(target,))
        if re.search(rf"^[ \t]+(?:(?:async[ \t]+)?def[ \t]+{re.escape(name)}\b|{re.escape(name)}[ \t]*=)", text, re.MULTILINE):
            return _module_facts_of(text, module, is_package, path).get(name)  # defined under if/try
        return None
    block = text[span[0] : span[1]]
    is_assignment = not re.match(r"(?:@|(?:async[ \t]+)?def\b|class\b)", block)
    if is_assignment:
        if not re.search(r"maker\(|contextmanager\(|scoped_session\(", block):
            return None
    elif block.startswith("class") or not may_hand_out_session(block):
        return None
    names = text_names(text, module, is_package)
    try:
        tree = ast.parse(block, filename=f"{path}#{name}")
    except (SyntaxError, ValueError):
        return _module_facts_of(text, module, is_package, path).get(name)
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            found = function_facts(stmt, names)
            if found is None:
                return None
            return replace(found, line=found.line + span[2], wrapped_by=wrappers_in_text(text, name))
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            found = assignment_facts(stmt.value, stmt.lineno, names)
            return None if found is None else replace(found, line=found.line + span[2])
    return None


def _module_facts_of(text: str, module: str, is_package: bool, path: str) -> dict[str, NameFacts]:
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    from .context import function_nodes

    names = Names(module, is_package)
    names.add_module_level_bindings(tree.body)
    functions = function_nodes(tree, names)
    return module_facts(tree, names, functions)


# --- resolving across modules -----------------------------------------------------------------

FactsLookup = Callable[[str, str], Optional[NameFacts]]  # (module, name) -> facts


class Resolver:
    """Classifies qualified names, following re-exports and the factories a provider uses.

    ``lookup(module, name)`` answers for one module (the index for other modules, the module's
    own tree for itself); ``is_module(module)`` says whether a dotted prefix is a project module.
    """

    def __init__(self, lookup: FactsLookup, is_module: Callable[[str], bool]) -> None:
        self._lookup = lookup
        self._is_module = is_module
        self._memo: dict[str, Discovered | None] = {}

    def classify(self, qualified: str) -> Discovered | None:
        return self._classify(qualified, 0, set())

    def _classify(self, qualified: str, hops: int, seen: set[str]) -> Discovered | None:
        if qualified in self._memo:
            return self._memo[qualified]
        if hops > _MAX_HOPS or qualified in seen:
            return None
        seen.add(qualified)
        result = self._compute(qualified, hops, seen)
        self._memo[qualified] = result
        return result

    def _split(self, qualified: str) -> tuple[str, str] | None:
        """(module, name within it): ``pkg.mod.get_db`` or ``pkg.mod.Class.method``."""
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if self._is_module(module):
                return module, ".".join(parts[cut:])
        return None

    def _compute(self, qualified: str, hops: int, seen: set[str]) -> Discovered | None:
        if "." not in qualified or qualified.partition(".")[0] in _SESSION_LIBRARIES:
            if is_session_class(qualified):
                return Discovered(qualified, SESSION, is_async=_last(qualified).startswith("Async"))
            return None
        split = self._split(qualified)
        if split is None:
            return Discovered(qualified, SESSION) if is_session_class(qualified) and hops else None
        facts = self._lookup(*split)
        if facts is None:
            # A project name spelled like the session classes (``airflow.settings.AsyncSession``,
            # bound at run time): what calling it gives is a session.
            return Discovered(qualified, SESSION) if is_session_class(qualified) else None
        if facts.kind == "reexport":
            found = self._classify(facts.sources[0], hops + 1, seen)
            return found
        if facts.kind == "maker":
            return Discovered(qualified, MAKER, facts.line)
        if facts.kind == "wrapper":
            wrapped = self._classify(facts.sources[0], hops + 1, seen)
            if wrapped is not None and wrapped.kind == PROVIDER:
                return Discovered(qualified, SCOPE, facts.line, facts.is_async)
            return None
        kinds = [self._classify(source, hops + 1, seen) for source in facts.sources]
        if not facts.typed and not any(k is not None for k in kinds):
            return None
        if facts.context_manager:
            return Discovered(qualified, SCOPE, facts.line, facts.is_async)
        scope = self._scope_for(qualified, split[0], facts, kinds)
        return Discovered(qualified, PROVIDER, facts.line, facts.is_async, scope)

    def _scope_for(self, qualified: str, module: str, facts: NameFacts, kinds: list[Discovered | None]) -> str:
        """A short scope handing out the same session: a context manager that wraps the provider,
        else one the provider enters itself, else a maker it calls."""
        if facts.wrapped_by:
            return f"{module}.{facts.wrapped_by[0]}"
        for wanted in (SCOPE, MAKER):
            for source, kind in zip(facts.sources, kinds):
                if kind is not None and kind.kind == wanted:
                    return kind.qualified if kind.qualified != qualified else source
        for kind in kinds:
            if kind is not None and kind.kind == PROVIDER and kind.scope:
                return kind.scope
        return ""


# --- which functions FastAPI resolves ---------------------------------------------------------

# After ``Depends(``/``Security(``: ``x``, ``dependency=x``, ``x(...)`` (a factory or a class
# instance); before it, a session type (``Annotated[AsyncSession, Depends(x)]``, ``db: Session = Depends(x)``).
_DEPENDS_AFTER_CALL = re.compile(r"\s*(?:dependency\s*=\s*)?((?:\w+\.)*(\w+))[ \t]*(\()?")
_SESSION_BEFORE = re.compile(r"(?:Annotated\[\s*|:\s*)((?:\w+\.)*)(?:Async)?Session\s*[,=]\s*$")
_INSTANCE = re.compile(r"[ \t]*(\w+)[ \t]*=[ \t]*(?:\w+\.)*(\w+)\(")
_OVERRIDE = re.compile(r"dependency_overrides\[[^\]\n]*\]\s*=\s*((?:\w+\.)*(\w+))")


@dataclass(frozen=True)
class DependencyUses:
    """Names (last segments) the code hands to FastAPI's dependency injection."""

    referenced: frozenset[str] = frozenset()  # Depends(x): x is called by FastAPI
    instantiated: frozenset[str] = frozenset()  # Depends(C(...)) / Depends(c) with c = C(...): C's __call__
    session_typed: frozenset[str] = frozenset()  # Depends(x) on a parameter or alias typed as a session

    def union(self, other: DependencyUses) -> DependencyUses:
        return DependencyUses(
            self.referenced | other.referenced,
            self.instantiated | other.instantiated,
            self.session_typed | other.session_typed,
        )


def dependency_uses(text: str) -> DependencyUses:
    """What one module's text hands to dependency injection (comments included: a false
    reference costs a finding, never hides one). One ``str.find`` pass per word, a small match
    at each occurrence: a regex over the whole text costs ten times more."""
    if "Depends(" not in text and "Security(" not in text and "dependency_overrides" not in text:
        return DependencyUses()
    referenced: set[str] = set()
    called: set[str] = set()
    typed: set[str] = set()
    for word in ("Depends(", "Security("):
        at = text.find(word)
        while at >= 0:
            before = text[at - 1] if at else " "
            match = None if (before.isalnum() or before == "_") else _DEPENDS_AFTER_CALL.match(text, at + len(word))
            if match:
                last = match.group(2)
                (called if match.group(3) else referenced).add(last)
                if not match.group(3) and "Session" in text[max(0, at - 120) : at]:
                    session = _SESSION_BEFORE.search(text, max(0, at - 120), at)
                    if session and session.group(1).partition(".")[0] not in _OTHER_SESSIONS:
                        typed.add(last)  # not requests.Session and the like
            at = text.find(word, at + len(word))
    if "dependency_overrides" in text:
        referenced.update(last for _dotted_name, last in _OVERRIDE.findall(text))
    for name in list(referenced):  # ``checker = Checker(...)`` then ``Depends(checker)``
        at = text.find(f"{name} =")
        while at >= 0:
            match = _INSTANCE.match(text, text.rfind("\n", 0, at) + 1)
            if match and match.group(1) == name:
                called.add(match.group(2))
            at = text.find(f"{name} =", at + len(name))
    return DependencyUses(frozenset(referenced), frozenset(called), frozenset(typed))


def count_mentions(text: str, word: str) -> int:
    """Occurrences of ``word`` as a whole word, not counting its own ``def``/``class`` lines."""
    if word not in text:
        return 0
    # Not inside a quoted name (``__all__ = ["get_db"]``): a string is not a use.
    total = len(re.findall(rf"(?<![\w'\"]){re.escape(word)}\b(?!['\"])", text))
    definitions = len(re.findall(rf"\b(?:def|class)[ \t]+{re.escape(word)}\b", text))
    return max(0, total - definitions)


@dataclass(frozen=True)
class Resolution:
    """How FastAPI reaches a function: "dependency" (referenced as one), "direct" (used, but
    never as a dependency: not resolved by FastAPI) or "unreferenced" (nothing in the project
    mentions it: a library's public helper, usage unknown)."""

    status: str
    name: str  # the name that was looked up


def lookup_name(qualname: str, class_names: frozenset[str]) -> tuple[str, str]:
    """(name to look for, how it must be used) for a function's qualified name within its module:
    ``f`` -> (f, "reference"); ``C.__init__`` -> (C, "reference"); ``C.__call__`` -> (C, "instance");
    ``C.method`` -> (method, "reference"); ``outer.inner`` -> (outer, "instance") unless inner itself
    is referenced (checked by the caller)."""
    parts = qualname.split(".")
    if len(parts) == 1:
        return parts[0], "reference"
    owner, name = parts[-2], parts[-1]
    if owner in class_names:
        if name == "__init__":
            return owner, "reference"
        if name == "__call__":
            return owner, "instance"
        return name, "reference"
    return owner, "instance"  # a dependency factory: Depends(outer(...)) resolves what it returns


# --- one module's view ------------------------------------------------------------------------



def _position(node: ast.expr) -> int:
    """A sortable position for a node; the candidates' order only decides which scope a message
    names when the provider itself has none (deterministic, which is what matters)."""
    return node.lineno * 10_000 + node.col_offset


def _targets_after(source: str, word: str, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
    """(offset, dotted name) of ``word`` followed by what ``pattern`` matches: ``str.find`` for the
    word, the pattern only where it occurs (much faster than a regex over the whole text)."""
    found = []
    at = source.find(word)
    while at >= 0:
        before = source[at - 1] if at else " "
        if not (before.isalnum() or before == "_"):
            match = pattern.match(source, at + len(word))
            if match:
                found.append((at, match.group(1)))
        at = source.find(word, at + len(word))
    return found


def _segment(lines: Sequence[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The source lines of a function (decorators and annotations included)."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or start
    return "".join(lines[start - 1 : end])


def wrappers_in_text(text: str, name: str) -> tuple[str, ...]:
    """Module-level ``X = contextmanager(name)`` (or asynccontextmanager) in a module's text."""
    if "contextmanager(" not in text:
        return ()
    pattern = rf"^(\w+)[ \t]*(?::[^=\n]*)?=[ \t]*(?:\w+\.)*(?:async)?contextmanager\([ \t]*{re.escape(name)}[ \t]*\)"
    return tuple(re.findall(pattern, text, re.MULTILINE))


class FileDiscovery:
    """What discovery knows in one module: its own definitions (from its tree, so an unsaved
    editor buffer counts), and, through the index, the rest of the project."""

    def __init__(
        self,
        tree: ast.Module,
        source: str,
        path: str,
        module: str,
        names: Names,
        functions: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]],
        settings: Settings,
        index: ProjectIndex,
        lines: Sequence[str] = (),
        withs: Sequence[ast.With | ast.AsyncWith] = (),
    ) -> None:
        self.tree = tree
        self.source = source
        self.path = path
        self.module = module
        self.names = names
        self.settings = settings
        self.index = index
        self.enabled = settings.discover
        self._functions = {qualname: node for node, qualname in functions}
        self._classes: frozenset[str] | None = None
        self._local: dict[str, NameFacts | None] = {}
        # Through a weak reference: a resolver holding this object's bound methods would make a
        # cycle with it (and the module's tree), freed only by the cyclic collector.
        this = weakref.ref(self)
        self._resolver = Resolver(
            lambda module, name: this()._lookup(module, name),  # type: ignore[union-attr]
            lambda module: this()._is_module(module),  # type: ignore[union-attr]
        )
        self._external: dict[str, Discovered | None] = {}
        self._candidates: list[tuple[int, str, Discovered]] | None = None
        self._uses: DependencyUses | None = None
        self._resolutions: dict[str, str] = {}
        self._code: str | None = None  # the module's code without comments, docstrings, imports
        self._lines: Sequence[str] = lines
        self._withs = withs

    def lines(self) -> Sequence[str]:
        if not self._lines and self.source:
            self._lines = self.source.splitlines(keepends=True)
        return self._lines

    # -- facts --------------------------------------------------------------------------------
    def _is_module(self, module: str) -> bool:
        return module == self.module or self.index.is_project_module(module)

    def _lookup(self, module: str, name: str) -> NameFacts | None:
        if module != self.module:
            return self.index.name_facts(module, name)
        if name not in self._local:
            self._local[name] = self._local_facts(name)
        return self._local[name]

    def _local_facts(self, name: str) -> NameFacts | None:
        node = self._functions.get(name)
        if node is not None:
            if self.source and not may_hand_out_session(_segment(self.lines(), node)):
                return None
            found = function_facts(node, self.names)
            if found is not None and self.source and "." not in name:
                found = replace(found, wrapped_by=wrappers_in_text(self.source, name))
            return found
        for stmt in self.tree.body:
            target, value = None, None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign):
                target, value = stmt.target, stmt.value
            if isinstance(target, ast.Name) and target.id == name:
                return assignment_facts(value, stmt.lineno, self.names)
        if name in self.names.imports:
            return NameFacts("reexport", sources=(self.names.imports[name],))
        return None

    def classify(self, qualified: str) -> Discovered | None:
        """What a qualified name is (provider, scope, maker, session class), or None. Names of
        other project modules are answered (and remembered) by the index; this module's own
        names, from its tree."""
        if not self.enabled or not qualified:
            return None
        if (
            "." in qualified
            and not qualified.startswith(f"{self.module}.")
            and qualified.partition(".")[0] not in _SESSION_LIBRARIES
        ):
            if qualified not in self._external:
                self._external[qualified] = self.index.discovered(qualified)
            return self._external[qualified]
        return self._resolver.classify(qualified)

    def is_provider(self, qualified: str) -> bool:
        """A provider by its definition, or a name the project uses on a session-typed parameter
        or alias (``Annotated[AsyncSession, Depends(x)]``), even when x itself comes from a library."""
        found = self.classify(qualified)
        if found is not None:
            return found.kind == PROVIDER
        return self.enabled and _last(qualified) in self.uses().session_typed

    def qualify_text(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        base = self.names.qualify_name(head)
        return f"{base}.{rest}" if rest else base

    # -- the effective settings ---------------------------------------------------------------
    def candidates(self) -> list[tuple[int, str, Discovered]]:
        """(offset, qualified, what) of every discovered provider or scope this module uses: as a
        dependency or in a ``with``. (Sessionmaker results called directly are recognised by the
        scope rules themselves.)"""
        if self._candidates is None:
            found: list[tuple[int, str, Discovered]] = []
            source = self.source
            if self.enabled and source:
                written: list[tuple[int, str]] = []
                for word in ("Depends(", "Security("):
                    written.extend(_targets_after(source, word, _DEPENDS_AFTER))
                for statement in self._withs:  # with scope() as db / async with scope() as db
                    for item in statement.items:
                        call = item.context_expr
                        if isinstance(call, ast.Call):
                            dotted = dotted_name(call.func)
                            if dotted:
                                written.append((_position(call), dotted))
                seen: set[str] = set()
                for offset, dotted in sorted(written):
                    if dotted in seen:
                        continue
                    seen.add(dotted)
                    qualified = self.qualify_text(dotted)
                    what = self.classify(qualified)
                    if what is not None and what.kind != SESSION:
                        found.append((offset, qualified, what))
            self._candidates = found
        return self._candidates

    def effective_settings(self) -> Settings:
        """The settings with the providers and scopes this module uses added as qualified names."""
        settings = self.settings
        if not self.enabled:
            return settings
        providers = [q for _, q, what in self.candidates() if what.kind == PROVIDER and q not in settings.dependencies]
        scopes = [q for _, q, what in self.candidates() if what.kind in (SCOPE, MAKER) and q not in settings.scopes]
        if not providers and not scopes:
            return settings
        from dataclasses import replace

        return replace(
            settings,
            dependencies=(*settings.dependencies, *dict.fromkeys(providers)),
            scopes=(*settings.scopes, *dict.fromkeys(scopes)),
        )

    def scope_advice(self, provider: str) -> str:
        """The short scope a finding's message names: the configured scope factory, else one the
        provider's own code uses or wraps it, else one this module already uses; "" for none."""
        settings = self.settings
        if settings.scope_factory:
            return settings.scope_name
        if not self.enabled:
            return settings.scope_name
        scope = self.provider_scope(provider)
        if scope:
            return _last(scope)
        used = self.used_scopes()
        return _last(used[0].qualified) if used else ""

    def provider_scope(self, provider: str) -> str:
        """The qualified short scope that hands out the same session as ``provider`` (a context
        manager wrapping it, one it enters, a sessionmaker it calls); "" when it has none."""
        found = self.classify(provider) if provider else None
        return found.scope if found is not None else ""

    def used_scopes(self) -> list[Discovered]:
        """The discovered scopes and sessionmakers this module already opens, first use first."""
        return [what for _offset, _qualified, what in self.candidates() if what.kind in (SCOPE, MAKER)]

    def definitions(self) -> list[Discovered]:
        """Every provider, scope and sessionmaker this module defines (for ``report --discovered``)."""
        if not self.enabled:
            return []
        found = []
        for name in module_facts(self.tree, self.names, self._functions_list()):
            what = self.classify(f"{self.module}.{name}" if self.module else name)
            if what is not None and what.kind in (PROVIDER, SCOPE, MAKER):
                found.append(what)
        return sorted(found, key=lambda d: (d.line, d.qualified))

    def _functions_list(self) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
        return [(node, qualname) for qualname, node in self._functions.items()]

    # -- is a function resolved by FastAPI ----------------------------------------------------
    def _class_names(self) -> frozenset[str]:
        if self._classes is None:
            classes: set[str] = set()
            stack: list[tuple[list[ast.stmt], str]] = [(self.tree.body, "")]
            while stack:
                body, prefix = stack.pop()
                for stmt in body:
                    if isinstance(stmt, ast.ClassDef):
                        classes.add(stmt.name)
                        stack.append((stmt.body, f"{prefix}{stmt.name}."))
            self._classes = frozenset(classes)
        return self._classes

    def uses(self) -> DependencyUses:
        if self._uses is None:
            package = self.module.partition(".")[0]
            project = self.index.dependency_uses(package) if package else None
            if project is not None and self.source and self.index.package_reads(package, self.path, self.source):
                self._uses = project  # this text's own uses are among the package's
            else:
                local = dependency_uses(self.source) if self.source else DependencyUses()
                self._uses = local if project is None else local.union(project)
        return self._uses

    def resolution(self, qualname: str) -> str:
        """"dependency", "direct" or "unreferenced" for a function of this module (see ``Resolution``)."""
        if qualname not in self._resolutions:
            self._resolutions[qualname] = self._resolve(qualname)
        return self._resolutions[qualname]

    def _resolve(self, qualname: str) -> str:
        uses = self.uses()
        own = qualname.rpartition(".")[2]
        if own in uses.referenced:
            return "dependency"
        name, how = lookup_name(qualname, self._class_names())
        if name in (uses.instantiated if how == "instance" else uses.referenced):
            return "dependency"
        if self._code is None:
            self._code = code_text(self.source) if self.source else ""
        mentioned = count_mentions(self._code, name)
        if not mentioned:
            package = self.module.partition(".")[0]
            elsewhere = self.index.mentions(package, name, self.path) if package else None
            mentioned = elsewhere or 0
        if mentioned:
            return "direct"
        private = any(part.startswith("_") and not part.startswith("__") for part in qualname.split("."))
        return "direct" if private else "unreferenced"


_DEPENDS_AFTER = re.compile(r"\s*(?:dependency\s*=\s*)?((?:\w+\.)*\w+)\s*(?=[,)\n]|$)")


_NOT_CODE = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|#[^\n]*')


def code_text(text: str) -> str:
    """A module's text without what is not a use of a name: docstrings and other triple-quoted
    strings, comments (a doctest or a note is not a caller), import statements (a re-export is
    not one either). Approximate: a ``#`` inside a string ends that line early."""
    if '"""' in text or "'''" in text or "#" in text:
        text = _NOT_CODE.sub("", text)
    if "import" in text:
        text = _IMPORT_STATEMENT.sub("", text)
    return text


def typed_depends_lines(text: str) -> list[int]:
    """1-based lines holding a ``Depends(...)`` on a parameter or alias typed as a session."""
    if "Session" not in text or ("Depends(" not in text and "Security(" not in text):
        return []
    return [text.count("\n", 0, match.start()) + 1 for match in _TYPED_DEPENDS_ANY.finditer(text)]


_TYPED_DEPENDS_ANY = re.compile(r"(?:Annotated\[\s*|:\s*)(?:\w+\.)*(?:Async)?Session\s*(?:,|=)\s*(?:Depends|Security)\(")
