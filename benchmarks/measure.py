"""Run one command as a child process and measure it: wall time, CPU time, peak memory.

``os.wait4`` returns the resource usage of exactly that child (and of the worker processes it
waited for), so concurrent benchmarks or test runs on the same machine do not leak into it.
Peak memory is the largest resident set of any one process of the tree (``ru_maxrss``): for a
forked worker pool that is the biggest worker or the parent, not their sum.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
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


LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch.py")


def run_once(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    ok_codes: Sequence[int] = (0, 1),
    stdout_path: str = os.devnull,
) -> Sample:
    """Run ``argv`` to completion; raise CommandFailed when its exit code is not in ``ok_codes``.

    The command is started by ``launch.py`` (see there why), which measures it and writes the
    figures to a temporary file.
    """
    handle, result_path = tempfile.mkstemp(prefix="sample-", suffix=".json")
    os.close(handle)
    try:
        with open(stdout_path, "wb") as out:
            proc = subprocess.run(
                [sys.executable, "-I", LAUNCHER, result_path, "--", *argv],
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
        with open(result_path, encoding="utf-8") as result:
            text = result.read()
        figures = json.loads(text) if text else None
    finally:
        os.unlink(result_path)
    if figures is None or figures["exit_code"] not in ok_codes:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise CommandFailed(f"{' '.join(argv)} exited {proc.returncode}: {' | '.join(tail)}")
    return Sample(figures["wall"], figures["cpu"], figures["peak_kb"], figures["exit_code"])


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
