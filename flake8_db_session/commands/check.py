"""``flake8-db-session check [PATHS]``: flake8-style findings, without pycodestyle or pyflakes."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from .. import discovery_report, runner
from .ratchet import RatchetCheck, add_ratchet_arguments
from ..fileio import write_atomic
from ..output import FORMATTERS, github, sarif, text
from ..output.columns import SourceLines
from .common import (
    add_color_argument,
    add_jobs_argument,
    add_output_argument,
    add_settings_arguments,
    emit,
    settings_from_args,
    use_color,
)

NAME = "check"
HELP = "report findings in flake8's format (default: the files git tracks)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories; '-' reads stdin")
    parser.add_argument("--format", choices=sorted(FORMATTERS), default="text", help="output format (default: text)")
    add_output_argument(parser)
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    parser.add_argument("--disable-noqa", action="store_true", help="report findings covered by # noqa too")
    parser.add_argument(
        "--discovered", action="store_true", help="list the session providers, scopes and aliases found (on stderr)"
    )
    parser.add_argument(
        "--show-source", action="store_true", help="show the source line and a caret under each finding (text)"
    )
    parser.add_argument(
        "--statistics", action="store_true", help="print the number of findings of each code after the findings"
    )
    parser.add_argument("--count", action="store_true", help="print the total number of findings at the end")
    parser.add_argument(
        "--stdin-display-name",
        metavar="NAME",
        help="the path to report for '-' (stdin); it also selects per-file-ignores (default: -)",
    )
    parser.add_argument(
        "--sarif-file",
        metavar="FILE",
        help="also write every reportable finding as SARIF 2.1.0 to FILE (one step for the gate and code scanning)",
    )
    add_color_argument(parser)
    add_ratchet_arguments(parser)
    add_jobs_argument(parser)
    add_settings_arguments(parser)


def _rename_stdin(result: runner.RunResult, name: str) -> runner.RunResult:
    """Findings of '-' carry ``--stdin-display-name``, as in flake8."""
    if not name or name == "-" or not any(r.path == "-" for r in result.files):
        return result
    files = []
    for file_result in result.files:
        if file_result.path == "-":
            file_result = dataclasses.replace(
                file_result,
                path=name,
                findings=[dataclasses.replace(f, path=name) for f in file_result.findings],
            )
        files.append(file_result)
    return dataclasses.replace(result, files=files)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    ratchet = RatchetCheck.start(args, settings)  # a missing or corrupt baseline stops here (exit 2)
    files = runner.discover(args.paths, settings)
    result = _rename_stdin(runner.run(files, settings, jobs=args.jobs), args.stdin_display_name)
    for unreadable in result.errors:
        print(f"{unreadable.path}: error: {unreadable.error}", file=sys.stderr)
    findings = runner.reportable(result, settings, disable_noqa=args.disable_noqa)
    discovery_report.section(args, files, result, settings, stdout=False)
    if args.sarif_file:
        write_atomic(args.sarif_file, sarif.render(findings))
    if ratchet is not None:
        findings = ratchet.finish(result, findings)

    if args.format == "text":
        color = use_color(args.color, sys.stdout, args.output_file)
        report = text.render(findings, color=color, read_line=SourceLines() if args.show_source else None)
    else:
        report = FORMATTERS[args.format](findings)
    machine = args.format in ("json", "sarif")
    # Counts after the report, as flake8 prints them (into --output-file too); beside a JSON or
    # SARIF report they go to stderr, so the report stays parseable.
    extra = text.statistics(findings) if args.statistics else ""
    extra += f"{len(findings)}\n" if args.count else ""
    if extra and not machine:
        report += extra
        extra = ""
    emit(report, args.output_file)
    sys.stdout.flush()
    if extra:
        sys.stderr.write(extra)
    if args.format == "text" and sys.stderr.isatty():
        # ruff's closing line, for a person at a terminal: on stderr, so stdout stays flake8's
        # format, and not in pipes, hooks and CI logs, whose stderr stays exactly as before.
        stale = ratchet is not None and ratchet.failed and not any(f.code == "DBS100" for f in findings)
        sys.stderr.write(text.closing_line(findings, len(result.files), len(result.errors), stale))

    if github.enabled(os.environ) and args.format != "sarif":
        # A SARIF report goes to code scanning, which annotates it itself: annotating and
        # summarizing here too would show every finding twice in the job.
        machine_stdout = machine and not args.output_file
        github.report_to_actions(
            findings,
            environ=os.environ,
            # Workflow commands are read from stdout and stderr alike: keep a JSON stdout clean.
            stream=sys.stderr if machine_stdout else sys.stdout,
            annotate=args.format != "github" or bool(args.output_file),  # not twice on stdout
            errors=[(r.path, r.error) for r in result.errors],
        )
    if result.errors:
        return 2
    failed = bool(findings) or (ratchet is not None and ratchet.failed)
    return 1 if failed and not args.exit_zero else 0
