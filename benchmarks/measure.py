"""Run one command as a child process and measure it: wall time, CPU time, peak memory.

``os.wait4`` returns the resource usage of exactly that child (and of the worker processes it
waited for), so concurrent benchmarks or test runs on the same machine do not leak into it.
Peak memory is the largest resident set of any one process of the tree (``ru_maxrss``): for a
forked worker pool that is the biggest worker or the parent, not their sum.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + sys seconds, the child and its reaped children
    peak_kb: int  # largest resident set of one process, KiB
    exit_code: int


class CommandFailed(RuntimeError):
    pass


def run_once(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    ok_codes: Sequence[int] = (0, 1),
    stdout_path: str = os.devnull,
) -> Sample:
    """Run ``argv`` to completion; raise CommandFailed when its exit code is not in ``ok_codes``."""
    with open(stdout_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=subprocess.PIPE
        )
        # Read stderr before waiting so a chatty child cannot block on a full pipe.
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stderr.close()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
    if proc.returncode not in ok_codes:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{' '.join(argv)} exited {proc.returncode}: {' | '.join(tail)}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode)


@dataclass(frozen=True)
class Summary:
    """Medians of several runs, with the spread (min and max) of each figure."""

    runs: int
    wall: float
    wall_min: float
    wall_max: float
    cpu: float
    cpu_min: float
    cpu_max: float
    peak_kb: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        walls = [s.wall for s in samples]
        cpus = [s.cpu for s in samples]
        return cls(
            runs=len(samples),
            wall=statistics.median(walls),
            wall_min=min(walls),
            wall_max=max(walls),
            cpu=statistics.median(cpus),
            cpu_min=min(cpus),
            cpu_max=max(cpus),
            peak_kb=int(statistics.median(s.peak_kb for s in samples)),
        )

    def to_dict(self) -> dict[str, float | int]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}
