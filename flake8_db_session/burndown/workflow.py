"""What the report, baseline and check commands share: finding the baseline and running the ratchet."""

from __future__ import annotations

import os
import sys
from typing import Sequence

from ..config import Settings
from .baseline import Baseline, BaselineError, load
from .counts import NO_MODULE
from .ratchet import RatchetResult, compare


def baseline_path(settings: Settings, override: str | None) -> str:
    """``--baseline-file`` (relative to the current directory) or ``db-session-baseline`` (to the config)."""
    return os.path.abspath(override) if override else settings.baseline_path


def display(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def load_required(path: str) -> Baseline:
    baseline = load(path)
    if baseline is None:
        raise BaselineError(f"{display(path)}: no baseline; create it with `flake8-db-session baseline`")
    return baseline


def ratchet(findings, files: Sequence[str], settings: Settings, baseline: Baseline) -> RatchetResult:
    result = compare(
        findings, baseline, root=settings.root, ratchet_codes=settings.ratchet_codes, checked=files
    )
    for code in result.uncovered:
        print(
            f"flake8-db-session: note: the baseline does not cover {code}; run "
            "`flake8-db-session baseline` to start ratcheting it",
            file=sys.stderr,
        )
    return result


def checked_files(run_result) -> list[str]:
    """The files whose counts are known: read and parsed, and not stdin."""
    return [r.path for r in run_result.files if not r.error and r.path not in NO_MODULE]


def describe_tightenings(result: RatchetResult) -> list[str]:
    return [f"{t.module} {t.code} {t.allowed} -> {t.count}" for t in result.tightenings]


# --- check --baseline ---------------------------------------------------------------------------


def add_ratchet_arguments(parser) -> None:
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
        help="never rewrite the baseline; fail when counts dropped below it until it is rewritten (for CI)",
    )


class RatchetCheck:
    """The ratchet inside ``check``: load the baseline before analysis, filter and judge after."""

    def __init__(self, path: str, baseline: Baseline, settings: Settings, frozen: bool) -> None:
        self.path = path
        self.baseline = baseline
        self.settings = settings
        self.frozen = frozen
        self.failed = False

    @classmethod
    def start(cls, args, settings: Settings) -> RatchetCheck | None:
        if not (getattr(args, "baseline", False) or getattr(args, "baseline_file", None)):
            return None
        path = baseline_path(settings, args.baseline_file)
        return cls(path, load_required(path), settings, bool(getattr(args, "frozen_baseline", False)))

    def finish(self, run_result, shown) -> list:
        """The findings to show: ratcheted ones only for new functions, plus one DBS100 per overrun.

        ``run_result`` is the runner's RunResult; a file that could not be parsed is left out of
        the comparison (its count is unknown, not zero) and nothing is tightened on such a run.
        """
        from ..burndown.counts import module_key
        from ..fileio import write_atomic

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

        changes = describe_tightenings(result) + [f"moved {m.describe()}" for m in result.moves]
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
