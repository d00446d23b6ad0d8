"""flake8-compatible text: ``path:row:col: CODE message`` (1-based column, as flake8 prints)."""

from __future__ import annotations

from typing import Sequence

from ..analysis import Finding


def line(finding: Finding) -> str:
    return f"{finding.path}:{finding.line}:{finding.col + 1}: {finding.message}"


def render(findings: Sequence[Finding]) -> str:
    return "".join(line(f) + "\n" for f in findings)
