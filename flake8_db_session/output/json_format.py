"""JSON: one object per finding, sorted, stable keys (0-based byte column as in the core)."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..analysis import Finding


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "path": finding.path,
        "line": finding.line,
        "column": finding.col + 1,
        "code": finding.code,
        "message": finding.message,
        "function": finding.function,
        "status": finding.status,
        "noqa": finding.noqa,
        "held_across": [point.to_dict() for point in finding.held_across],
    }


def render(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_dict(f) for f in findings], indent=2, sort_keys=True) + "\n"
