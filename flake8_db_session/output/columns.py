"""Column conversion for front ends that count characters instead of bytes.

The core's column is a 0-based UTF-8 byte offset (what ``ast`` gives and flake8 prints + 1).
SARIF (its default ``columnKind``), LSP and GitHub count UTF-16 code units, which equal
characters for everything outside the astral planes (emoji). Converting needs the line's text:
we read it only for files that have findings, and fall back to the byte column when the text is
not there (stdin, a file deleted since) so an output is never lost over a column.
"""

from __future__ import annotations

from importlib.util import decode_source
from typing import Callable, Optional

LineReader = Callable[[str, int], Optional[str]]


def utf16_column(line_text: str, byte_col: int) -> int:
    """0-based UTF-16 code unit offset of the 0-based UTF-8 byte offset ``byte_col`` in a line."""
    prefix = line_text.encode("utf-8", "surrogatepass")[:byte_col].decode(
        "utf-8", "replace"
    )
    return len(prefix.encode("utf-16-le", "surrogatepass")) // 2


class SourceLines:
    """Reads each file at most once, decoding it as Python does (coding cookie, BOM)."""

    def __init__(self) -> None:
        self._cache: dict[str, list[str] | None] = {}

    def _lines(self, path: str) -> list[str] | None:
        if path == "-":  # stdin was read once and is gone; never open a file named "-"
            return None
        if path not in self._cache:
            try:
                with open(path, "rb") as handle:
                    text = decode_source(handle.read())
            except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
                self._cache[path] = None
            else:
                # decode_source translates \r\n and \r; ast counts lines on \n only (not \f, \x1c...).
                self._cache[path] = text.split("\n")
        return self._cache[path]

    def __call__(self, path: str, line: int) -> str | None:
        lines = self._lines(path)
        if lines is None or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]


def character_column(read_line: LineReader, path: str, line: int, byte_col: int) -> int:
    """1-based UTF-16 column of a finding, or the 1-based byte column when the line is unknown."""
    text = read_line(path, line)
    if text is None:
        return byte_col + 1
    return utf16_column(text, byte_col) + 1
