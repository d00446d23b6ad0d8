"""``flake8-db-session report [PATHS]``: the burndown table, findings per module, code and status."""

from __future__ import annotations

import argparse
import sys

from .. import discovery_report, runner
from ..burndown import endpoints
from ..burndown.counts import ModuleCounts, counts_for_run
from ..burndown.tables import RENDERERS
from ..burndown.workflow import baseline_path, checked_files, load_required
from ..fileio import write_atomic
from .common import add_jobs_argument, add_output_argument, add_settings_arguments, settings_from_args
from .ratchet import ratchet

NAME = "report"
HELP = "per-module counts by code and status, noqa'd and grep-style columns (sorted worst first)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: the files git tracks)")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="table", help="output format (default: table)")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="add the baseline column and fail (exit 1) when a module is over its baseline (never writes it)",
    )
    parser.add_argument("--baseline-file", metavar="PATH", help="the baseline to compare with (implies --baseline)")
    add_output_argument(parser)
    parser.add_argument(
        "--discovered", action="store_true", help="also list the session providers, scopes and aliases found in the code"
    )
    parser.add_argument(
        "--endpoints",
        action="store_true",
        help="one row per DBS001/DBS002 site with what its transaction is held across and a fix priority (highest first)",
    )
    add_jobs_argument(parser)
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    use_baseline = args.baseline or bool(args.baseline_file)
    baseline = load_required(baseline_path(settings, args.baseline_file)) if use_baseline else None
    files = runner.discover(args.paths, settings)
    result = runner.run(files, settings, jobs=args.jobs)
    for failed in result.errors:
        print(f"{failed.path}: error: {failed.error}", file=sys.stderr)
    if args.endpoints:
        return _endpoints(args, result, settings.root)
    counts = counts_for_run(result, settings)

    allowed: dict[str, int] | None = None
    outcome = None
    if baseline is not None:
        outcome = ratchet(result.findings, checked_files(result), settings, baseline)
        codes = set(settings.ratchet_codes) & set(baseline.codes)
        allowed = {}
        for (module, code), number in baseline.by_module_code().items():
            if code in codes:
                allowed[module] = allowed.get(module, 0) + number
        # A module burnt down to zero keeps its row, so the drop shows.
        checked = {t.module for t in outcome.tightenings}
        for module in checked:
            counts.modules.setdefault(module, ModuleCounts(module))
        allowed = {m: n for m, n in allowed.items() if m in counts.modules}

    text = RENDERERS[args.format](counts, allowed)
    text += discovery_report.section(args, files, result, settings, stdout=args.format == "table")
    if args.output_file:
        write_atomic(args.output_file, text)
    else:
        sys.stdout.write(text)

    if outcome is not None:
        for overrun in outcome.overruns:
            path, line, col, _function = overrun.location()
            print(f"{path}:{line}:{col + 1}: {overrun.message()}", file=sys.stderr)
    if result.errors:
        return 2
    return 1 if outcome is not None and outcome.failed else 0


def _endpoints(args: argparse.Namespace, result: runner.RunResult, root: str) -> int:
    text = endpoints.render(args.format, result.findings, root)
    if args.output_file:
        write_atomic(args.output_file, text)
    else:
        sys.stdout.write(text)
    return 2 if result.errors else 0
