"""What every check gets: one parsed module, its names, the settings, and the project index."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

from ..config import Settings
from .names import Names

if TYPE_CHECKING:
    from .discovery import DependencyUses, Discovered, FileDiscovery, NameFacts
    from .findings import Finding
    from .held import HeldHelpers
    from .models import ModuleSummary
    from .orm_services import ServiceFacts

_T = TypeVar("_T")


@dataclass(frozen=True)
class SessionAlias:
    """A name that stands for a session dependency: ``DbSession = Annotated[Session, Depends(get_db)]``
    (kind "annotated") or ``DbDep = Depends(get_db)`` (kind "depends")."""

    dependency: str  # the dependency as written in the alias, e.g. "get_db"
    kind: str
    function_scope: bool = False
    # The dependency's qualified name (``app.deps.get_db``), and whether the alias already says it
    # is a session dependency (a configured name, or ``Annotated[Session, ...]``); otherwise the
    # dependency counts only when discovery finds it is a session provider.
    qualified: str = ""
    confirmed: bool = True


class ProjectIndex:
    """Every question the core may ask about other modules. The default knows nothing: pure, one
    file (eval files, the in-memory tests).

    The filesystem-backed implementation lives in ``flake8_db_session.project``, the one over a
    git commit in ``flake8_db_session.burndown.commit_index``. An index that records what each
    file's analysis depended on (the git one) records the answers of the public methods below;
    ``module_file`` and ``read_bytes`` record the files they read, and ``remember`` is recorded
    as a question whose answer is its value (as is ``used``). ``remember_own`` is not a question
    about another module: it depends on the analyzed text alone.
    """

    # The settings the project is configured with (a module's effective settings add what
    # discovery found in it); None: no project, each module's own settings.
    settings: Settings | None = None

    def __init__(self) -> None:
        # Caches of what the core derives from this index's answers, by name: they live as long
        # as the index (an attribute, not a question: a recording index leaves it alone).
        self.derived: dict[str, dict] = {}

    def session_alias(self, qualified: str) -> SessionAlias | None:
        """The alias a qualified name stands for (``DbSession = Annotated[Session, Depends(get_db)]``)."""
        return None

    def is_project_module(self, module: str) -> bool:
        """Whether a dotted module name is a module of the project."""
        return False

    def service_facts(self, module: str) -> ServiceFacts | None:
        """What the functions of another module return (annotated models, objects no session
        holds), its module-level instances; None when the module is unknown."""
        return None

    def name_facts(self, module: str, name: str) -> NameFacts | None:
        """Discovery facts of a name defined (or re-exported) in a project module: does it hand
        out a session, is it a sessionmaker or a scope."""
        return None

    def discovered(self, qualified: str) -> Discovered | None:
        """What a qualified name of another module is for discovery (provider, scope, sessionmaker,
        session class), following re-exports and what a provider calls, from ``name_facts``."""
        return None

    def dependency_uses(self, package: str) -> DependencyUses | None:
        """The names every module of a top-level package hands to ``Depends``/``Security``;
        None when the index has no view of the package (the module is checked alone)."""
        return None

    def package_reads(self, package: str, path: str, text: str) -> bool:
        """Whether ``dependency_uses(package)`` was read from ``text`` for the file at ``path``
        (the analyzed text is that file's content): what the text hands to ``Depends`` is then
        in it already. Depends on the analyzed file alone."""
        return False

    def mentions(self, package: str, word: str, exclude_path: str) -> int | None:
        """How often the modules of a package other than ``exclude_path`` use a name (not in
        imports, not its own definition); None without a view of the package."""
        return None

    def model_summary(self, module: str) -> ModuleSummary | None:
        """The ORM facts of a project module (``models.summarize_source``), or None."""
        return None

    def model_summary_at(self, path: str) -> ModuleSummary | None:
        """The ORM facts of the module file at ``path`` (a configured model module), or None."""
        return None

    def module_state(self, module: str) -> str:
        """A digest of a project module's bytes as this index sees them ("" when there is no such
        module): a value computed from a module's text holds as long as this does."""
        return ""

    def module_file(self, module: str) -> str | None:
        """The file of a project module (a path ``read_bytes`` accepts), or None."""
        return None

    def read_bytes(self, path: str) -> bytes:
        """The bytes of a file ``module_file`` named; OSError when it cannot be read."""
        raise FileNotFoundError(path)

    def used(self, key: tuple, value: object) -> None:
        """The analysis used a fact of another module's text (``key`` names it as ``remember``
        keys do: a kind, the module, what of it). An index that records what each file depended
        on records the fact with its value, to ask it again elsewhere; the default does nothing."""

    def remember(
        self,
        key: tuple,
        compute: Callable[[], tuple[_T, frozenset[tuple[str, ...]], bool]],
        fact_state: Callable[[tuple[str, ...]], str],
    ) -> tuple[_T, frozenset[tuple[str, ...]]]:
        """A value the core derives from the text of several modules (a helper's summary):
        ``compute()`` gives (value, the facts of other modules it read, whether it may be kept);
        a fact is a tuple naming its module second, and ``fact_state`` gives a digest of what
        it says here. An index may keep the value, even across processes, as long as
        ``module_state`` of those modules holds, or, for a module that changed, the states of
        the facts read of it. Returns (value, the facts it read)."""
        value, facts, _ = compute()
        return value, facts

    def text_fact(self, key: tuple, path: str, compute: Callable[[], _T]) -> _T:
        """A fact of the text of the file at ``path`` (a path ``module_file`` named), computed from
        that text alone: ``key`` names what. An index may keep it, even across processes, for
        that file's content; what reading the file is recorded as, reading the fact is too."""
        return compute()

    def remember_own(self, key: tuple, source: str, compute: Callable[[], _T], path: str = "") -> _T:
        """A value the core derives from the analyzed module's own ``source`` alone (its model
        summary): ``key`` names what (a kind, the module, whether a package). An index may keep
        it, even across processes, for that text (``path``: the file it may be the content of)."""
        return compute()


EMPTY_INDEX = ProjectIndex()


@dataclass
class ModuleContext:
    tree: ast.Module
    path: str
    source: str  # the lines joined; "" when the adapter only has the tree (checks must cope)
    lines: Sequence[str]
    module: str
    is_package: bool
    settings: Settings
    index: ProjectIndex
    names: Names
    # Every function with its qualified name (``Class.method``, ``outer.inner``).
    functions: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]
    # What discovery found for this module; ``settings`` above are already the effective ones
    # (configured names plus the providers and scopes this module uses, as qualified names).
    discovery: FileDiscovery
    # The held-across-await analysis's view of this module's calls, built on first use; it refers
    # back to this context: ``release`` breaks that cycle.
    held_helpers: HeldHelpers | None = None
    _aligned: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def lines_aligned(self) -> bool:
        """Whether line N of ``lines`` is line N as the parser numbers them (see ``lines_aligned``)."""
        if self._aligned is None:
            # ``source`` is the lines joined wherever both are given (else it is empty)
            self._aligned = lines_aligned(self.lines, self.source)
        return self._aligned

    def release(self) -> None:
        """Drop the helpers that refer back to this context, once the module is analyzed: then
        reference counting frees the context and its tree as soon as the caller lets go of them,
        instead of leaving a whole module's tree to the cyclic garbage collector."""
        self.held_helpers = None

    @classmethod
    def build(
        cls,
        tree: ast.Module,
        path: str,
        settings: Settings,
        *,
        source: str = "",
        lines: Sequence[str] = (),
        module: str = "",
        is_package: bool = False,
        index: ProjectIndex = EMPTY_INDEX,
    ) -> ModuleContext:
        from .discovery import FileDiscovery

        names = Names(module, is_package)
        names.add_module_level_bindings(tree.body)
        withs: list[ast.With | ast.AsyncWith] = []
        functions = function_nodes(tree, names, withs)
        discovery = FileDiscovery(tree, source, path, module, names, functions, settings, index, lines, withs)
        effective = discovery.effective_settings()
        return cls(tree, path, source, lines, module, is_package, effective, index, names, functions, discovery)

    def finding(
        self, node: ast.AST, code: str, message: str, function: str, *, tags: frozenset[str] = frozenset(), subject: str = ""
    ) -> Finding:
        from .findings import Finding, noqa_covers

        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Finding(
            path=self.path,
            line=line,
            col=col,
            code=code,
            message=message,
            function=function,
            noqa=noqa_covers(text, code),
            tags=tags,
            subject=subject,
        )


    def nodes_at_matches(self, pattern: re.Pattern[str] | Sequence[str]) -> Iterator[ast.AST]:
        """Every node in the statements whose lines hold a match of ``pattern`` (a regular
        expression, or words found as plain substrings: much faster) in the source.

        A cheap stand-in for walking the whole tree when only a few lines can matter: the statement
        headers (decorators, arguments, the call, the test) on those lines are walked, not the
        bodies nested in them. Without source text, the whole tree.
        """
        if not self.source:
            yield from walk(self.tree)
            return
        lines = match_lines(pattern, self.source) if isinstance(pattern, re.Pattern) else word_lines(pattern, self.source)
        if lines:
            for stmt in statements_on_lines(self.tree.body, lines):
                for part in statement_header(stmt):
                    yield from walk(part)


def lines_aligned(lines: Sequence[str], text: str = "") -> bool:
    """Whether source lines are numbered as the parser numbers them: each but the last ends with
    a newline, none breaks at a character the parser does not (``str.splitlines`` also breaks at
    a form feed, a lone carriage return, a line separator...). ``text``: the lines joined, when
    known."""
    text = text or "".join(lines)
    if not text or text.count("\n") != len(lines) - (0 if text.endswith("\n") else 1):
        return False
    return "\r" not in text or text.count("\r") == text.count("\r\n")


def function_nodes(
    tree: ast.Module, names: Names, withs: list[ast.With | ast.AsyncWith] | None = None
) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """Every function with its qualified name; adds every import (anywhere: route modules often
    import inside ``create_app()``) to ``names``, whose module-level definitions then shadow them.
    ``withs``, when given, receives every ``with``/``async with`` statement (the same walk)."""
    functions: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = []
    add_import = names.add_import
    imports = _IMPORTS
    compound = _COMPOUND
    one_body = _ONE_BODY
    # The order of ``statements_with_scope`` (a later import of a name wins), without a tuple and
    # a generator step per statement: the simple statements (most of them) cost one set lookup.
    # Set tests on the class first (the cheapest), then ``type(stmt) is C`` where a branch reads
    # the node's fields: the type checker narrows on that form.
    stack: list[tuple[Iterator[ast.stmt], str]] = [(iter(tree.body), "")]
    while stack:
        statements, scope = stack[-1]
        for stmt in statements:
            cls = stmt.__class__
            if cls not in compound:
                if cls in imports and (type(stmt) is ast.ImportFrom or type(stmt) is ast.Import):
                    add_import(stmt)
                continue
            if cls not in one_body:  # if/for/while/try/match, the most common
                stack.append((iter(_children(stmt)), scope))
            elif type(stmt) is ast.FunctionDef or type(stmt) is ast.AsyncFunctionDef:
                inner = f"{scope}.{stmt.name}" if scope else stmt.name
                functions.append((stmt, inner))
                stack.append((iter(stmt.body), inner))
            elif type(stmt) is ast.ClassDef:
                stack.append((iter(stmt.body), f"{scope}.{stmt.name}" if scope else stmt.name))
            elif type(stmt) is ast.With or type(stmt) is ast.AsyncWith:
                if withs is not None:
                    withs.append(stmt)
                stack.append((iter(stmt.body), scope))
            break
        else:
            stack.pop()
    for name in list(names.imports):
        if name in names.local:
            del names.imports[name]
    return functions


def module_names(tree: ast.Module, module: str, is_package: bool) -> Names:
    """The names of a module parsed for its facts alone: its imports (anywhere) and its own
    definitions, which shadow imports of the same name."""
    names = Names(module, is_package)
    names.add_module_level_bindings(tree.body)
    function_nodes(tree, names)
    return names


def lines_at(source: str, offsets: Iterable[int]) -> list[int]:
    """1-based line numbers (lines ended by ``\\n``) of ascending offsets into ``source``,
    without duplicates: one pass, counting the line ends between consecutive offsets."""
    lines: list[int] = []
    line, last = 1, 0
    for offset in offsets:
        line += source.count("\n", last, offset)
        last = offset
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def match_lines(pattern: re.Pattern[str], source: str) -> list[int]:
    """1-based line numbers of the matches of ``pattern``, ascending, without duplicates."""
    return lines_at(source, (match.start() for match in pattern.finditer(source)))


def word_lines(words: Sequence[str], source: str) -> list[int]:
    """1-based line numbers holding any of ``words`` (as substrings), ascending, without duplicates."""
    offsets: list[int] = []
    for word in words:
        at = source.find(word)
        while at >= 0:
            offsets.append(at)
            at = source.find(word, at + len(word))
    return lines_at(source, sorted(offsets))


def statement_span(stmt: ast.stmt) -> tuple[int, int]:
    """First and last line of a statement, decorators included."""
    start = stmt.lineno
    for decorator in getattr(stmt, "decorator_list", ()):
        start = min(start, decorator.lineno)
    return start, getattr(stmt, "end_lineno", None) or stmt.lineno


def nested_bodies(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in _BODY_FIELDS:
        body = getattr(stmt, name, None)
        if body:
            yield body
    for handler in getattr(stmt, "handlers", ()):
        yield handler.body
    for case in getattr(stmt, "cases", ()):
        yield case.body


def statements_on_lines(body: list[ast.stmt], lines: Sequence[int]) -> list[ast.stmt]:
    """Each statement (at any depth) whose span holds one of ``lines`` (ascending), outer ones
    before the statements nested in them, once. One pass over each body and the lines in it."""
    return list(iter_statements_on_lines(body, lines))


def iter_statements_on_lines(body: list[ast.stmt], lines: Sequence[int]) -> Iterator[ast.stmt]:
    """``statements_on_lines`` one at a time, for a caller that may stop at the first."""
    stack: list[tuple[list[ast.stmt], Sequence[int]]] = [(body, lines)]
    while stack:
        statements, wanted = stack.pop()
        first = 0
        count = len(wanted)
        for stmt in statements:
            start = stmt.lineno
            if stmt.__class__ in _DEFINITIONS and isinstance(stmt, _DEFINITION_CLASSES):  # its decorators come first
                for decorator in stmt.decorator_list:
                    if decorator.lineno < start:
                        start = decorator.lineno
            while first < count and wanted[first] < start:
                first += 1
            if first == count:
                break
            end = stmt.end_lineno or stmt.lineno
            if wanted[first] > end:
                continue
            last = first
            while last < count and wanted[last] <= end:
                last += 1
            yield stmt  # siblings on one line (``a; b``) keep ``first``: both are found
            inner = wanted[first:last]
            for nested in nested_bodies(stmt):
                stack.append((nested, inner))


def statement_header(stmt: ast.stmt) -> Iterator[ast.AST]:
    """The expressions (and other non-statement parts) of a statement, not its nested bodies."""
    for name in stmt._fields:
        if name in _NESTED_FIELDS:
            continue
        value = getattr(stmt, name, None)
        if isinstance(value, ast.AST):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, ast.AST))
    for handler in getattr(stmt, "handlers", ()):
        if handler.type is not None:
            yield handler.type
    for case in getattr(stmt, "cases", ()):
        yield case.pattern
        if case.guard is not None:
            yield case.guard


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(cls: type[ast.AST]) -> tuple[str, ...]:
    """The fields of a node class that may hold child nodes, in order, without ``ctx`` (the
    shared ``Load``/``Store`` objects): what ``ast.iter_child_nodes`` reads, less those."""
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = _CHILD_FIELDS[cls] = tuple(name for name in cls._fields if name != "ctx")
    return names


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """Like ``ast.walk`` (any order), about twice as fast: no generator per node, and the shared
    ``Load``/``Store`` context objects are skipped."""
    stack = [node]
    pop, push = stack.pop, stack.append
    fields = _CHILD_FIELDS
    while stack:
        node = pop()
        yield node
        cls = node.__class__
        names = fields.get(cls)
        if names is None:
            names = fields[cls] = tuple(name for name in cls._fields if name != "ctx")
        for name in names:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        push(item)
            elif isinstance(value, ast.AST):
                push(value)


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def own_walk(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Like ``walk`` over a function body, without entering nested functions, classes and lambdas."""
    stack: list[ast.AST] = list(body)
    pop, push = stack.pop, stack.append
    fields = _CHILD_FIELDS
    nested = _NESTED_SCOPES
    while stack:
        node = pop()
        yield node
        cls = node.__class__
        names = fields.get(cls)
        if names is None:
            names = fields[cls] = tuple(name for name in cls._fields if name != "ctx")
        for name in names:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, ast.AST) and not isinstance(item, nested):
                        push(item)
            elif isinstance(value, ast.AST) and not isinstance(value, nested):
                push(value)


_BODY_FIELDS = ("body", "orelse", "finalbody")
_BODY_AND_ELSE = (ast.If, ast.For, ast.AsyncFor, ast.While)  # ``body`` and ``orelse`` only
_NESTED_FIELDS = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


def statements_with_scope(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, str | None]]:
    """Every statement (not expression), with the qualified name for functions, else None.

    Functions and imports only sit in statement bodies, so this visits a fraction of the nodes
    a full ``ast.walk`` would; simple statements (most of them) cost one set lookup.
    """
    stack: list[tuple[Iterator[ast.stmt], str]] = [(iter(body), "")]
    compound = _COMPOUND
    one_body = _ONE_BODY
    while stack:
        statements, scope = stack[-1]
        for stmt in statements:
            cls = stmt.__class__
            if cls not in compound:
                yield stmt, None
                continue
            # a set test first (one lookup for most statements), then ``type(stmt) is C`` where a
            # branch reads the node's fields: the type checker narrows on that form
            if cls not in one_body:  # if/for/while/try/match, the most common
                yield stmt, None
                stack.append((iter(_children(stmt)), scope))
            elif type(stmt) is ast.FunctionDef or type(stmt) is ast.AsyncFunctionDef:
                inner = f"{scope}.{stmt.name}" if scope else stmt.name
                yield stmt, inner
                stack.append((iter(stmt.body), inner))
            elif type(stmt) is ast.ClassDef:
                yield stmt, None
                stack.append((iter(stmt.body), f"{scope}.{stmt.name}" if scope else stmt.name))
            elif type(stmt) is ast.With or type(stmt) is ast.AsyncWith:
                yield stmt, None
                stack.append((iter(stmt.body), scope))
            break  # its statements first, then the rest of this body
        else:
            stack.pop()


def _children(stmt: ast.stmt) -> list[ast.stmt]:
    """The statements directly inside a compound statement: its bodies, then the handlers' and
    the cases' (the order ``function_nodes`` and ``statements_with_scope`` keep; the callers
    take ``body`` alone from the ``_ONE_BODY`` statements). It may be the tree's own list:
    to be read, never changed."""
    if isinstance(stmt, _BODY_AND_ELSE):  # most of them: no list is built when there is no ``else``
        return stmt.body + stmt.orelse if stmt.orelse else stmt.body
    children: list[ast.stmt] = []
    for name in _BODY_FIELDS:
        children.extend(getattr(stmt, name, ()))
    for handler in getattr(stmt, "handlers", ()):
        children.extend(handler.body)
    for case in getattr(stmt, "cases", ()):
        children.extend(case.body)
    return children


_DEFINITION_CLASSES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFINITIONS = frozenset(_DEFINITION_CLASSES)
# Statements that hold other statements (the names that exist in this Python version).
_COMPOUND = frozenset(
    getattr(ast, name)
    for name in (
        "FunctionDef", "AsyncFunctionDef", "ClassDef", "If", "For", "AsyncFor", "While", "With", "AsyncWith",
        "Try", "TryStar", "Match",
    )
    if hasattr(ast, name)
)
# Compound statements whose only statement list is ``body``.
_ONE_BODY = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.AsyncWith})
_IMPORTS = frozenset({ast.Import, ast.ImportFrom})
