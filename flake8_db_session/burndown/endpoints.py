"""``report --endpoints``: one row per DBS001/DBS002 site, highest fix priority first.

A count per module says how much is left; this list says where to start. What exhausts a pool is
a transaction left open while the request waits on something else, so the priority of a site is
its tier times 100, plus, in tier 4, 50 for a streaming or websocket endpoint (the wait can last
as long as the stream) and how many waits were found (at most 49):

- 4 held across an await or a blocking call (an upstream HTTP call, an LLM, a sleep): a pooled
  connection sits idle in transaction for as long as the wait lasts;
- 3 a streaming or websocket endpoint whose session is still in a transaction when it returns:
  held for the whole stream or connection;
- 2 in a transaction when the function returns: held while the response is serialized and sent
  (for a helper dependency: when the endpoint body starts);
- 1 the session is used, but committed, rolled back or closed on every path before the return;
- 0 the session is never used in the body: no connection is checked out.

Pure: findings in, rows and text out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from ..analysis.findings import HELD_TAG, Finding
from .counts import STATUS_CODES, module_key

TIERS = {
    4: "held across an await or blocking call",
    3: "streaming/websocket, open at return",
    2: "open at return",
    1: "used, released before return",
    0: "not used",
}
_STREAMS = frozenset({"streaming", "websocket"})
_MAX_WAITS = 49
_STREAM_BONUS = 50


def tier(finding: Finding) -> int:
    if HELD_TAG in finding.tags or finding.held_across:
        return 4
    if finding.open_at_return:
        return 3 if finding.tags & _STREAMS else 2
    if "unused" in finding.tags:
        return 0
    return 1


def priority(finding: Finding) -> int:
    level = tier(finding)
    if level < 4:
        return level * 100
    bonus = _STREAM_BONUS if finding.tags & _STREAMS else 0
    return level * 100 + bonus + min(len(finding.held_across), _MAX_WAITS)


@dataclass(frozen=True)
class EndpointRow:
    path: str
    line: int
    column: int  # 1-based, as flake8 prints it
    code: str
    function: str
    tags: tuple[str, ...]
    held_across: tuple[dict[str, Any], ...]
    open_at_return: bool
    noqa: bool
    priority: int

    @property
    def held_text(self) -> str:
        def one(point: dict[str, Any]) -> str:
            kind = f"{point['kind']} " if point.get("kind") in ("async with", "async for") else ""
            via = f" via {point['via']}" if point.get("via") else ""
            return f"{kind}{point['call']}{via} (line {point['line']})"

        return ", ".join(one(point) for point in self.held_across)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "function": self.function,
            "tags": list(self.tags),
            "held_across": list(self.held_across),
            "open_at_return": self.open_at_return,
            "noqa": self.noqa,
            "priority": self.priority,
        }


def endpoint_rows(findings: Iterable[Finding], root: str = ".") -> list[EndpointRow]:
    """The DBS001/DBS002 sites (noqa'd included: a comment does not release a connection),
    highest priority first, then by path and line."""
    rows = [
        EndpointRow(
            path=module_key(f.path, root),
            line=f.line,
            column=f.col + 1,
            code=f.code,
            function=f.function,
            tags=tuple(sorted(f.tags)) or ("plain",),
            held_across=tuple(p.to_dict() for p in f.held_across),
            open_at_return=f.open_at_return,
            noqa=f.noqa,
            priority=priority(f),
        )
        for f in findings
        if f.code in STATUS_CODES
    ]
    rows.sort(key=lambda r: (-r.priority, r.path, r.line, r.column))
    return rows


_COLUMNS: list[tuple[str, Callable[[EndpointRow], object]]] = [
    ("priority", lambda r: r.priority),
    ("path", lambda r: r.path),
    ("line", lambda r: r.line),
    ("function", lambda r: r.function),
    ("code", lambda r: r.code),
    ("tags", lambda r: ",".join(r.tags)),
    ("open at return", lambda r: "yes" if r.open_at_return else "no"),
    ("held across", lambda r: r.held_text),
]


def _summary(rows: Sequence[EndpointRow]) -> str:
    held = sum(1 for r in rows if r.priority >= 400)
    return f"{len(rows)} site{'' if len(rows) == 1 else 's'}, {held} held across an await or blocking call"


def render_table(rows: Sequence[EndpointRow]) -> str:
    header = [name for name, _ in _COLUMNS]
    cells = [header, *([str(get(r)) for _, get in _COLUMNS] for r in rows)]
    # The last column is free text: not padded.
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]

    def fmt(row: list[str]) -> str:
        padded = [cell.rjust(width) if i in (0, 2) else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        return "  ".join([*padded, row[-1]]).rstrip()

    lines = [fmt(header), "-" * len(fmt(header)), *(fmt(row) for row in cells[1:]), _summary(rows)]
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[EndpointRow]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=2, sort_keys=True) + "\n"


def render_csv(rows: Sequence[EndpointRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in _COLUMNS])
    writer.writerows([get(r) for _, get in _COLUMNS] for r in rows)
    return buffer.getvalue()


def render_markdown(rows: Sequence[EndpointRow]) -> str:
    def fmt(values: Sequence[object]) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    header = [name for name, _ in _COLUMNS]
    lines = [fmt(header), "| ---: | --- | ---: |" + " --- |" * (len(header) - 3)]
    for r in rows:
        values: list[object] = [get(r) for _, get in _COLUMNS]
        values[1] = f"`{values[1]}`"
        lines.append(fmt(values))
    lines.append("")
    lines.append(_summary(rows))
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Sequence[EndpointRow]], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
}


def render(fmt: str, findings: Iterable[Finding], root: str = ".") -> str:
    return RENDERERS[fmt](endpoint_rows(findings, root))
