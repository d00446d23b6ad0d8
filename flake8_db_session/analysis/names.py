"""Import and alias resolution: which qualified name does a local name or attribute chain mean."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable

from .syntax import IMPORTED_NAME, branches, from_imports

FASTAPI_DEPENDS = frozenset({"fastapi.Depends", "fastapi.params.Depends", "fastapi.param_functions.Depends"})
FASTAPI_SECURITY = frozenset(
    {"fastapi.Security", "fastapi.params.Security", "fastapi.param_functions.Security"}
)
ANNOTATED = frozenset({"typing.Annotated", "typing_extensions.Annotated"})
_DEFINITION_CLASSES = (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)  # most common first
_DEFINITIONS = frozenset(_DEFINITION_CLASSES)
_IMPORTS = frozenset({ast.Import, ast.ImportFrom})
# The statements ``branches`` opens (``try``/``except*`` where it exists).
_BRANCHING = frozenset({ast.If, ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ())})


def resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """``from ..x import y`` inside ``module`` -> the absolute module name (best effort)."""
    parts = module.split(".") if module else []
    if not is_package and parts:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: max(0, len(parts) - (level - 1))] if len(parts) >= level - 1 else []
    if target:
        parts.append(target)
    return ".".join(parts) if parts else ("." * level + (target or ""))


def module_of_file(
    directory: str,
    filename: str,
    is_package_dir: Callable[[str], bool],
    split: Callable[[str], tuple[str, str]],
) -> tuple[str, bool, str]:
    """(dotted module name, is a package ``__init__``, import root) of ``directory/filename``:
    climb the directories holding an ``__init__.py``; the root is the directory above the
    topmost package (where ``import top`` would find it). On disk or in a git tree alike."""
    stem = filename[:-3] if filename.endswith(".py") else filename.rsplit(".", 1)[0]
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while directory and is_package_dir(directory):
        directory, name = split(directory)
        parts.append(name)
        if not name:
            break
    parts.reverse()
    return ".".join(p for p in parts if p), is_package, directory


class Names:
    """Module-level name bindings: imports (anywhere in the file) and local definitions."""

    __slots__ = ("imports", "is_package", "local", "module", "star_modules")

    def __init__(self, module: str = "", is_package: bool = False) -> None:
        self.module = module
        self.is_package = is_package
        self.imports: dict[str, str] = {}  # local name -> qualified name
        self.local: set[str] = set()  # names bound by def/class/assignment at module level
        self.star_modules: list[str] = []

    # -- building ---------------------------------------------------------------------------
    def add_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    self.imports.setdefault(top, top)
            return
        if node.level:
            base = resolve_relative(self.module, self.is_package, node.level, node.module)
        else:
            base = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(base)
                continue
            self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name

    def add_module_level_bindings(self, body: Iterable[ast.stmt]) -> None:
        """Definitions at module level (also inside top-level if/try) shadow imports."""
        stack = list(body)
        local = self.local
        while stack:
            stmt = stack.pop()
            cls = stmt.__class__
            if cls in _IMPORTS:  # the most common (``function_nodes`` adds them): one test, not five
                continue
            # ``type(stmt) is C`` (or isinstance after the set test) where a branch reads the
            # node's fields: the type checker narrows on those forms
            if cls in _DEFINITIONS and isinstance(stmt, _DEFINITION_CLASSES):
                local.add(stmt.name)
            elif type(stmt) is ast.Assign:
                for target in stmt.targets:
                    if type(target) is ast.Name:
                        local.add(target.id)
            elif type(stmt) is ast.AnnAssign:
                target = stmt.target
                if type(target) is ast.Name:
                    local.add(target.id)
            elif cls in _BRANCHING:
                for block in branches(stmt):
                    stack.extend(block)
            elif cls.__name__ == "TypeAlias":
                name = getattr(stmt, "name", None)
                if isinstance(name, ast.Name):
                    local.add(name.id)

    # -- querying ---------------------------------------------------------------------------
    def qualify(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to, or None if it is not a name chain.

        An imported name gives its qualified origin; a module-level definition gives
        ``module.name`` (a local definition wins over an import of the same name); an unbound
        name stays bare.
        """
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.qualify_name(node.id)
        if attrs:
            return base + "." + ".".join(reversed(attrs))
        return base

    def qualify_name(self, name: str) -> str:
        if name in self.local:
            return f"{self.module}.{name}" if self.module else name
        return self.imports.get(name, name)

    def is_unbound(self, name: str) -> bool:
        return name not in self.local and name not in self.imports

    def refers_to(self, node: ast.expr, qualified: frozenset[str], bare: str) -> bool:
        """Whether ``node`` names one of ``qualified`` (e.g. fastapi's Depends).

        A bare name that nothing in the file binds counts too (star imports, snippets); a
        module-level definition of that name never does.
        """
        if isinstance(node, ast.Name):
            if node.id in self.local:
                return False
            target = self.imports.get(node.id)
            if target is None:
                return node.id == bare
            return target in qualified
        name = self.qualify(node)
        return name is not None and name in qualified


def matches_configured(qualified: str, configured: Iterable[str]) -> bool:
    """A configured name is bare (matches any function of that name) or dotted (exact)."""
    last = qualified.rpartition(".")[2]
    for name in configured:
        if "." in name:
            if qualified == name:
                return True
        elif last == name:
            return True
    return False


def reexport_target(text: str, module: str, is_package: bool, name: str) -> str | None:
    """The qualified name a ``from x import name`` (or ``... as name``) in a module's text binds."""
    for origin, names in from_imports(text):
        if name not in names:
            continue
        for imported, alias in IMPORTED_NAME.findall(re.sub(r"#[^\n]*", "", names.strip("()"))):
            if (alias or imported) == name:
                level = len(origin) - len(origin.lstrip("."))
                base = resolve_relative(module, is_package, level, origin.lstrip(".") or None) if level else origin
                return f"{base}.{imported}" if base else imported
    return None
