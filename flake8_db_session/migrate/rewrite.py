"""Rewrite one module: DBS001 findings in, edited source out (ast-grep-py does search and edits).

The analysis core says which endpoints hold a session dependency (with status tags); ``scope``
plans each body with Python's ``ast``; ast-grep-py locates the function and parameter nodes in
the concrete syntax tree and applies the edits, so every byte outside them stays as it was.
"""

from __future__ import annotations

import ast
import io
from dataclasses import dataclass, field

from ast_grep_py import Edit, SgNode, SgRoot

from ..analysis import EMPTY_INDEX, Finding, ProjectIndex, analyze_tree, dependencies
from ..analysis.context import ModuleContext
from ..analysis.endpoints import route_decorator
from ..config import Settings
from .factory import Factory, NoFactory, resolve_factory
from .imports import drop_unused_imports
from .outcome import MOVED, REMOVED, SKIPPED, EndpointOutcome, FileOutcome, Review
from .scope import ScopePlan, ValueKinds, plan_scope, statement_lines, walk_local
from .textedit import (
    indent_lines,
    indent_unit,
    leading_whitespace,
    string_interior_rows,
)

SKIP_TAGS = ("decorator-db", "streaming", "websocket")  # in this order of precedence
ESCAPE_CODES = ("DBS003", "DBS004", "DBS005", "DBS006", "DBS007", "DBS008")
LIST_TYPES = frozenset({"List", "list", "Sequence", "Iterable", "Collection"})
NOT_MODELS = frozenset({"Any", "Dict", "dict", "Optional", "Union", "None", "Mapping", "Response", "object"})


@dataclass
class _Text:
    """The source with 1-based line starts as character offsets (ast-grep positions are characters)."""

    source: str
    lines: list[str] = field(init=False)
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        # Python's own line breaks (\n, \r\n, \r); str.splitlines would also split on \f and others.
        self.lines = io.StringIO(self.source, newline="").readlines()
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", "replace"))

    def segment(self, node: ast.expr) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno or node.lineno, node.end_col_offset or 0)


@dataclass
class _Planned:
    outcome: EndpointOutcome
    edits: list[Edit]
    factory: Factory | None = None
    names: frozenset[str] = frozenset()  # names the removed parameter used (import cleanup)


def _edit(node: SgNode, start: int, end: int, text: str) -> Edit:
    edit = node.replace(text)
    edit.start_pos, edit.end_pos = start, end
    return edit


def migrate_source(
    source: str,
    path: str,
    settings: Settings,
    *,
    module: str = "",
    is_package: bool = False,
    index: ProjectIndex = EMPTY_INDEX,
) -> FileOutcome:
    """The migrated text of one module and what happened to each endpoint. Never raises for bad input."""
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        return FileOutcome(path, source, source, error=f"cannot parse: {exc}")
    text = _Text(source)
    ctx = ModuleContext.build(
        tree, path, settings, source=source, lines=text.lines, module=module, is_package=is_package, index=index
    )
    # Only the session dependencies are needed here (the full analysis runs in the review pass).
    findings = [f for f in dependencies.check(ctx) if f.code == "DBS001"]
    if not findings:
        return FileOutcome(path, source, source)
    root = SgRoot(source, "python").root()
    planner = _Planner(ctx, text, root)
    planned = planner.plan(findings)
    after = _apply(root, text, planned)
    if after is None:
        # Some endpoint's rewrite does not parse: keep only those that parse on their own.
        for item in planned:
            if item.edits and _apply(root, text, [item]) is None:
                item.outcome.action, item.outcome.reason = SKIPPED, "rewrite-failed"
                item.edits = []
        after = _apply(root, text, planned)
        if after is None:
            return FileOutcome(path, source, source, [p.outcome for p in planned], "the rewrite did not parse; nothing changed")
    unused = set().union(*(p.names for p in planned if p.edits))
    if unused and after != source:
        after = drop_unused_imports(after, unused)
    outcome = FileOutcome(path, source, after, [p.outcome for p in planned])
    if after != source:
        factories = {p.outcome.function: p.factory for p in planned if p.factory is not None and p.edits}
        _review(outcome, tree, settings, module, is_package, index, factories)
    return outcome


def _apply(root: SgNode, text: _Text, planned: list[_Planned]) -> str | None:
    """Commit the planned edits (plus one import per factory); None when the result does not parse."""
    edits: list[Edit] = []
    imports: dict[int, list[str]] = {}
    for item in planned:
        edits.extend(item.edits)
        factory = item.factory
        if factory is not None and factory.import_line:
            lines = imports.setdefault(factory.anchor_line, [])
            if factory.import_line not in lines:
                lines.append(factory.import_line)
    for anchor, lines in imports.items():
        line_no = anchor or _last_import_line(text)
        position = text.starts[min(line_no, len(text.lines))]
        newline = _newline(text)
        prefix = "" if position == 0 or text.source[position - 1] in "\r\n" else newline
        edits.append(_edit(root, position, position, prefix + "".join(line + newline for line in lines)))
    if not edits:
        return text.source
    edits.sort(key=lambda e: (e.start_pos, e.end_pos))
    # ast-grep applies edits in order; copies keep the planned ones reusable for a retry.
    result = root.commit_edits([_copy(root, e) for e in edits])
    try:
        ast.parse(result)
    except (SyntaxError, ValueError):
        return None
    return result


def _copy(root: SgNode, edit: Edit) -> Edit:
    return _edit(root, edit.start_pos, edit.end_pos, edit.inserted_text)


def _newline(text: _Text) -> str:
    first = text.lines[0] if text.lines else "\n"
    return "\r\n" if first.endswith("\r\n") else "\n"


def _last_import_line(text: _Text) -> int:
    """After the module's leading docstring, ``__future__`` and import block."""
    tree = ast.parse(text.source)
    line = 0
    for index, stmt in enumerate(tree.body):
        is_docstring = index == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) or is_docstring:
            line = stmt.end_lineno or stmt.lineno
        else:
            break
    return line


class _Planner:
    def __init__(self, ctx: ModuleContext, text: _Text, root: SgNode) -> None:
        self.ctx = ctx
        self.text = text
        self.root = root
        self.string_rows = string_interior_rows(text.source)
        self.kinds = ValueKinds(ctx.settings.serializers, schema_names(ctx))
        self.functions: dict[int, SgNode] = {
            node.range().start.line + 1: node for node in root.find_all(kind="function_definition")
        }

    def plan(self, findings: list[Finding]) -> list[_Planned]:
        by_function: dict[int, list[tuple[Finding, ast.arg]]] = {}
        nodes: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        planned: list[_Planned] = []
        for finding in findings:
            located = self._locate(finding)
            if located is None:
                planned.append(self._skip(finding, "dependencies-list", ""))
                continue
            function, arg = located
            nodes[id(function)] = function
            by_function.setdefault(id(function), []).append((finding, arg))
        for key, entries in by_function.items():
            function = nodes[key]
            if len(entries) > 1:
                names = ", ".join(arg.arg for _, arg in entries)
                planned.extend(self._skip(f, "several-sessions", names) for f, _ in entries)
                continue
            finding, arg = entries[0]
            planned.append(self._plan_endpoint(finding, function, arg))
        planned.sort(key=lambda p: p.outcome.line)
        return planned

    def _skip(self, finding: Finding, reason: str, detail: str) -> _Planned:
        return _Planned(EndpointOutcome(finding.path, finding.line, finding.function, SKIPPED, reason, detail), [])

    def _locate(self, finding: Finding) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.arg] | None:
        """The endpoint and the parameter whose default or annotation holds the finding."""
        for function, qualname in self.ctx.functions:
            if qualname != finding.function:
                continue
            args = function.args
            positional = [*args.posonlyargs, *args.args]
            defaults = dict(zip(map(id, positional[len(positional) - len(args.defaults):]), args.defaults))
            defaults.update((id(a), d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
            for arg in [*positional, *args.kwonlyargs]:
                for part in (defaults.get(id(arg)), arg.annotation):
                    if part is not None and _contains(part, finding.line, finding.col):
                        return function, arg
        return None

    def _plan_endpoint(
        self, finding: Finding, function: ast.FunctionDef | ast.AsyncFunctionDef, arg: ast.arg
    ) -> _Planned:
        if finding.noqa:
            return self._skip(finding, "noqa", "")
        for tag in SKIP_TAGS:
            if tag in finding.tags:
                return self._skip(finding, tag, "")
        sg_function = self.functions.get(function.lineno)
        if sg_function is None:
            return self._skip(finding, "rewrite-failed", "ast-grep did not see this function")
        plan = plan_scope(function, arg.arg, self.text.lines, self.kinds)
        if plan.action == "skip":
            return self._skip(finding, plan.reason, plan.detail)
        remove = self._remove_parameter(sg_function, arg.arg)
        if remove is None:
            return self._skip(finding, "rewrite-failed", f"parameter {arg.arg} not found by ast-grep")
        outcome = EndpointOutcome(finding.path, finding.line, finding.function, REMOVED, detail=plan.detail)
        used = frozenset(
            n.id for part in (arg.annotation, self._default(function, arg)) if part is not None
            for n in ast.walk(part) if isinstance(n, ast.Name)
        )
        if plan.action == "remove":
            return _Planned(outcome, remove, names=used)
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        alias = next(
            (
                self.ctx.names.qualify(node)
                for node in (arg.annotation, self._default(function, arg))
                if isinstance(node, (ast.Name, ast.Attribute)) and _contains(node, finding.line, finding.col)
            ),
            None,
        )
        try:
            factory = resolve_factory(
                self.ctx,
                finding.subject,
                async_hint="Async" in annotation or "async" in finding.subject,
                async_endpoint=isinstance(function, ast.AsyncFunctionDef),
                alias=alias,
            )
        except NoFactory as exc:
            return self._skip(finding, "no-scope-factory", str(exc))
        outcome.action = MOVED
        edits = [*remove, self._scope_edit(sg_function, function, arg.arg, plan, factory, outcome)]
        return _Planned(outcome, edits, factory, used)

    @staticmethod
    def _default(function: ast.FunctionDef | ast.AsyncFunctionDef, arg: ast.arg) -> ast.expr | None:
        args = function.args
        positional = [*args.posonlyargs, *args.args]
        for candidate, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            if candidate is arg:
                return default
        for candidate, kw_default in zip(args.kwonlyargs, args.kw_defaults):
            if candidate is arg:
                return kw_default
        return None

    # -- parameters ---------------------------------------------------------------------------
    def _remove_parameter(self, sg_function: SgNode, name: str) -> list[Edit] | None:
        parameters = sg_function.field("parameters")
        if parameters is None:
            return None
        params = [p for p in parameters.named_children() if p.kind() != "comment"]
        index = next((i for i, p in enumerate(params) if _parameter_name(p) == name), None)
        if index is None:
            return None
        first = last = index
        # `*` (or `/`) left with nothing to separate would not parse: remove it too.
        rest = params[index + 1 :]
        if first > 0 and params[first - 1].kind() == "keyword_separator" and all(
            p.kind() == "dictionary_splat_pattern" for p in rest
        ):
            first -= 1
        inner = parameters.range()
        if len(params) == last - first + 1:
            return [_edit(parameters, inner.start.index, inner.end.index, "()")]
        if last + 1 < len(params):
            start, end = params[first].range().start.index, params[last + 1].range().start.index
        else:
            start, end = params[first - 1].range().end.index, params[last].range().end.index
        return [_edit(parameters, start, end, "")]

    # -- the scope ----------------------------------------------------------------------------
    def _scope_edit(
        self,
        sg_function: SgNode,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        session: str,
        plan: ScopePlan,
        factory: Factory,
        outcome: EndpointOutcome,
    ) -> Edit:
        text = self.text
        body = function.body
        first_row = statement_lines(plan.statements[plan.first])[0]
        last_row = statement_lines(plan.statements[plan.last])[1]
        start, end = text.starts[first_row - 1], text.starts[last_row]
        span = text.source[start:end]
        # Serialize returned ORM values inside the scope where the response model is known;
        # wrapping adds no line break, so the rows (and the string-interior rows) stay put.
        model = _response_model(function)
        replacements: list[tuple[int, int, str]] = []
        for ret in plan.returns:
            assert ret.value is not None
            value_start, value_end = text.segment(ret.value)
            value = text.source[value_start:value_end]
            wrapped = _serialize(model, value, function) if model else None
            if wrapped is None:
                continue  # reported by the review pass on the migrated text
            replacements.append((value_start - start, value_end - start, wrapped))
            outcome.serialized += 1
        for rel_start, rel_end, new in sorted(replacements, reverse=True):
            span = span[:rel_start] + new + span[rel_end:]
        lines = io.StringIO(span, newline="").readlines()
        def_line = text.lines[function.lineno - 1]
        unit = indent_unit(def_line, text.lines[body[0].lineno - 1])
        indent = leading_whitespace(text.lines[first_row - 1])
        newline = "\r\n" if def_line.endswith("\r\n") else "\n"
        keyword = "async with" if factory.is_async else "with"
        opener = f"{indent}{keyword} {factory.call}() as {session}:{newline}"
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        new_text = opener + "".join(indent_lines(lines, first_row, unit, self.string_rows))
        return _edit(sg_function, start, end, new_text)


def schema_names(ctx: ModuleContext) -> set[str]:
    """Classes that build plain data: response models of this module's routes, and names
    imported from (or reached through) a module whose name says it holds schemas."""
    found: set[str] = set()
    for function, _ in ctx.functions:
        model = _response_model(function)
        if model is not None:
            found.add(model[1])
    for local, qualified in ctx.names.imports.items():
        if any(_is_schema_module(part) for part in qualified.split(".")[:-1]):
            found.add(local)
        elif _is_schema_module(qualified.rpartition(".")[2]):
            # ``from app import schemas`` / ``import app.schemas as s``: calls look like s.ToolRead(...)
            found.update(f"{local}.{name}" for name in _attribute_calls(ctx.tree, local))
    return found


def _is_schema_module(name: str) -> bool:
    return any(word in name.lower() for word in ("schema", "dto", "serializer"))


def _attribute_calls(tree: ast.Module, base: str) -> set[str]:
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == base
    }


def _contains(node: ast.AST, line: int, col: int) -> bool:
    return any(getattr(n, "lineno", None) == line and getattr(n, "col_offset", None) == col for n in ast.walk(node))


def _parameter_name(node: SgNode) -> str | None:
    kind = node.kind()
    if kind == "identifier":
        return node.text()
    if kind in ("default_parameter", "typed_default_parameter"):
        name = node.field("name")
        return name.text() if name is not None else None
    if kind == "typed_parameter":
        head = node.named_children()
        return head[0].text() if head and head[0].kind() == "identifier" else None
    return None


def _response_model(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, str] | None:
    """("one" | "many", model class as written) when the response model is certain."""
    for decorator in function.decorator_list:
        if route_decorator(decorator) and isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "response_model":
                    return _model_shape(keyword.value)
    return _model_shape(function.returns) if function.returns is not None else None


def _model_shape(node: ast.expr) -> tuple[str, str] | None:
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name[:1].isupper() and name not in NOT_MODELS and not name.endswith("Response"):
            return "one", ast.unparse(node)
        return None
    if isinstance(node, ast.Subscript):
        outer = node.value.id if isinstance(node.value, ast.Name) else node.value.attr if isinstance(node.value, ast.Attribute) else ""
        inner = _model_shape(node.slice)
        if outer in LIST_TYPES and inner is not None and inner[0] == "one":
            return "many", inner[1]
    return None


def _serialize(model: tuple[str, str], value: str, function: ast.AST) -> str:
    """The response model's own validation, as FastAPI would run it later (from attributes)."""
    shape, name = model
    if shape == "one":
        return f"{name}.model_validate({value}, from_attributes=True)"
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    item = next(candidate for candidate in ("item", "item_", "orm_item", "orm_item_") if candidate not in used)
    return f"[{name}.model_validate({item}, from_attributes=True) for {item} in {value}]"


def _review(outcome: FileOutcome, tree_before: ast.Module, settings: Settings, module: str,
            is_package: bool, index: ProjectIndex, factories: dict[str, Factory]) -> None:
    """Lines of the migrated text that need a decision, in its own line numbers.

    A return inside a new scope whose value may be an ORM object (no certain response model to
    serialize it with), and any ORM-escape finding (DBS003-DBS008) the migrated code has that
    the original did not.
    """
    tree_after = ast.parse(outcome.after)
    moved = {e.function: e for e in outcome.endpoints if e.action == MOVED}
    ctx = ModuleContext.build(tree_after, outcome.path, settings, module=module, is_package=is_package, index=index)
    kinds = ValueKinds(settings.serializers, schema_names(ctx))
    for function, qualname in ctx.functions:
        endpoint = moved.get(qualname)
        factory = factories.get(qualname)
        if endpoint is None or factory is None:
            continue
        # The new scope sits in the function body or in a try body inside it.
        scopes = [
            node
            for stmt in function.body
            for node in walk_local(stmt)
            if isinstance(node, (ast.With, ast.AsyncWith))
            and ast.unparse(node.items[0].context_expr) == f"{factory.call}()"
        ]
        for scope in scopes[:1]:
            risky = kinds.risky_after(scope.body, set())
            for node in (n for s in scope.body for n in walk_local(s)):
                if isinstance(node, ast.Return) and not kinds.is_plain(node.value, risky):
                    shown = ast.unparse(node.value) if node.value is not None else ""
                    shown = shown if len(shown) <= 40 else shown[:37] + "..."
                    note = f"returns {shown} from the scope with no known response model; serialize it inside the scope (DBS003)"
                    endpoint.reviews.append(Review(node.lineno, note))

    def escapes(source: str, tree: ast.Module) -> dict[tuple[str, str], list[Finding]]:
        found: dict[tuple[str, str], list[Finding]] = {}
        for f in analyze_tree(tree, outcome.path, settings, source=source, module=module, is_package=is_package, index=index):
            if f.code in ESCAPE_CODES:
                found.setdefault((f.function, f.code), []).append(f)
        return found

    before = escapes(outcome.before, tree_before)
    after = escapes(outcome.after, tree_after)
    for (function_name, code), found in after.items():
        endpoint = moved.get(function_name)
        if endpoint is None:
            continue
        for finding in found[len(before.get((function_name, code), [])):]:
            if not any(r.line == finding.line for r in endpoint.reviews):
                endpoint.reviews.append(Review(finding.line, finding.message))
    for endpoint in moved.values():
        endpoint.reviews.sort(key=lambda r: r.line)
