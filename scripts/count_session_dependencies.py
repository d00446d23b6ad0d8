"""An independent count of request-scoped session dependencies in a FastAPI code base.

Cross-checks DBS001/DBS002 without the package's analysis code: plain ``ast`` over every file,
its own notion of providers, endpoints and dependency references, written separately from
flake8_db_session/analysis. Usage::

    python scripts/count_session_dependencies.py PACKAGE_DIR [--list]

Prints the providers it found, then ``DBS001 n`` and ``DBS002 n (unreferenced m)``; ``--list``
prints every site. Names are matched by their last segment (the package matches them by
qualified name), so a difference between the two is a homonym to read, not an error by itself.
"""

from __future__ import annotations

import ast
import os
import sys
from collections import Counter

ROUTE_METHODS = {"get", "post", "put", "delete", "patch", "options", "head", "trace", "api_route", "websocket", "route"}
SESSION_CLASSES = {"Session", "AsyncSession"}
NOT_DATABASE = {"requests", "httpx", "aiohttp", "boto3", "botocore", "aioboto3"}
GENERICS = {"Generator", "AsyncGenerator", "Iterator", "AsyncIterator", "Iterable", "AsyncIterable", "Optional"}
MAKER_CALLS = {"sessionmaker", "async_sessionmaker", "scoped_session"}
DEFAULT_PROVIDERS = {"get_db", "get_session", "get_db_session", "get_async_db"}


def last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def files_of(root: str) -> list[str]:
    out = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        out.extend(os.path.join(directory, n) for n in sorted(names) if n.endswith(".py"))
    return out


class Module:
    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as handle:
            self.tree = ast.parse(handle.read())
        self.other_session_names = set()  # names imported from a non-database library
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in NOT_DATABASE:
                self.other_session_names.update(a.asname or a.name for a in node.names)

    def is_session(self, node: ast.AST | None) -> bool:
        if node is None:
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.is_session(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return False
        if isinstance(node, ast.Name):
            return node.id in SESSION_CLASSES and node.id not in self.other_session_names
        if isinstance(node, ast.Attribute):
            root = node
            while isinstance(root, ast.Attribute):
                root = root.value
            return node.attr in SESSION_CLASSES and not (isinstance(root, ast.Name) and root.id in NOT_DATABASE)
        if isinstance(node, ast.Subscript):
            outer = last_name(node.value)
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if outer == "Annotated" or outer in GENERICS:
                return self.is_session(items[0])
            if outer == "Union":
                return any(self.is_session(i) for i in items)
        if isinstance(node, ast.BinOp):
            return self.is_session(node.left) or self.is_session(node.right)
        return False


def depends_target(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.Call) and last_name(node.func) in ("Depends", "Security"):
        if node.args:
            return node.args[0]
        for keyword in node.keywords:
            if keyword.arg == "dependency":
                return keyword.value
    return None


def functions(tree: ast.AST):
    """(qualname parts, node, enclosing class names) of every function."""
    stack = [(tree, ())]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield (*prefix, child.name), child
                stack.append((child, (*prefix, child.name)))
            elif isinstance(child, ast.ClassDef):
                stack.append((child, (*prefix, child.name)))
            elif not isinstance(child, ast.expr):
                stack.append((child, prefix))


def main(argv: list[str]) -> int:
    root = argv[0]
    modules = []
    for path in files_of(root):
        try:
            modules.append(Module(path))
        except SyntaxError:
            print(f"{path}: syntax error, skipped", file=sys.stderr)

    # 1. Providers, by name: annotated to hand out a session; yielding/returning a sessionmaker
    #    call; used on a session-annotated parameter or alias; the usual names.
    makers = set()
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and last_name(node.value.func) in MAKER_CALLS:
                makers.update(t.id for t in node.targets if isinstance(t, ast.Name))
    providers: dict[str, str] = {}
    context_managers = set()
    for module in modules:
        for parts, node in functions(module.tree):
            decorated = any(last_name(d.func if isinstance(d, ast.Call) else d).endswith("contextmanager") for d in node.decorator_list)
            if decorated:
                context_managers.add(parts[-1])
                continue
            hands_out = False
            for inner in ast.walk(node):
                value = getattr(inner, "value", None) if isinstance(inner, (ast.Yield, ast.Return)) else None
                if isinstance(value, ast.Call) and last_name(value.func) in makers | SESSION_CLASSES:
                    hands_out = True
                if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call) and last_name(inner.value.func) in makers:
                    hands_out = hands_out or any(isinstance(y, ast.Yield) for y in ast.walk(node))
            if module.is_session(node.returns) or hands_out:
                providers.setdefault(parts[-1], f"{module.path}:{node.lineno}")
    aliases: dict[str, tuple[str, bool]] = {}  # alias name -> (target, in a session-typed Annotated)
    for module in modules:
        for node in module.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = node.value
                if isinstance(value, ast.Subscript) and last_name(value.value) == "Annotated":
                    items = value.slice.elts if isinstance(value.slice, ast.Tuple) else []
                    for meta in items[1:]:
                        target = depends_target(meta)
                        if target is not None:
                            aliases[node.targets[0].id] = (last_name(target), module.is_session(items[0]))
                target = depends_target(value)
                if target is not None:
                    aliases[node.targets[0].id] = (last_name(target), False)
    for module in modules:
        for _parts, node in functions(module.tree):
            for arg, default in parameters(node):
                target = depends_target(default) if default is not None else None
                if target is not None and module.is_session(arg.annotation):
                    providers.setdefault(last_name(target), "(used on a session parameter)")
    for name, (target, typed) in aliases.items():
        if typed:
            providers.setdefault(target, "(in a session alias)")
    for name in DEFAULT_PROVIDERS:
        providers.setdefault(name, "(default name)")

    # 2. What the project hands to dependency injection.
    referenced, instantiated = set(), set()
    mentioned = Counter()
    instances: dict[str, str] = {}
    for module in modules:
        for node in ast.walk(module.tree):
            target = depends_target(node)
            if target is not None:
                if isinstance(target, ast.Call):
                    instantiated.add(last_name(target.func))
                else:
                    referenced.add(last_name(target))
            if isinstance(node, ast.Subscript) and last_name(node.value) == "dependency_overrides":
                pass
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        instances[t.id] = last_name(node.value.func)
            if isinstance(node, ast.Name):
                mentioned[node.id] += 1
            elif isinstance(node, ast.Attribute):
                mentioned[node.attr] += 1
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Subscript) and last_name(t.value) == "dependency_overrides" for t in node.targets
            ):
                referenced.add(last_name(node.value))
    instantiated.update(cls for name, cls in instances.items() if name in referenced)

    # 3. Sites.
    dbs001, dbs002, unreferenced = [], [], []
    for module in modules:
        classes = {n.name for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)}
        registered = set()
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and last_name(node.func) in ("add_api_route", "add_api_websocket_route", "APIRoute"):
                endpoint = next((k.value for k in node.keywords if k.arg == "endpoint"), node.args[1] if len(node.args) > 1 else None)
                if endpoint is not None:
                    registered.add(last_name(endpoint))
            if isinstance(node, ast.Call) and any(k.arg == "dependencies" for k in node.keywords):
                for keyword in node.keywords:
                    if keyword.arg == "dependencies" and isinstance(keyword.value, (ast.List, ast.Tuple)):
                        for element in keyword.value.elts:
                            target = depends_target(element)
                            name = last_name(target) if target is not None else aliases.get(last_name(element), ("", False))[0]
                            if name in providers:
                                dbs001.append(f"{module.path}:{element.lineno} dependencies=")
        for parts, node in functions(module.tree):
            endpoint = parts[-1] in registered or any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ROUTE_METHODS
                for d in node.decorator_list
            )
            for arg, default in parameters(node):
                if not session_site(module, arg, default, providers, aliases):
                    continue
                where = f"{module.path}:{arg.lineno} {'.'.join(parts)}"
                if endpoint:
                    dbs001.append(where)
                    continue
                status = resolved(parts, classes, referenced, instantiated, mentioned)
                if status == "dependency":
                    dbs002.append(where)
                elif status == "unreferenced":
                    dbs002.append(where + " unreferenced")
                    unreferenced.append(where)
    print("providers:", ", ".join(f"{n} {w}" for n, w in sorted(providers.items()) if not w.startswith("(default")))
    if "--list" in argv:
        for site in dbs001:
            print("DBS001", site)
        for site in dbs002:
            print("DBS002", site)
    print(f"DBS001 {len(dbs001)}")
    print(f"DBS002 {len(dbs002)} (unreferenced {len(unreferenced)})")
    return 0


def parameters(node):
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    yield from zip(positional, defaults)
    yield from zip(args.kwonlyargs, args.kw_defaults)


def session_site(module, arg, default, providers, aliases) -> bool:
    target = depends_target(default) if default is not None else None
    if target is not None:
        return module.is_session(arg.annotation) or last_name(target) in providers
    if default is not None and last_name(default) in aliases:
        return aliases[last_name(default)][0] in providers
    annotation = arg.annotation
    if isinstance(annotation, ast.Subscript) and last_name(annotation.value) == "Annotated":
        items = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
        for meta in items[1:]:
            target = depends_target(meta)
            if target is not None:
                return module.is_session(items[0]) or last_name(target) in providers
        return False
    if annotation is not None and last_name(annotation) in aliases:
        target, typed = aliases[last_name(annotation)]
        return typed or target in providers
    return False


def resolved(parts, classes, referenced, instantiated, mentioned) -> str:
    own = parts[-1]
    if own in referenced:
        return "dependency"
    if len(parts) > 1:
        owner = parts[-2]
        if owner in classes:
            if own == "__init__":
                look, pool = owner, referenced
            elif own == "__call__":
                look, pool = owner, instantiated
            else:
                look, pool = own, referenced
        else:
            look, pool = owner, instantiated
    else:
        look, pool = own, referenced
    if look in pool:
        return "dependency"
    if mentioned[look] > 0:
        return "direct"
    return "direct" if any(p.startswith("_") and not p.startswith("__") for p in parts) else "unreferenced"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
