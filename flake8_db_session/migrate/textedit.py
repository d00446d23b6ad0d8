"""Line-level text helpers: indentation, and which lines sit inside a multi-line string."""

from __future__ import annotations

import io
import tokenize

_STRING_STARTS = {"FSTRING_START", "TSTRING_START"}
_STRING_ENDS = {"FSTRING_END", "TSTRING_END"}


def string_interior_rows(source: str) -> frozenset[int]:
    """1-based rows that start inside a string literal (continuation lines of multi-line strings).

    Their leading whitespace is string content: re-indenting must not touch them.
    """
    rows: set[int] = set()
    open_starts: list[int] = []  # rows of f-/t-string starts (they nest)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind = tokenize.tok_name.get(token.type, "")
            if kind in _STRING_STARTS:
                open_starts.append(token.start[0])
            elif kind in _STRING_ENDS and open_starts:
                start = open_starts.pop()
                if not open_starts:
                    rows.update(range(start + 1, token.end[0] + 1))
            elif token.type == tokenize.STRING and token.end[0] > token.start[0] and not open_starts:
                rows.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        # The caller parsed the file already; tokenize disagreeing is not worth a crash, and
        # re-indenting nothing inside strings keeps the guarantee.
        pass
    return frozenset(rows)


def indent_unit(def_line: str, body_line: str) -> str:
    """The indentation step of a body relative to its ``def`` line (4 spaces, a tab, ...)."""
    outer = def_line[: len(def_line) - len(def_line.lstrip())]
    inner = body_line[: len(body_line) - len(body_line.lstrip())]
    if inner.startswith(outer) and len(inner) > len(outer):
        return inner[len(outer) :]
    return "    "


def leading_whitespace(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t\f"))]


def indent_lines(lines: list[str], first_row: int, unit: str, keep: frozenset[int]) -> list[str]:
    """Prefix each line with ``unit``, except blank lines and rows in ``keep`` (string interiors)."""
    out = []
    for offset, line in enumerate(lines):
        row = first_row + offset
        if row in keep or not line.strip():
            out.append(line)
        else:
            out.append(unit + line)
    return out
