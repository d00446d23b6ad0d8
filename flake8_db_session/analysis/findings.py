"""The Finding value and noqa coverage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Tags of DBS001/DBS002 findings, counted separately in reports (no tag = plain).
TAGS = ("mitigated", "unused", "decorator-db", "streaming", "websocket", "function-scope", "unreferenced")

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
    if "noqa" not in line_text.lower():
        return False
    match = NOQA_INLINE.search(line_text)
    if match is None:
        return False
    codes_text = match.group("codes")
    if not codes_text:
        return True  # bare noqa covers everything
    codes = {c for c in _NOQA_CODE_SPLIT.split(codes_text.strip()) if c}
    return code in codes or code.startswith(tuple(codes))
