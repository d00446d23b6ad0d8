"""JSON: one object per finding, sorted, stable keys; ``column`` is 1-based (the core's byte offset + 1)
and ``message`` is the text without the code, which is its own field."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..analysis import Finding
from .severity import message_text


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "path": finding.path,
        "line": finding.line,
        "column": finding.col + 1,
        "code": finding.code,
        "message": message_text(finding.code, finding.message),
        "function": finding.function,
        "status": finding.status,
        "noqa": finding.noqa,
        "held_across": [point.to_dict() for point in finding.held_across],
    }


def render(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_dict(f) for f in findings], indent=2, sort_keys=True) + "\n"
