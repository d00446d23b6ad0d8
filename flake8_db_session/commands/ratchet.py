"""The ratchet as the commands present it: ``check``'s ratchet arguments, the run of the comparison
with its notes on stderr, and the rewrite of the baseline when counts drop or functions move."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..burndown.baseline import Baseline
from ..burndown.counts import module_key
from ..burndown.ratchet import RatchetResult
from ..burndown.workflow import (
    baseline_path,
    checked_files,
    compare_with_baseline,
    describe_moves,
    describe_tightenings,
    display,
    load_required,
)
from ..config import Settings
from ..fileio import write_atomic


def add_ratchet_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("burndown ratchet")
    group.add_argument(
        "--baseline",
        action="store_true",
        help="enforce the baseline: a module over it fails (DBS100, naming the new functions) and only "
        "new findings of ratcheted codes are listed; other codes are reported and fail as without it; "
        "counts that drop and functions that move rewrite the baseline",
    )
    group.add_argument(
        "--baseline-file", metavar="PATH", help="the baseline to enforce instead of db-session-baseline (implies --baseline)"
    )
    group.add_argument(
        "--frozen-baseline",
        action="store_true",
        help="never rewrite the baseline; fail when counts dropped or functions moved until it is rewritten (for CI)",
    )


def ratchet(findings, files: Sequence[str], settings: Settings, baseline: Baseline) -> RatchetResult:
    """Compare with the baseline; a note on stderr for each ratcheted code it does not cover."""
    result = compare_with_baseline(findings, files, settings, baseline)
    for code in result.uncovered:
        print(
            f"flake8-db-session: note: the baseline does not cover {code}; run "
            "`flake8-db-session baseline` to start ratcheting it",
            file=sys.stderr,
        )
    return result


class RatchetCheck:
    """The ratchet inside ``check``: load the baseline before analysis, filter and judge after."""

    def __init__(self, path: str, baseline: Baseline, settings: Settings, frozen: bool) -> None:
        self.path = path
        self.baseline = baseline
        self.settings = settings
        self.frozen = frozen
        self.failed = False

    @classmethod
    def start(cls, args: argparse.Namespace, settings: Settings) -> RatchetCheck | None:
        if not (getattr(args, "baseline", False) or getattr(args, "baseline_file", None)):
            return None
        path = baseline_path(settings, args.baseline_file)
        return cls(path, load_required(path), settings, bool(getattr(args, "frozen_baseline", False)))

    def finish(self, run_result, shown) -> list:
        """The findings to show: ratcheted ones only for new functions, plus one DBS100 per overrun.

        ``run_result`` is the runner's RunResult; a file that could not be parsed is left out of
        the comparison (its count is unknown, not zero) and nothing is rewritten on such a run.
        """
        result = ratchet(run_result.findings, checked_files(run_result), self.settings, self.baseline)
        enforced = set(self.settings.ratchet_codes) & set(self.baseline.codes)
        root = self.settings.root
        new = {
            (overrun.module, overrun.code, n.function) for overrun in result.overruns for n in overrun.new
        }
        kept = [
            f for f in shown if f.code not in enforced or (module_key(f.path, root), f.code, f.function) in new
        ]
        kept.extend(overrun.finding() for overrun in result.overruns)
        kept.sort(key=lambda f: (f.path, f.line, f.col, f.code))
        self.failed = result.failed

        changes = describe_tightenings(result) + describe_moves(result)
        if changes and self.frozen:
            self.failed = True
            print(
                f"flake8-db-session: the code no longer matches {display(self.path)} ({'; '.join(changes)}); "
                "record it with `flake8-db-session baseline`",
                file=sys.stderr,
            )
        elif changes and run_result.errors:
            print(
                f"flake8-db-session: {display(self.path)} not rewritten: some files could not be checked",
                file=sys.stderr,
            )
        elif changes:
            write_atomic(self.path, result.tightened.render())
            verb = "tightened" if result.tightenings else "updated"
            print(f"flake8-db-session: {verb} {display(self.path)} ({'; '.join(changes)}); commit it", file=sys.stderr)
        return kept
