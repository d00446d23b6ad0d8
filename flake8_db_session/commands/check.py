"""``flake8-db-session check [PATHS]``: flake8-style findings, without pycodestyle or pyflakes."""

from __future__ import annotations

import argparse
import os
import sys

from .. import discovery_report, runner
from ..output import FORMATTERS, github
from ..burndown.workflow import RatchetCheck, add_ratchet_arguments
from .common import add_jobs_argument, add_settings_arguments, settings_from_args

NAME = "check"
HELP = "report findings in flake8's format (default: the files git tracks)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories; '-' reads stdin")
    parser.add_argument("--format", choices=sorted(FORMATTERS), default="text", help="output format (default: text)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    parser.add_argument("--disable-noqa", action="store_true", help="report findings covered by # noqa too")
    parser.add_argument("--output-file", metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument(
        "--discovered", action="store_true", help="list the session providers, scopes and aliases found (on stderr)"
    )
    add_ratchet_arguments(parser)
    add_jobs_argument(parser)
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    ratchet = RatchetCheck.start(args, settings)  # a missing or corrupt baseline stops here (exit 2)
    files = runner.discover(args.paths, settings)
    result = runner.run(files, settings, jobs=args.jobs)
    for failed in result.errors:
        print(f"{failed.path}: error: {failed.error}", file=sys.stderr)
    findings = runner.reportable(result, settings, disable_noqa=args.disable_noqa)
    discovery_report.section(args, files, result, settings, stdout=False)
    if ratchet is not None:
        findings = ratchet.finish(result, findings)
    text = FORMATTERS[args.format](findings)
    if args.output_file:
        from ..fileio import write_atomic

        write_atomic(args.output_file, text)
    else:
        sys.stdout.write(text)
    if github.enabled(os.environ):
        # Workflow commands are read from stdout and stderr alike: keep a JSON/SARIF stdout clean.
        machine_stdout = args.format not in ("text", "github") and not args.output_file
        github.report_to_actions(
            findings,
            environ=os.environ,
            stream=sys.stderr if machine_stdout else sys.stdout,
            annotate=args.format != "github" or bool(args.output_file),  # not twice on stdout
        )
    if result.errors:
        return 2
    failed = bool(findings) or (ratchet is not None and ratchet.failed)
    return 1 if failed and not args.exit_zero else 0
