"""Small AST and text helpers shared by the analysis modules: names of expressions, short source text, word tests."""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Iterator


def last_name(node: ast.expr) -> str:
    """``b`` for ``a.b`` and for ``b``; empty for anything else (a call, a subscript)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def short_text(node: ast.AST) -> str:
    """The expression as written, cut to 40 characters, for a message."""
    try:
        text = ast.unparse(node)
    except (ValueError, RecursionError):  # pragma: no cover - unparse handles every parsed tree
        return "object"
    return text if len(text) <= 40 else text[:37] + "..."


def is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def free_names(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> frozenset[str]:
    """Names a nested function reads but does not bind (its parameters and assignments)."""
    args = function.args
    bound = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a is not None}
    read: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
    return frozenset(read - bound)


def closed_names(statements: list[ast.stmt], methods: tuple[str, ...] = ("close",)) -> Iterator[str]:
    """The names ``x`` of every ``x.close()`` call in the statements, in order, nested ones too."""
    for stmt in statements:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in methods
                and isinstance(node.func.value, ast.Name)
            ):
                yield node.func.value.id


_WORD = re.compile(r"\w+")


def is_word(name: str) -> bool:
    r"""Whether every character of ``name`` is a word character (``\w``): then ``\b`` before and after
    it is what ``at_word_start``/``at_word_end`` test. Python also allows a few other characters in
    identifiers (a middle dot, combining marks): names with one keep their plain pattern."""
    return _WORD.fullmatch(name) is not None


_WORD_CHAR = re.compile(r"\w")


def at_word_start(text: str, start: int) -> bool:
    """Whether ``\b`` holds before ``text[start]``, a word character: no word character before it."""
    return not (start and _WORD_CHAR.match(text, start - 1))


def at_word_end(text: str, end: int) -> bool:
    """Whether ``\b`` holds after ``text[end - 1]``, a word character: no word character at ``end``."""
    return not _WORD_CHAR.match(text, end)


def spelled_before(text: str, name: str, pattern: re.Pattern[str]) -> bool:
    """Whether ``name`` is spelled at a word start somewhere in ``text`` with ``pattern`` matching
    right after it: what ``\bname`` followed by the pattern finds, without a pattern per name."""
    size = len(name)
    at = text.find(name)
    while at != -1:
        if at_word_start(text, at) and pattern.match(text, at + size):
            return True
        at = text.find(name, at + 1)
    return False


def word_matches(pattern: re.Pattern[str], text: str, start: int = 0, end: int | None = None) -> Iterator[re.Match[str]]:
    """The matches of ``pattern`` in ``text[start:end]`` that start at a word boundary,
    overlapping ones included: what ``\b`` before the pattern finds, for a pattern that starts
    with a word character. Searched without the ``\b``, which would make ``re`` try every
    position instead of scanning for the pattern's literal start."""
    stop = len(text) if end is None else end
    found = pattern.search(text, start, stop)
    while found is not None:
        at = found.start()
        if at_word_start(text, at):
            yield found
        found = pattern.search(text, at + 1, stop)


class _SharedParse:
    """The last module parsed inside ``sharing_parses``."""

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.tree: ast.Module | None = None

    def holds(self, data: bytes) -> bool:
        """Whether ``data`` was the last module parsed in the block."""
        return self.data is not None and self.data == data

    def seed(self, data: bytes, tree: ast.Module) -> None:
        """``tree`` is the parse of ``data``: the next ``parse_module`` of it gives it."""
        self.data, self.tree = data, tree


_shared: _SharedParse | None = None


@contextlib.contextmanager
def sharing_parses() -> Iterator[_SharedParse]:
    """Within the block, ``parse_module`` of the bytes it parsed last gives the same tree again
    (another module's summary and its service facts are both read from one parse). Only inside
    the block: a tree is large, and none is kept past it."""
    global _shared
    outer, _shared = _shared, _SharedParse()
    try:
        yield _shared
    finally:
        _shared = outer


def parse_module(data: bytes, path: str) -> ast.Module:
    """``ast.parse`` of a module's bytes (raising what it raises); see ``sharing_parses``. The
    analysis never modifies a tree, so one can serve two readers."""
    shared = _shared
    if shared is not None and shared.tree is not None and shared.holds(data):
        return shared.tree
    tree = ast.parse(data, filename=path)
    if shared is not None:
        shared.seed(data, tree)
    return tree
