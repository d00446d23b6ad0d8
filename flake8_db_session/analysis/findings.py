"""The Finding value and noqa coverage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# Tags of DBS001/DBS002 findings, counted separately in reports (no tag = plain).
TAGS = (
    "mitigated", "unused", "decorator-db", "streaming", "websocket", "function-scope", "held-across-await", "unreferenced"
)
HELD_TAG = "held-across-await"

# flake8's own noqa syntax (flake8/defaults.py), so both modes agree on what a comment covers.
NOQA_INLINE = re.compile(
    r"# noqa"
    r"(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?",
    re.IGNORECASE,
)
_NOQA_CODE_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class HeldPoint:
    """Something a DBS001/DBS002 session's open transaction is held across: an await, an
    ``async with``/``async for`` over something else, or a blocking call."""

    line: int  # 1-based, in the finding's file (for a helper: the line calling it)
    call: str  # the awaited or blocking call as written, e.g. "client.get"
    kind: str = "await"  # "await", "async with", "async for", "blocking"
    via: str = ""  # for a same-project helper given the session: what it waits on inside

    def describe(self) -> str:
        what = self.call if self.kind in ("await", "blocking") else f"{self.kind} {self.call}"
        return f"{what} (via {self.via})" if self.via else what

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"line": self.line, "call": self.call, "kind": self.kind}
        if self.via:
            data["via"] = self.via
        return data


def _held_point(value: object) -> HeldPoint:
    if isinstance(value, HeldPoint):
        return value
    if isinstance(value, dict):  # read back from JSON (the history cache)
        return HeldPoint(int(value.get("line", 0)), str(value.get("call", "")), str(value.get("kind", "await")), str(value.get("via", "")))
    line, call, *rest = value  # type: ignore[misc]
    return HeldPoint(int(line), str(call), *(str(part) for part in rest))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int  # 1-based
    col: int  # 0-based UTF-8 byte offset, as ast gives it
    code: str
    message: str  # one line, starting with the code
    function: str  # qualified name of the enclosing function, "<module>" at module level
    noqa: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)
    # DBS001/DBS002: the dependency as written (for the grep-style column and the codemod).
    subject: str = ""
    # DBS001/DBS002: what the open transaction is held across (empty: nothing found), and whether
    # the function returns (so the response is serialized and sent) with the transaction open.
    held_across: tuple[HeldPoint, ...] = ()
    open_at_return: bool = False

    def __post_init__(self) -> None:
        if self.held_across and not all(isinstance(point, HeldPoint) for point in self.held_across):
            object.__setattr__(self, "held_across", tuple(_held_point(point) for point in self.held_across))
        elif isinstance(self.held_across, list):
            object.__setattr__(self, "held_across", tuple(self.held_across))

    @property
    def status(self) -> str:
        return ",".join(sorted(self.tags)) if self.tags else "plain"


def noqa_covers(line_text: str, code: str) -> bool:
    """Whether a physical line's ``# noqa`` comment covers ``code`` (flake8 semantics)."""
    codes = _noqa_codes(line_text)
    if codes is None:
        return False
    return not codes or code in codes or code.startswith(codes)


@lru_cache(maxsize=512)
def _noqa_codes(line_text: str) -> tuple[str, ...] | None:
    """The codes a line's ``# noqa`` names (empty: all), or None without one. Cached per line, so
    a line holding thousands of findings is scanned once, not once per finding."""
    if "noqa" not in line_text.lower():
        return None
    match = NOQA_INLINE.search(line_text)
    if match is None:
        return None
    codes_text = match.group("codes")
    if not codes_text:
        return ()  # bare noqa covers everything
    return tuple(sorted({c for c in _NOQA_CODE_SPLIT.split(codes_text.strip()) if c}))
