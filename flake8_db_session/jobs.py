"""How many worker processes a run starts when the user did not say (``-j`` absent or 0).

Workers pay for themselves only past a certain amount of work: each one is a forked process that
loads again the parts of the project index its files need (the persistent summary cache makes
that cheaper, not free), and the parent waits for the slowest. Measured on 2 cores (see
docs/performance.md): a 0.7 MB project (fief, 269 files) ran slower on two workers than on one,
while 3.7 MB and more (mcpgateway's services, phoenix, all of mcpgateway) ran faster. The work
is estimated from the total size of the files, which is known before anything is parsed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

# One worker per this many bytes of source to check (and never more workers than cores).
BYTES_PER_WORKER = 2_000_000
# Below this many files, one process is always enough (a pool costs more than it saves).
MIN_FILES = 32


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def total_bytes(files: Sequence[str]) -> int:
    total = 0
    for path in files:
        with contextlib.suppress(OSError):  # "-" (stdin), or gone meanwhile: counted as nothing
            total += os.path.getsize(path)
    return total


def auto_jobs(files: Sequence[str], requested: int = 0) -> int:
    """``requested`` when given (``-j N``), else as many workers as the work pays for."""
    if requested > 0:
        return requested
    if len(files) < MIN_FILES:
        return 1
    return max(1, min(available_cores(), total_bytes(files) // BYTES_PER_WORKER))
