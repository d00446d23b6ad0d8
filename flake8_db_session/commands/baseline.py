"""``flake8-db-session baseline [PATHS]``: write the burndown baseline from the current code."""

from __future__ import annotations

import argparse
import os
import sys

from .. import runner
from ..burndown import baseline as baseline_file
from ..burndown.baseline import Baseline, BaselineError, ProtectedBaselineError
from ..burndown.counts import module_key
from ..burndown.workflow import baseline_path, display
from .common import add_jobs_argument, add_settings_arguments, settings_from_args

NAME = "baseline"
HELP = "write the burndown baseline (per module, code and function counts of the ratcheted codes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories (default: the files git tracks); with paths, only their entries are replaced",
    )
    parser.add_argument(
        "-o",
        "--output-file",
        "--baseline-file",
        dest="baseline_file",
        metavar="PATH",
        help="write the baseline here instead of the db-session-baseline file",
    )
    add_jobs_argument(parser)
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    path = baseline_path(settings, args.baseline_file)
    files = runner.discover(args.paths, settings)
    result = runner.run(files, settings, jobs=args.jobs)
    for failed in result.errors:
        print(f"{failed.path}: error: {failed.error}", file=sys.stderr)
    if result.errors:
        print(f"flake8-db-session: {display(path)} not written: fix the files above first", file=sys.stderr)
        return 2
    fresh = Baseline.from_findings(result.findings, root=settings.root, codes=settings.ratchet_codes)

    old: Baseline | None = None
    try:
        old = baseline_file.load(path)
    except BaselineError as exc:
        if args.paths or isinstance(exc, ProtectedBaselineError):
            raise  # a partial update needs the rest of the file; a newer format is never replaced
        print(f"flake8-db-session: replacing an unreadable baseline ({exc})", file=sys.stderr)
    if args.paths and old is not None:
        # Replace only what was checked; keep every other module's entries.
        if set(old.codes) != set(fresh.codes):
            raise BaselineError(
                f"{display(path)}: records {', '.join(old.codes)} but db-session-ratchet-codes is "
                f"{', '.join(fresh.codes)}; rewrite it whole with `flake8-db-session baseline`"
            )
        checked = {module_key(f, settings.root) for f in files}
        kept = {
            key: number
            for key, number in old.entries.items()
            if key[0] not in checked and os.path.exists(os.path.join(settings.root, key[0]))
        }
        fresh = Baseline(fresh.codes, {**kept, **fresh.entries})

    changed = baseline_file.write(path, fresh)
    totals: dict[str, int] = {}
    for (_module, code, _function), number in fresh.entries.items():
        totals[code] = totals.get(code, 0) + number
    summary = ", ".join(f"{code} {totals.get(code, 0)}" for code in fresh.codes)
    delta = ""
    if old is not None:
        before = sum(old.entries.values())
        after = sum(fresh.entries.values())
        delta = f" ({after - before:+d} since the previous baseline)"
    state = "wrote" if changed else "unchanged"
    modules = len(fresh.modules())
    print(f"{state} {display(path)}: {summary} in {modules} module{'' if modules == 1 else 's'}{delta}")
    return 0
