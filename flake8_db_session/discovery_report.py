"""What discovery found, for people: ``report --discovered`` / ``check --discovered`` list the
session providers, short scopes, sessionmakers and session aliases with their locations, and a
run that finds no session dependency while session-typed ``Depends(...)`` parameters exist says
so on stderr instead of passing silently (docs/discovery.md)."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.util import decode_source

from .analysis.context import ModuleContext
from .analysis.dependencies import module_aliases
from .analysis.discovery import PROVIDER, typed_depends_lines
from .config import Settings
from .project import context_for_path

# Words a module must contain to define something discovery lists (a cheap gate before parsing).
_WORDS = ("Session", "session", "maker", "contextmanager", "Depends(")


@dataclass(frozen=True)
class Entry:
    kind: str  # provider, scope, maker, alias
    qualified: str
    path: str
    line: int
    detail: str = ""  # a provider's short scope, an alias's dependency


def discovered(files: Iterable[str], settings: Settings) -> list[Entry]:
    """Every provider, scope, sessionmaker and session alias defined in ``files``."""
    entries: list[Entry] = []
    for path in files:
        try:
            with open(path, "rb") as handle:
                source = decode_source(handle.read())
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
            continue
        if not any(word in source for word in _WORDS):
            continue
        try:
            tree = ast.parse(source, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        module, is_package, index = context_for_path(path, settings)
        ctx = ModuleContext.build(tree, path, settings, source=source, module=module, is_package=is_package, index=index)
        for found in ctx.discovery.definitions():
            detail = f"short scope: {found.scope}" if found.kind == PROVIDER and found.scope else ""
            entries.append(Entry(found.kind, found.qualified, path, found.line, detail))
        for name, alias in module_aliases(ctx).items():
            if alias.confirmed or ctx.discovery.is_provider(alias.qualified):
                line = next((s.lineno for s in tree.body if _binds(s, name)), 0)
                entries.append(Entry("alias", f"{module}.{name}", path, line, f"Depends({alias.qualified})"))
    return sorted(entries, key=lambda e: (e.kind, e.path, e.line))


def _binds(stmt: ast.stmt, name: str) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None) or getattr(stmt, "name", None)]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def render(entries: Sequence[Entry], settings: Settings) -> str:
    if not settings.discover:
        return "discovery is off (db-session-discover = false): only the configured names count\n"
    if not entries:
        return "discovered: no session provider, scope or sessionmaker in these files\n"
    lines = [f"discovered ({len(entries)}):"]
    width = max(len(e.qualified) for e in entries)
    for entry in entries:
        where = f"{os.path.relpath(entry.path)}:{entry.line}"
        detail = f"  ({entry.detail})" if entry.detail else ""
        lines.append(f"  {entry.kind:<8} {entry.qualified:<{width}}  {where}{detail}")
    return "\n".join(lines) + "\n"


def silent_pass_hint(files: Iterable[str], findings_codes: Iterable[str]) -> str | None:
    """One line for stderr when no DBS001/DBS002 was found although parameters typed as a session
    take a ``Depends(...)``: the user must not believe the code is clean."""
    if any(code in ("DBS001", "DBS002") for code in findings_codes):
        return None
    count, first = 0, ""
    for path in files:
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = typed_depends_lines(text)
        if lines and not first:
            first = f"{path}:{lines[0]}"
        count += len(lines)
    if not count:
        return None
    return (
        f"flake8-db-session: no session dependency found, yet {count} parameter(s) typed as a session "
        f"take Depends(...) (first at {first}): name the provider in db-session-dependencies or turn "
        "db-session-discover on (see docs/discovery.md)"
    )


def section(args: object, files: Sequence[str], result: object, settings: Settings, *, stdout: bool) -> str:
    """The hook ``check`` and ``report`` call: the hint on stderr when the run would pass
    silently, the ``--discovered`` listing (returned for stdout, else written to stderr)."""
    import sys

    codes = [f.code for f in getattr(result, "findings", ())]
    hint = silent_pass_hint(files, codes)
    if hint:
        print(hint, file=sys.stderr)
    if not getattr(args, "discovered", False):
        return ""
    text = render(discovered(files, settings), settings)
    if stdout:
        return "\n" + text
    sys.stderr.write(text)
    return ""
