"""ORM model discovery, statically: which classes are mapped, their relationships, and sessionmakers.

A module is boiled down to a ``ModuleSummary`` (plain strings and tuples, no AST), so the project
index can keep one per module for the whole process at little memory and GC cost. ``ModelResolver``
answers "is this qualified name a model, and what are its relationships" for one analyzed module,
following base classes and re-exports across modules through the project index.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .astutil import parse_module
from .names import Names, resolve_relative
from .syntax import IMPORTED_NAME, from_imports, module_level_statements

if TYPE_CHECKING:
    from .context import ModuleContext, ProjectIndex

# Bases that make their direct subclass a declarative base (not a mapped class itself).
DECLARATIVE_ROOTS = frozenset(
    {
        "sqlalchemy.orm.DeclarativeBase",
        "sqlalchemy.orm.DeclarativeBaseNoMeta",
        "sqlalchemy.orm.decl_api.DeclarativeBase",
        "sqlalchemy.orm.decl_api.DeclarativeBaseNoMeta",
    }
)
_BASE_FACTORIES = ("declarative_base", "generate_base")
_MAPPED_DECORATORS = ("mapped", "mapped_as_dataclass")
_ROOT_DECORATORS = ("as_declarative", "as_declarative_base")
_SQLMODEL = frozenset({"sqlmodel.SQLModel", "sqlmodel.main.SQLModel"})
_COLUMN_CALLS = frozenset(
    {"Column", "mapped_column", "column_property", "deferred", "synonym", "composite", "query_expression"}
)
_SESSIONMAKERS = ("sessionmaker", "async_sessionmaker")
_RELATIONSHIP_CALLS = frozenset({"relationship", "relation", "Relationship"})
# Loader strategies (``lazy=``), as SQLAlchemy documents them:
# - loaded with the parent object: safe to read after the session closed;
EAGER_LAZY = frozenset({"selectin", "joined", "subquery", "immediate"})
# - loaded on first access through the object's session: DetachedInstanceError after close,
#   MissingGreenlet inside an async scope;
LOAD_ON_ACCESS = frozenset({"select", "raise_on_sql"})
# - never loaded on access: reading it raises InvalidRequestError, inside the scope as well;
RAISE_LAZY = frozenset({"raise"})
# - a query run on each use (``dynamic``): without a session SQLAlchemy warns and returns an
#   empty, wrong result (a DetachedInstanceError in a future release); in an async scope the
#   query is implicit IO (MissingGreenlet); never "loaded" for later;
DYNAMIC_LAZY = frozenset({"dynamic"})
# - never loaded: ``noload`` reads empty, ``write_only`` is a collection to query explicitly
#   (``session.scalars(team.log.select())``); reading the attribute never fails.
_MAX_DEPTH = 10


@dataclass(frozen=True)
class ClassSummary:
    name: str
    bases: tuple[str, ...]  # qualified as seen from the defining module
    mapped_decorator: bool = False
    table: bool = False  # SQLModel ``table=True``
    abstract: bool = False
    relationships: tuple[tuple[str, str, str], ...] = ()  # (attribute, target qualified or "", lazy)
    columns: frozenset[str] = frozenset()
    # every annotated attribute (pydantic/SQLModel fields): columns of a SQLModel table that
    # inherits them from a non-table base (``class Flow(FlowBase, table=True)``)
    fields: frozenset[str] = frozenset()
    # method/property name -> self attributes it reads (and "<object_session>" if it calls it)
    member_reads: tuple[tuple[str, frozenset[str]], ...] = ()
    # method -> the class its return annotation names (``find_by_id(...) -> "Team"``), qualified
    returns: tuple[tuple[str, str], ...] = ()

    @property
    def looks_mapped(self) -> bool:
        """Whether the class may be mapped: only such a class needs to know which members touch a
        relationship (``member_reads``)."""
        return bool(self.relationships or self.columns or self.fields or self.mapped_decorator or self.table)


@dataclass(frozen=True)
class ModuleSummary:
    module: str
    classes: dict[str, ClassSummary] = field(default_factory=dict)
    roots: frozenset[str] = frozenset()  # names bound to declarative_base()/generate_base()
    registries: frozenset[str] = frozenset()  # names bound to registry()
    sessionmakers: dict[str, bool] = field(default_factory=dict)  # name -> expire_on_commit
    committing_scopes: frozenset[str] = frozenset()  # context managers that commit on success
    # functions and scopes that open a session from one of this module's sessionmakers
    # (``get_db``, ``fresh_db_session = contextmanager(get_db)``) -> its expire_on_commit
    factory_expire: dict[str, bool] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    backrefs: tuple[tuple[str, str, str, str], ...] = ()  # (target class, attribute, source, lazy)

    @property
    def default_expire_on_commit(self) -> bool:
        """What a scope defined here (e.g. ``contextmanager(get_db)``) most likely uses. A
        module with no sessionmaker says nothing (a scope delegating to another library's):
        assume objects are not expired, rather than report reads that may work."""
        values = set(self.sessionmakers.values())
        return bool(values) and values != {False}


@dataclass(frozen=True)
class ModelInfo:
    qualified: str
    relationships: dict[str, tuple[str, str]]  # attribute -> (target qualified or "", lazy)
    columns: frozenset[str]
    # properties/methods -> the load-on-access relationships they read (also through other
    # members), "<object_session>" if they call it; only members that read at least one
    touching: dict = field(default_factory=dict)
    returns: dict = field(default_factory=dict)  # method -> qualified class it returns
    # properties/methods -> the lazy="raise" relationships they read
    raising: dict = field(default_factory=dict)

    @property
    def touching_members(self) -> frozenset[str]:
        return frozenset(self.touching)

    def lazy_relationships(self) -> frozenset[str]:
        """Relationships loaded on first access: they need the object's session then."""
        return frozenset(name for name, (_, lazy) in self.relationships.items() if lazy in LOAD_ON_ACCESS)

    def dynamic_relationships(self) -> frozenset[str]:
        return frozenset(name for name, (_, lazy) in self.relationships.items() if lazy in DYNAMIC_LAZY)

    def raising_relationships(self) -> frozenset[str]:
        return frozenset(name for name, (_, lazy) in self.relationships.items() if lazy in RAISE_LAZY)

    def mapped(self, attribute: str) -> bool:
        return attribute in self.columns or attribute in self.relationships


# --- summarizing one module --------------------------------------------------------------------


def _last(name: str | None) -> str:
    return (name or "").rpartition(".")[2]


def _const_kw(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def _call_name(names: Names, node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):  # ``registry().generate_base``: the method's name
        return _last(names.qualify(node)) or node.attr
    return _last(names.qualify(node)) if isinstance(node, ast.Name) else ""


def _commits(function: ast.AST) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
            return True
    return False


def summarize(
    tree: ast.Module, module: str, is_package: bool, names: Names | None = None, *, member_reads: bool = True
) -> ModuleSummary:
    """The ORM-relevant facts of one module, from its top-level statements only. Without
    ``member_reads`` the classes leave out what their members read (``class_member_reads``
    finds it for the classes that turn out to be models)."""
    if names is None:
        names = Names(module, is_package)
        names.add_module_level_bindings(tree.body)
        for node in _all_statements(tree.body):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.add_import(node)
        for name in list(names.imports):
            if name in names.local:
                del names.imports[name]
    classes: dict[str, ClassSummary] = {}
    roots: set[str] = set()
    registries: set[str] = set()
    sessionmakers: dict[str, bool] = {}
    committing: set[str] = set()
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    backrefs: list[tuple[str, str, str, str]] = []
    wrappers: dict[str, str] = {}
    for stmt in module_level_statements(tree.body):
        if isinstance(stmt, ast.ClassDef):
            for method in stmt.body:  # context-manager methods: scopes named ``Class.method``
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_context_manager(method, names):
                    functions[f"{stmt.name}.{method.name}"] = method
                    if _commits(method):
                        committing.add(f"{stmt.name}.{method.name}")
            summary, refs = _summarize_class(stmt, names, member_reads=member_reads)
            classes[stmt.name] = summary
            backrefs.extend(refs)
            if any(_call_name(names, _decorator_target(d)) in _ROOT_DECORATORS for d in stmt.decorator_list):
                roots.add(stmt.name)  # @as_declarative() class Base: its subclasses are models
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[stmt.name] = stmt
            if _is_context_manager(stmt, names) and _commits(stmt):
                committing.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            target_names = [t.id for t in targets if isinstance(t, ast.Name)]
            call = stmt.value
            callee = _call_name(names, call.func)
            if callee == "scoped_session" and call.args and isinstance(call.args[0], ast.Call):
                call = call.args[0]
                callee = _call_name(names, call.func)
            for target in target_names:
                if callee in _BASE_FACTORIES:
                    roots.add(target)
                elif callee == "registry":
                    registries.add(target)
                elif callee in _SESSIONMAKERS:
                    sessionmakers[target] = _const_kw(call, "expire_on_commit") is not False
                elif callee in ("contextmanager", "asynccontextmanager") and call.args:
                    wrapped = call.args[0]
                    if isinstance(wrapped, ast.Name):
                        wrappers[target] = wrapped.id
                    if isinstance(wrapped, ast.Name) and wrapped.id in functions and _commits(functions[wrapped.id]):
                        committing.add(target)
    factory_expire: dict[str, bool] = {}
    # Without a sessionmaker here, only a context manager can open a session worth knowing
    # (``Session(engine, expire_on_commit=False)`` in a project scope): the others are skipped.
    managers = set(wrappers.values()) | {name for name, f in functions.items() if _is_context_manager(f, names)}
    for name, function in functions.items():
        if not sessionmakers and name not in managers:
            continue
        expire = _opened_sessionmaker(function, sessionmakers, names)
        if expire is not None:
            factory_expire[name] = expire
    for name, wrapped_name in wrappers.items():
        if wrapped_name in factory_expire:
            factory_expire[name] = factory_expire[wrapped_name]
    return ModuleSummary(
        module=module,
        factory_expire=factory_expire,
        classes=classes,
        roots=frozenset(roots),
        registries=frozenset(registries),
        sessionmakers=sessionmakers,
        committing_scopes=frozenset(committing),
        imports=dict(names.imports),
        backrefs=tuple(backrefs),
    )


def _all_statements(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Every statement, nested ones included (imports inside functions count), no expressions."""
    stack = list(body)
    while stack:
        stmt = stack.pop()
        yield stmt
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list):
                stack.extend(inner)
        for handler in getattr(stmt, "handlers", ()):
            stack.extend(handler.body)
        for case in getattr(stmt, "cases", ()):
            stack.extend(case.body)


def _opened_sessionmaker(function: ast.AST, sessionmakers: dict[str, bool], names: Names) -> bool | None:
    """expire_on_commit of the session a function opens: from one of the module's
    sessionmakers, or ``Session(engine, expire_on_commit=False)``/``AsyncSession(...)``."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in sessionmakers:
            return sessionmakers[node.func.id]
        called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if called in ("Session", "AsyncSession") or (called in names.imports and _call_name(names, node.func) in ("Session", "AsyncSession")):
            qualified = names.qualify(node.func) or ""
            if qualified.startswith(("sqlalchemy", "sqlmodel")):
                return _const_kw(node, "expire_on_commit") is not False
    return None


def _is_context_manager(function: ast.FunctionDef | ast.AsyncFunctionDef, names: Names) -> bool:
    decorators = {_call_name(names, _decorator_target(d)) for d in function.decorator_list}
    return bool(decorators & {"contextmanager", "asynccontextmanager"})


def _decorator_target(node: ast.expr) -> ast.expr:
    return node.func if isinstance(node, ast.Call) else node


def _relationship_call(value: ast.expr | None, names: Names) -> ast.Call | None:
    """``relationship(...)``, or SQLModel's ``Relationship(...)``."""
    if isinstance(value, ast.Call) and _call_name(names, value.func) in _RELATIONSHIP_CALLS:
        return value
    return None


def _lazy_strategy(call: ast.Call, annotation: ast.expr | None, names: Names) -> str:
    """The loader strategy a relationship declares, normalized to SQLAlchemy's names.

    ``lazy=`` on ``relationship()``; on SQLModel's ``Relationship()``, the ``lazy`` of
    ``sa_relationship_kwargs={...}`` or of ``sa_relationship=relationship(...)``. Without one,
    ``WriteOnlyMapped``/``DynamicMapped`` say write_only/dynamic, anything else is "select".
    """
    for keyword in call.keywords:
        if keyword.arg == "lazy":
            return _strategy_name(keyword.value)
        if keyword.arg == "sa_relationship_kwargs" and isinstance(keyword.value, ast.Dict):
            for key, value in zip(keyword.value.keys, keyword.value.values):
                if isinstance(key, ast.Constant) and key.value == "lazy":
                    return _strategy_name(value)
        if keyword.arg == "sa_relationship_kwargs" and isinstance(keyword.value, ast.Call):
            for inner in keyword.value.keywords:  # dict(lazy="selectin")
                if inner.arg == "lazy":
                    return _strategy_name(inner.value)
        if keyword.arg == "sa_relationship":
            inner_call = _relationship_call(keyword.value, names)
            if inner_call is not None:
                return _lazy_strategy(inner_call, annotation, names)
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    wrapper = _last(getattr(node, "id", None) or getattr(node, "attr", None))
    return {"WriteOnlyMapped": "write_only", "DynamicMapped": "dynamic"}.get(wrapper, "select")


def _strategy_name(node: ast.expr) -> str:
    """``lazy=True`` is select, ``False`` joined, ``None`` noload; a name we cannot read is
    treated as eager (no finding rather than a guess)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str):
            return {"True": "select", "False": "joined"}.get(value, value)
        if value is None:
            return "noload"
        return "select" if value == 1 else "joined"  # True (or 1, equal to it)
    return "joined"


def _annotation_target(annotation: ast.expr | None) -> str:
    """``Mapped[List["Team"]]`` -> "Team"; also ``Optional["Team"]``, ``Team | None``,
    ``"Team | None"`` (SQLModel relationships are annotated without ``Mapped``)."""
    node = annotation
    while isinstance(node, (ast.Subscript, ast.BinOp)):
        if isinstance(node, ast.BinOp):
            sides = [side for side in (node.left, node.right) if not (isinstance(side, ast.Constant) and side.value is None)]
            if len(sides) != 1:
                return ""
            node = sides[0]
            continue
        node = node.slice
        if isinstance(node, ast.Tuple) and node.elts:
            node = node.elts[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value.strip()
        for wrapper in ("Optional[", "List[", "list[", "Set[", "set["):
            if text.startswith(wrapper):
                text = text[len(wrapper) : -1].strip().strip("'\"")
        if "|" in text:
            parts = [part.strip().strip("'\"") for part in text.split("|") if part.strip() != "None"]
            text = parts[0] if len(parts) == 1 else ""
        return text
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _qualify_target(raw: str, names: Names) -> str:
    if not raw or " " in raw or "[" in raw:
        return ""
    if "." in raw:
        return raw
    return names.qualify_name(raw) if not names.is_unbound(raw) else f"{names.module}.{raw}" if names.module else raw


def _summarize_class(
    node: ast.ClassDef, names: Names, *, member_reads: bool = True
) -> tuple[ClassSummary, list[tuple[str, str, str, str]]]:
    bases = tuple(q for q in (names.qualify(b) for b in node.bases) if q)
    table = any(k.arg == "table" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords)
    mapped_decorator = any(_call_name(names, _decorator_target(d)) in _MAPPED_DECORATORS for d in node.decorator_list)
    relationships: list[tuple[str, str, str]] = []
    columns: set[str] = set()
    fields: set[str] = set()
    abstract = False
    backrefs: list[tuple[str, str, str, str]] = []
    methods: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for stmt in node.body:
        target: str | None = None
        value: ast.expr | None = None
        annotation: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            target, value, annotation = stmt.target.id, stmt.value, stmt.annotation
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods.append(stmt)
            continue
        if target is None:
            continue
        if target == "__abstract__" and isinstance(value, ast.Constant) and value.value is True:
            abstract = True
            continue
        call = _relationship_call(value, names)
        if call is not None:
            raw = ""
            if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                raw = call.args[0].value
            elif call.args and isinstance(call.args[0], (ast.Name, ast.Attribute)):
                raw = ast.unparse(call.args[0]) if hasattr(ast, "unparse") else ""
            if not raw:
                raw = _annotation_target(annotation)
            relationships.append((target, _qualify_target(raw, names), _lazy_strategy(call, annotation, names)))
            backref = _backref(call)
            if backref is not None and raw:
                backrefs.append((raw.rpartition(".")[2], backref[0], node.name, backref[1]))
            continue
        if (annotation is not None and _is_mapped_annotation(annotation)) or (isinstance(value, ast.Call) and _call_name(names, value.func).lstrip("_") in _COLUMN_CALLS):
            columns.add(target)
        elif annotation is not None and not target.startswith("__") and not _is_classvar(annotation):
            fields.add(target)
            if value is None or table:
                columns.add(target)  # dataclass-style fields; every field of a SQLModel table
    summary = ClassSummary(
        name=node.name,
        bases=bases,
        mapped_decorator=mapped_decorator,
        table=table,
        abstract=abstract,
        relationships=tuple(relationships),
        columns=frozenset(columns),
        fields=frozenset(fields),
    )
    if summary.looks_mapped:
        returns = tuple(
            (method.name, target)
            for method in methods
            if (target := _qualify_target(annotation_class(method.returns), names))
        )
        members = tuple(class_member_reads(methods)) if member_reads else ()
        summary = replace(summary, member_reads=members, returns=returns)
    return summary, backrefs


def annotation_class(node: ast.expr | None) -> str:
    """The one class an annotation names: ``Team``, ``"Team"``, ``Optional[Team]``,
    ``Team | None``, ``"Team | None"``; "" for anything else (lists, unions of classes)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [side for side in (node.left, node.right) if not (isinstance(side, ast.Constant) and side.value is None)]
        return annotation_class(sides[0]) if len(sides) == 1 else ""
    if isinstance(node, ast.Subscript) and _last(getattr(node.value, "id", None) or getattr(node.value, "attr", None)) == "Optional":
        return annotation_class(node.slice)
    if isinstance(node, (ast.Name, ast.Attribute)):
        text = ast.unparse(node)
        return "" if text == "None" else text
    return ""


def _backref(call: ast.Call) -> tuple[str, str] | None:
    for keyword in call.keywords:
        if keyword.arg != "backref":
            continue
        value = keyword.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value, "select"
        if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant):
            lazy = _const_kw(value, "lazy")
            return str(value.args[0].value), lazy if isinstance(lazy, str) else "select"
    return None


def _is_classvar(annotation: ast.expr) -> bool:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(("ClassVar", "typing.ClassVar"))
    return _last(getattr(node, "id", None) or getattr(node, "attr", None)) == "ClassVar"


def _is_mapped_annotation(annotation: ast.expr) -> bool:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return _last(getattr(node, "id", None) or getattr(node, "attr", None)) in ("Mapped", "WriteOnlyMapped", "DynamicMapped")


def class_member_reads(methods: list[ast.FunctionDef | ast.AsyncFunctionDef]) -> list[tuple[str, frozenset[str]]]:
    """Method/property name -> the ``self`` attributes it reads. A hybrid's
    ``@x.expression``/``@x.setter`` share its name: their reads add up."""
    merged: dict[str, frozenset[str]] = {}
    for method in methods:
        merged[method.name] = merged.get(method.name, frozenset()) | _self_reads(method)
    return list(merged.items())


def _self_reads(function: ast.AST) -> frozenset[str]:
    reads: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            reads.add(node.attr)
        elif isinstance(node, ast.Call) and _last(getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == "object_session":
            reads.add("<object_session>")
    return frozenset(reads)


# --- resolving across modules ------------------------------------------------------------------


class ModelResolver:
    """Model questions for one analyzed module; summaries of other modules come from the index."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.index: ProjectIndex = ctx.index
        self.names = ctx.names
        self._ctx = ctx
        self._own: ModuleSummary | None = None
        self._own_member_reads: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}
        self._own_classes: dict[str, ast.ClassDef] | None = None
        self._models: dict[str, ModelInfo | None] = {}
        self._kinds: dict[str, str] = {}
        self.settings = ctx.settings
        self._extra: list[ModuleSummary] | None = None

    @property
    def own(self) -> ModuleSummary:
        """The analyzed module's own summary, built on first need."""
        if self._own is None:
            ctx = self._ctx

            def compute() -> ModuleSummary:
                # What members read is only needed for the classes that are models: found then.
                return summarize(ctx.tree, ctx.module, ctx.is_package, ctx.names, member_reads=False)

            # The summary depends on the text and its names; those come from the text too, but a
            # context cut out of a module (a helper parsed alone) is given the module's imports.
            imports = "\0".join(f"{local}={target}" for local, target in sorted(ctx.names.imports.items()))
            key = ("model-summary", ctx.module, ctx.is_package, imports)
            self._own = ctx.index.remember_own(key, ctx.source, compute, ctx.path) if ctx.source else compute()
        return self._own

    def _member_reads_of(self, summary: ModuleSummary, cls: ClassSummary) -> tuple[tuple[str, frozenset[str]], ...]:
        """``cls.member_reads``; for a class of the analyzed module (summarized without them),
        found from its definition the first time a model needs them."""
        if summary is not self._own or not cls.looks_mapped:
            return cls.member_reads
        found = self._own_member_reads.get(cls.name)
        if found is None:
            if self._own_classes is None:  # by name, the last definition wins (as in ``summarize``)
                statements = module_level_statements(self._ctx.tree.body)
                self._own_classes = {node.name: node for node in statements if isinstance(node, ast.ClassDef)}
            methods = [m for m in self._own_classes[cls.name].body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
            found = self._own_member_reads[cls.name] = tuple(class_member_reads(methods))
        return found

    # summaries -----------------------------------------------------------------------------
    def summary(self, module: str) -> ModuleSummary | None:
        if module == self._ctx.module:
            return self.own
        if not module:
            return None
        return self.index.model_summary(module)

    def configured(self) -> list[ModuleSummary]:
        """Summaries of ``db-session-model-modules`` (dotted modules or paths), loaded lazily;
        the project index reads the files."""
        if self._extra is None:
            self._extra = []
            for entry in self.settings.model_modules:
                if entry.endswith(".py") or "/" in entry or os.sep in entry:
                    found = self.index.model_summary_at(self.settings.resolve_path(entry))
                else:
                    found = self.summary(entry)
                if found is not None:
                    self._extra.append(found)
        return self._extra

    def locate(self, qualified: str) -> tuple[ModuleSummary, str] | None:
        """The summary defining ``qualified`` (following re-exports) and the name there.

        A name the imports cannot resolve is looked up by its last part in the configured
        model modules (their classes, sessionmakers and scopes).
        """
        found = self._follow(qualified)
        if found is not None and _defines(*found):
            return found
        name = qualified.rpartition(".")[2]
        for summary in self.configured():
            if _defines(summary, name):
                return summary, name
        return found

    def _follow(self, qualified: str) -> tuple[ModuleSummary, str] | None:
        if "." not in qualified:
            return (self.own, qualified) if _defines(self.own, qualified) else None
        for _ in range(_MAX_DEPTH):
            module, _, name = qualified.rpartition(".")
            summary = self.summary(module)
            if summary is None and "." in module:  # ``pkg.mod.Class.method``: a method scope
                owner_module, _, owner = module.rpartition(".")
                summary = self.summary(owner_module)
                if summary is not None and _defines(summary, f"{owner}.{name}"):
                    return summary, f"{owner}.{name}"
                return None
            if summary is None:
                return None
            if _defines(summary, name):
                return summary, name
            target = summary.imports.get(name)
            if target is None:
                return summary, name
            qualified = target
        return None

    # classes ---------------------------------------------------------------------------------
    def kind(self, qualified: str, depth: int = 0) -> str:
        """ "root" (a declarative base), "model", or "" for anything else."""
        if qualified in DECLARATIVE_ROOTS:
            return "root"
        if qualified in self._kinds:
            return self._kinds[qualified]
        self._kinds[qualified] = ""  # cycle guard
        result = ""
        located = self.locate(qualified) if depth < _MAX_DEPTH else None
        if located is not None:
            summary, name = located
            if name in summary.roots:
                result = "root"
            else:
                cls = summary.classes.get(name)
                if cls is not None:
                    result = self._class_kind(cls, summary, depth)
        self._kinds[qualified] = result
        return result

    def _class_kind(self, cls: ClassSummary, summary: ModuleSummary, depth: int) -> str:
        if cls.mapped_decorator or cls.table:
            return "model"
        kinds = [self.kind(base, depth + 1) for base in cls.bases]
        if any(base in _SQLMODEL for base in cls.bases):
            return "model" if cls.table else ""
        if "model" in kinds:
            return "model"
        if "root" in kinds:
            # ``class Base(DeclarativeBase)`` is a base; a class deriving from such a base is a model.
            direct_root = any(base in DECLARATIVE_ROOTS for base in cls.bases)
            return "root" if direct_root or cls.abstract else "model"
        return ""

    def model(self, qualified: str | None) -> ModelInfo | None:
        if not qualified:
            return None
        if qualified in self._models:
            return self._models[qualified]
        self._models[qualified] = None
        info = None
        if self.kind(qualified) == "model":
            info = self._build(qualified)
        self._models[qualified] = info
        return info

    def _build(self, qualified: str) -> ModelInfo | None:
        relationships: dict[str, tuple[str, str]] = {}
        columns: set[str] = set()
        reads: dict[str, frozenset[str]] = {}
        returns: dict[str, str] = {}
        fields: set[str] = set()
        chain = self._mro(qualified)
        for summary, cls in reversed(chain):  # bases first, subclasses override
            for name, target, lazy in cls.relationships:
                relationships[name] = (target, lazy)
            for target_class, name, source, lazy in summary.backrefs:
                if target_class == cls.name:
                    relationships[name] = (f"{summary.module}.{source}" if summary.module else source, lazy)
            columns.update(cls.columns)
            reads.update(self._member_reads_of(summary, cls))
            fields.update(cls.fields)
            returns.update(cls.returns)
        if chain and chain[0][1].table:
            columns.update(fields)  # a SQLModel table maps every field it inherits
        load_on_access = {name for name, (_, lazy) in relationships.items() if lazy in LOAD_ON_ACCESS | DYNAMIC_LAZY}
        raise_lazy = {name for name, (_, lazy) in relationships.items() if lazy in RAISE_LAZY}
        touching = _member_reads(reads, load_on_access | {"<object_session>"})
        raising = _member_reads(reads, raise_lazy)
        return ModelInfo(
            qualified, relationships, frozenset(columns - set(relationships)), touching, returns, raising
        )

    def _mro(self, qualified: str) -> list[tuple[ModuleSummary, ClassSummary]]:
        out: list[tuple[ModuleSummary, ClassSummary]] = []
        stack = [qualified]
        seen: set[str] = set()
        while stack and len(seen) < 64:
            current = stack.pop(0)
            if current in seen:
                continue
            seen.add(current)
            located = self.locate(current)
            if located is None:
                continue
            summary, name = located
            cls = summary.classes.get(name)
            if cls is None:
                continue
            out.append((summary, cls))
            stack.extend(cls.bases)
        return out

    # sessions ----------------------------------------------------------------------------------
    def sessionmaker_expire(self, qualified: str) -> bool | None:
        """expire_on_commit of a sessionmaker bound to ``qualified``; None if it is not one."""
        located = self.locate(qualified)
        if located is None:
            return None
        summary, name = located
        return summary.sessionmakers.get(name)

    def scope_facts(self, qualified: str) -> tuple[bool, bool] | None:
        """(commits on success, expire_on_commit) for a context-manager scope defined in the project."""
        located = self.locate(qualified)
        if located is None:
            return None
        summary, name = located
        expire = summary.factory_expire.get(name)
        if expire is None:
            # A scope over another module's sessionmaker: its expire_on_commit is not known here,
            # so assume the value that cannot raise a false alarm.
            expire = summary.default_expire_on_commit if summary.sessionmakers else False
        return name in summary.committing_scopes, expire


def _member_reads(reads: dict[str, frozenset[str]], wanted: set[str]) -> dict[str, frozenset[str]]:
    """Member -> the ``wanted`` attributes it reads, directly or through members it reads
    (a property calling a method that reads a relationship); members reading none left out."""
    found = {member: attrs & wanted for member, attrs in reads.items()}
    # Only the members a member reads can pass anything on: each member's reads of the others,
    # found once (a member reads hundreds of attributes, a handful of them members).
    members = reads.keys()
    callers = [(member, others) for member, attrs in reads.items() if (others := (attrs & members) - {member})]
    for _ in range(3):
        changed = False
        for member, others in callers:
            through = found[member].union(*(found[other] for other in others))
            if through != found[member]:
                found[member] = frozenset(through)
                changed = True
        if not changed:
            break
    return {member: frozenset(attrs) for member, attrs in found.items() if attrs}


def _defines(summary: ModuleSummary, name: str) -> bool:
    return (
        name in summary.classes
        or name in summary.roots
        or name in summary.sessionmakers
        or name in summary.committing_scopes
        or name in summary.factory_expire
    )


# Text a module must contain for its summary to need a parse; other modules only re-export.
_ORM_MARKERS = (
    b"relationship(", b"mapped_column(", b"Column(", b"declarative_base", b"DeclarativeBase", b"generate_base",
    b"sessionmaker", b"table=True", b"registry(", b"Mapped[", b"SQLModel", b".mapped", b"as_declarative",
)


def summary_needs_tree(data: bytes) -> bool:
    """Whether a module's summary is read from its tree (else from its text alone)."""
    if any(marker in data for marker in _ORM_MARKERS):
        return True
    return b"contextmanager" in data and b".commit(" in data  # a scope that commits on success


def imports_only(text: str, module: str, is_package: bool) -> ModuleSummary:
    """A module without ORM markers: only its ``from x import y`` names, to follow re-exports."""
    imports: dict[str, str] = {}
    for origin, names in from_imports(text):
        level = len(origin) - len(origin.lstrip("."))
        base = resolve_relative(module, is_package, level, origin.lstrip(".") or None) if level else origin
        for name, alias in IMPORTED_NAME.findall(names.split("#")[0] if "(" not in names else names):
            if name != "import":
                imports[alias or name] = f"{base}.{name}"
    return ModuleSummary(module=module, imports=imports)


def summarize_source(data: bytes, path: str, module: str, is_package: bool) -> ModuleSummary | None:
    """Parse and summarize one module's bytes; None if it cannot be parsed. The tree is dropped."""
    if not summary_needs_tree(data):
        return imports_only(data.decode("utf-8", "replace"), module, is_package)
    try:
        tree = parse_module(data, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    module_name = module or resolve_relative("", False, 0, None)
    return summarize(tree, module_name, is_package)
