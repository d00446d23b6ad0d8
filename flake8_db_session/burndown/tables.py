"""Renderings of per-module counts: terminal table (worst first), JSON, CSV, Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Callable, Mapping, Optional

from .counts import STATUSES, Counts, ModuleCounts

# (module, code) -> allowed by the baseline, for the ratcheted codes; None = no baseline column.
Allowed = Optional[Mapping[str, int]]


def code_column(code: str) -> Callable[[ModuleCounts], object]:
    return lambda m: m.codes.get(code, 0)


def status_column(status: str) -> Callable[[ModuleCounts], object]:
    return lambda m: m.statuses.get(status, 0)


def _columns(counts: Counts, allowed: Allowed) -> list[tuple[str, Callable[[ModuleCounts], object]]]:
    columns: list[tuple[str, Callable[[ModuleCounts], object]]] = [("module", lambda m: m.module)]
    for code in counts.codes():
        columns.append((code, code_column(code)))
    columns.append(("total", lambda m: m.total))
    for status in STATUSES:
        columns.append((status, status_column(status)))
    columns.append(("noqa", lambda m: m.noqa))
    columns.append(("grep", lambda m: m.grep))
    if allowed is not None:
        columns.append(("baseline", lambda m: allowed.get(m.module, 0)))
    return columns


def _rows(counts: Counts, allowed: Allowed) -> tuple[list[str], list[list[object]], list[object]]:
    columns = _columns(counts, allowed)
    header = [name for name, _ in columns]
    rows = [[get(m) for _, get in columns] for m in counts.worst_first()]
    totals = counts.totals
    total_allowed = sum(allowed.values()) if allowed is not None else 0
    total_row: list[object] = []
    for name, get in columns:
        total_row.append(total_allowed if name == "baseline" else get(totals))
    number = len(counts.modules)
    total_row[0] = f"TOTAL ({number} module{'' if number == 1 else 's'})"
    return header, rows, total_row


def render_table(counts: Counts, allowed: Allowed = None) -> str:
    header, rows, total_row = _rows(counts, allowed)
    cells = [header, *([str(c) for c in row] for row in rows), [str(c) for c in total_row]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = "  ".join(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))
        return f"{first}  {rest}".rstrip()

    rule = "-" * len(fmt(header))
    lines = [fmt(header), rule, *(fmt(row) for row in cells[1:-1]), rule, fmt(cells[-1])]
    return "\n".join(lines) + "\n"


def render_markdown(counts: Counts, allowed: Allowed = None) -> str:
    header, rows, total_row = _rows(counts, allowed)

    def fmt(row: list[object], bold: bool = False) -> str:
        cells = [str(c).replace("|", "\\|") for c in row]
        cells[0] = f"`{cells[0]}`" if not bold else f"**{cells[0]}**"
        if bold:
            cells[1:] = [f"**{c}**" for c in cells[1:]]
        return "| " + " | ".join(cells) + " |"

    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * (len(header) - 1),
        *(fmt(row) for row in rows),
        fmt(total_row, bold=True),
    ]
    return "\n".join(lines) + "\n"


def render_csv(counts: Counts, allowed: Allowed = None) -> str:
    header, rows, total_row = _rows(counts, allowed)
    total_row[0] = "TOTAL"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    writer.writerow(total_row)
    return buffer.getvalue()


def render_json(counts: Counts, allowed: Allowed = None) -> str:
    data = counts.to_dict()
    if allowed is not None:
        for row in data["modules"]:
            row["baseline"] = allowed.get(row["module"], 0)
        data["totals"]["baseline"] = sum(allowed.values())
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


RENDERERS: dict[str, Callable[[Counts, Allowed], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
}
