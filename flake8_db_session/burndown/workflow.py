"""What the report, baseline and check commands share: finding the baseline and comparing with it.
No printing and no arguments here: the commands (``commands/ratchet.py``) speak to the user."""

from __future__ import annotations

import os
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


def compare_with_baseline(findings, files: Sequence[str], settings: Settings, baseline: Baseline) -> RatchetResult:
    return compare(findings, baseline, root=settings.root, ratchet_codes=settings.ratchet_codes, checked=files)


def checked_files(run_result) -> list[str]:
    """The files whose counts are known: read and parsed, and not stdin."""
    return [r.path for r in run_result.files if not r.error and r.path not in NO_MODULE]


def describe_tightenings(result: RatchetResult) -> list[str]:
    return [f"{t.module} {t.code} {t.allowed} -> {t.count}" for t in result.tightenings]


def describe_moves(result: RatchetResult) -> list[str]:
    return [f"moved {m.describe()}" for m in result.moves]
