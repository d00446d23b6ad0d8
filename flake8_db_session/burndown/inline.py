"""DBS100 inside the flake8 plugin: one file's counts against its baseline entry.

The baseline is loaded once per process (flake8 re-parses options in each ``-j`` worker, so each
worker loads it once). Keys are relative to the config root, the directory flake8's configuration
came from, as ``flake8-db-session baseline`` writes them.
"""

from __future__ import annotations

import os
from typing import Sequence

from ..analysis.findings import Finding
from ..config import Settings, Warn, find_config_dir
from .baseline import Baseline, load
from .counts import NO_MODULE
from .ratchet import compare

_LOADED: dict[str, tuple[tuple[int, int] | None, Baseline | None]] = {}


def config_root(explicit_config: str | None, cwd: str, *, warn: Warn | None = None) -> str:
    """Where the baseline's keys are rooted: the config file's directory (flake8 found or was given).
    With ``warn``, a config file that cannot be read is reported through it and skipped."""
    if explicit_config:
        return os.path.dirname(os.path.abspath(explicit_config))
    return find_config_dir(cwd, warn=warn) or cwd


def baseline_file(settings: Settings, root: str) -> str:
    # flake8 makes a configured path with a slash absolute (relative to the config file); a bare
    # file name, and the default, stay relative: they sit in the config root.
    path = settings.baseline
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(root, path))


def cached_baseline(path: str) -> Baseline | None:
    """The baseline at path, read once per process (again only if the file changed, for long-lived
    hosts such as a language server). Raises BaselineError for a corrupt file."""
    try:
        stat = os.stat(path)
        stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None
    cached = _LOADED.get(path)
    if cached is None or cached[0] != stamp:
        _LOADED[path] = (stamp, load(path))
    return _LOADED[path][1]


def apply(
    findings: Sequence[Finding], filename: str, settings: Settings, root: str, baseline: Baseline | None
) -> list[Finding]:
    """The findings the plugin reports: plus DBS100 when over the baseline; with
    ``db-session-ratchet-only``, ratcheted codes only as DBS100."""
    if filename in NO_MODULE:
        return list(findings)
    if baseline is None:
        if not settings.ratchet_only:
            return list(findings)
        # Ratchet-only without a baseline: every count is over zero, so the hook still guards.
        baseline = Baseline(tuple(settings.ratchet_codes), {})
    result = compare(
        findings,
        baseline,
        root=root,
        ratchet_codes=settings.ratchet_codes,
        checked=[filename],
        include_deleted=False,
    )
    enforced = set(settings.ratchet_codes) & set(baseline.codes)
    shown = [f for f in findings if not (settings.ratchet_only and f.code in enforced)]
    shown.extend(overrun.finding() for overrun in result.overruns)
    shown.sort(key=lambda f: (f.line, f.col, f.code))
    return shown
