"""GitHub Actions: workflow-command annotations and a Markdown job summary.

GitHub shows about 10 annotations of each kind per step, so we annotate the first ``LIMIT``
findings (with a baseline: only the new ones) and add a notice that says how many more there are;
the whole list goes to the job summary (``$GITHUB_STEP_SUMMARY``, at most 1 MiB per step).
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

from ..analysis import Finding
from ..fileio import write_atomic
from ..rules import RULES
from .columns import LineReader, SourceLines, character_column
from .severity import severity

LIMIT = 10
SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts from one step's summary file
_SUMMARY_MARGIN = 4096  # headroom for the closing lines we add after the budget check


def enabled(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workspace_path(path: str, environ: Mapping[str, str]) -> str:
    """The path relative to the checkout (GitHub resolves ``file=`` against it)."""
    workspace = environ.get("GITHUB_WORKSPACE") or os.getcwd()
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, os.path.abspath(workspace))
    if relative.startswith(os.pardir):
        relative = path
    return relative.replace(os.sep, "/")


def annotation(finding: Finding, column: int, environ: Mapping[str, str]) -> str:
    properties = ",".join(
        [
            f"file={escape_property(workspace_path(finding.path, environ))}",
            f"line={finding.line}",
            f"col={column}",
            f"title={escape_property(finding.code)}",
        ]
    )
    return f"::{severity(finding.code)} {properties}::{escape_data(finding.message)}"


_ERROR_LINE = re.compile(r"\bat line (\d+)")


def error_annotation(path: str, why: str, environ: Mapping[str, str]) -> str:
    """A file that could not be checked (read, decode, parse): an error on the file (at its line
    when the reason names one), so a broken file never passes as "0 findings"."""
    properties = [f"file={escape_property(workspace_path(path, environ))}"]
    match = _ERROR_LINE.search(why)
    if match:
        properties.append(f"line={match.group(1)}")
    properties.append("title=flake8-db-session")
    return f"::error {','.join(properties)}::{escape_data(f'not checked: {why}')}"


def workflow_commands(
    findings: Sequence[Finding],
    *,
    environ: Mapping[str, str],
    read_line: LineReader | None = None,
    limit: int = LIMIT,
    baseline_used: bool = False,
    errors: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Annotations for the files that could not be checked and the first ``limit`` findings, then
    a notice counting the rest."""
    read_line = read_line or SourceLines()
    lines = [error_annotation(path, why, environ) for path, why in errors]
    lines += [
        annotation(f, character_column(read_line, f.path, f.line, f.col), environ)
        for f in findings[:limit]
    ]
    rest = len(findings) - limit
    if rest > 0:
        what = "new findings" if baseline_used else "findings"
        where = (
            "the job summary" if environ.get("GITHUB_STEP_SUMMARY") else "the step log"
        )
        lines.append(
            f"::notice title=flake8-db-session::{rest} more {what} not annotated "
            f"(GitHub shows about {limit} per step); see {where}"
        )
    return lines


def render(findings: Sequence[Finding]) -> str:
    """``--format github``: the annotations alone, resolved against the real environment."""
    return "".join(line + "\n" for line in workflow_commands(findings, environ=os.environ))


# --- job summary -----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def summary_markdown(
    findings: Sequence[Finding],
    *,
    new: Sequence[Finding] | None = None,
    budget: int = SUMMARY_LIMIT - _SUMMARY_MARGIN,
    errors: Sequence[tuple[str, str]] = (),
) -> str:
    """Files not checked, counts per code and per module, then each finding (new ones first), cut
    to ``budget`` bytes."""
    out: list[str] = []
    head = f"## flake8-db-session: {len(findings)} finding{'s' if len(findings) != 1 else ''}"
    if new is not None:
        head += f", {len(new)} new against the baseline"
    if errors:
        head += f", {len(errors)} file{'s' if len(errors) != 1 else ''} not checked"
    out += [head, ""]
    if errors:
        out += ["### Files not checked", "", "| file | why |", "| --- | --- |"]
        out += [f"| `{_cell(path)}` | {_cell(why)} |" for path, why in errors[:100]]
        if len(errors) > 100:
            out.append(f"| ... | {len(errors) - 100} more |")
        out.append("")
    if findings:
        out += _code_table(findings) + [""] + _module_table(findings) + [""]
    new_set = set(new or ())
    listed = list(new or ()) + [f for f in findings if f not in new_set]
    if listed:
        out += [
            "### Findings",
            "",
            "| location | code | function | message |",
            "| --- | --- | --- | --- |",
        ]
    size = sum(len(line.encode("utf-8")) + 1 for line in out)
    shown = 0
    for finding in listed:
        row = _finding_row(finding, finding in new_set)
        cost = len(row.encode("utf-8")) + 1
        if size + cost > budget:
            break
        out.append(row)
        size += cost
        shown += 1
    if shown < len(listed):
        out += [
            "",
            f"{len(listed) - shown} more findings not listed (GitHub keeps 1 MiB of summary per step).",
        ]
    return "\n".join(out) + "\n"


def _code_table(findings: Iterable[Finding]) -> list[str]:
    counts = Counter(f.code for f in findings)
    rows = ["| code | findings | rule |", "| --- | ---: | --- |"]
    for code in sorted(counts):
        summary = RULES[code].summary if code in RULES else ""
        rows.append(f"| {code} | {counts[code]} | {_cell(summary)} |")
    return rows


def _module_table(findings: Sequence[Finding]) -> list[str]:
    codes = sorted({f.code for f in findings})
    per_file: dict[str, Counter] = defaultdict(Counter)
    for finding in findings:
        per_file[finding.path][finding.code] += 1
    rows = [
        "| file | " + " | ".join(codes) + " | total |",
        "| --- |" + " ---: |" * (len(codes) + 1),
    ]
    for path in sorted(per_file, key=lambda p: (-sum(per_file[p].values()), p)):
        counts = per_file[path]
        cells = " | ".join(str(counts.get(code, 0)) for code in codes)
        rows.append(f"| {_cell(path)} | {cells} | {sum(counts.values())} |")
    return rows


def _finding_row(finding: Finding, is_new: bool) -> str:
    location = f"{finding.path}:{finding.line}:{finding.col + 1}"
    mark = " (new)" if is_new else ""
    return f"| `{_cell(location)}`{mark} | {finding.code} | `{_cell(finding.function)}` | {_cell(finding.message)} |"


def write_step_summary(path: str, markdown: str) -> None:
    """Append to the step's summary file, keeping what earlier commands of the step wrote."""
    try:
        with open(path, "rb") as handle:
            existing = handle.read()
    except FileNotFoundError:
        existing = b""
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    write_atomic(path, existing + markdown.encode("utf-8"))


def summary_budget(path: str) -> int:
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    return max(0, SUMMARY_LIMIT - used - _SUMMARY_MARGIN)


def report_to_actions(
    findings: Sequence[Finding],
    *,
    environ: Mapping[str, str],
    stream: TextIO,
    new: Sequence[Finding] | None = None,
    annotate: bool = True,
    errors: Sequence[tuple[str, str]] = (),
) -> None:
    """Annotate (only the new findings when a baseline is used) and write the job summary; files
    that could not be checked are annotated and listed in both."""
    if annotate:
        shown = new if new is not None else findings
        commands = workflow_commands(shown, environ=environ, baseline_used=new is not None, errors=errors)
        for line in commands:
            stream.write(line + "\n")
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if not summary_path:
        return
    try:
        markdown = summary_markdown(findings, new=new, budget=summary_budget(summary_path), errors=errors)
        write_step_summary(summary_path, markdown)
    except OSError as exc:  # a summary is a convenience: never fail the gate over it
        print(
            f"flake8-db-session: cannot write the job summary: {exc}", file=sys.stderr
        )
