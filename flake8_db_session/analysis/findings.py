"""The Finding value and noqa coverage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# Tags of DBS001/DBS002 findings, counted separately in reports (no tag = plain).
TAGS = ("mitigated", "unused", "decorator-db", "streaming", "websocket", "function-scope")

# flake8's own noqa syntax (flake8/defaults.py), so both modes agree on what a comment covers.
NOQA_INLINE = re.compile(
    r"# noqa"
    r"(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?",
    re.IGNORECASE,
)
_NOQA_CODE_SPLIT = re.compile(r"[,\s]+")


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
