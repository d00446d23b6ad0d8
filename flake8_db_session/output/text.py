"""flake8-compatible text: ``path:row:col: CODE message`` (1-based column, as flake8 prints),
optionally coloured, with the source line under each finding (``--show-source``) and per-code
statistics (``--statistics``), as flake8 and ruff print them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..analysis import Finding
from ..rules import RULES
from .columns import LineReader

BOLD, RED, CYAN, RESET = "\033[1m", "\033[31m", "\033[36m", "\033[0m"


def line(finding: Finding, color: bool = False) -> str:
    if not color:
        return f"{finding.path}:{finding.line}:{finding.col + 1}: {finding.message}"
    code, _, rest = finding.message.partition(" ")
    return (
        f"{BOLD}{finding.path}{RESET}{CYAN}:{RESET}{finding.line}{CYAN}:{RESET}{finding.col + 1}{CYAN}:{RESET} "
        f"{BOLD}{RED}{code}{RESET} {rest}"
    )


def source_excerpt(finding: Finding, read_line: LineReader) -> str:
    """The finding's line and a caret under its column (tabs kept, so the caret lines up)."""
    text = read_line(finding.path, finding.line)
    if text is None:
        return ""
    prefix = text.encode("utf-8")[: finding.col].decode("utf-8", "replace")
    indent = "".join(char if char == "\t" else " " for char in prefix)
    return f"{text.rstrip()}\n{indent}^\n"


def render(
    findings: Sequence[Finding], *, color: bool = False, read_line: LineReader | None = None
) -> str:
    """One line per finding; with ``read_line``, each followed by its source line and a caret."""
    parts = []
    for finding in findings:
        parts.append(line(finding, color) + "\n")
        if read_line is not None:
            parts.append(source_excerpt(finding, read_line))
    return "".join(parts)


def statistics(findings: Sequence[Finding]) -> str:
    """flake8's ``--statistics``: count, code and what the rule finds, one line per code."""
    counts = Counter(f.code for f in findings)
    return "".join(
        f"{counts[code]:<5} {code} {RULES[code].summary if code in RULES else ''}".rstrip() + "\n"
        for code in sorted(counts)
    )


def closing_line(findings: Sequence[Finding], files: int, not_checked: int, stale_baseline: bool = False) -> str:
    """``Found 3 findings (2 DBS001, 1 DBS005) in 12 files.``, as ruff closes its output."""
    counts = Counter(f.code for f in findings)
    number = len(findings)
    text = f"Found {number} finding{'' if number == 1 else 's'}"
    if counts:
        text += " (" + ", ".join(f"{counts[code]} {code}" for code in sorted(counts)) + ")"
    text += f" in {files} file{'' if files == 1 else 's'}"
    if not_checked:
        text += f"; {not_checked} file{'' if not_checked == 1 else 's'} could not be checked"
    if stale_baseline:
        text += "; the baseline is out of date (see above)"
    return text + ".\n"
