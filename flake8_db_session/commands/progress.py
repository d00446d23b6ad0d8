"""The progress bar of ``history``: drawn on a terminal only, so logs and pipes stay clean."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..burndown.git import Commit
    from ..burndown.history import Progress


def terminal_progress(stream=None, clock: Callable[[], float] = time.monotonic) -> Progress | None:
    """A one-line bar with the rate and the time left, redrawn in place; None when ``stream`` (default
    stderr) is not a terminal, so logs and pipes get no control characters."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None
    started = clock()

    def show(done: int, total: int, commit: Commit) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        elapsed = clock() - started
        if done and elapsed > 0:
            rate = done / elapsed
            left = (total - done) / rate
            timing = f"{rate:.1f} commits/s  ETA {_duration(left)}"
        else:
            timing = "-- commits/s  ETA --:--"
        if done == total:
            timing = f"{done / elapsed if elapsed > 0 else 0:.1f} commits/s  done in {_duration(elapsed)}"
        stamp = time.strftime("%Y-%m-%d", time.gmtime(commit.timestamp))
        end = "\n" if done == total else ""
        stream.write(f"\r[{bar}] {done}/{total} commits  {timing}  {commit.sha[:10]} {stamp}\033[K{end}")
        stream.flush()

    return show


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
