"""Instructions executed by a command, counted by Valgrind's cachegrind: a figure the host's load
does not move.

CPU time on a shared machine varies by a fifth from one run to the next, more than some targets
allow (flake8 + ours within 5% of flake8). The number of instructions a command executes is
nearly the same on every run (``PYTHONHASHSEED`` is fixed, so set and dict orders repeat), so
a ratio of two counts says what the extra work is, whatever the host does meanwhile. It is not
time (a cache miss costs more than an add), hence reported beside the CPU-time targets, not
instead of them. Under cachegrind a command runs about 25 times slower: the group is opt-in
(``--only instructions``), about 13 minutes on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

VALGRIND_ARGS = ("--tool=cachegrind", "--cache-sim=no", "--branch-sim=no")


def valgrind() -> str | None:
    return shutil.which("valgrind")


def summary_count(out_file_text: str) -> int:
    """The instructions (``Ir``, the first event) on the ``summary:`` line of a cachegrind out file."""
    events: list[str] = []
    for line in out_file_text.splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            counts = line.split()[1:]
            position = events.index("Ir") if "Ir" in events else 0
            return int(counts[position])
    raise ValueError("no summary line in the cachegrind output")


def count(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], ok_codes: Sequence[int] = (0, 1)) -> int:
    """Instructions ``argv`` executes (its own process; a forked worker is not followed: measure
    one-process commands). Raises RuntimeError when valgrind is missing or the command fails."""
    binary = valgrind()
    if binary is None:
        raise RuntimeError("valgrind not found")
    handle, out_file = tempfile.mkstemp(prefix="cachegrind-", suffix=".out")
    os.close(handle)
    try:
        fixed = {**env, "PYTHONHASHSEED": "0"}
        proc = subprocess.run(
            [binary, *VALGRIND_ARGS, f"--cachegrind-out-file={out_file}", *argv],
            cwd=cwd, env=fixed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
        )
        if proc.returncode not in ok_codes:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode} under valgrind: {' | '.join(tail)}")
        with open(out_file, encoding="utf-8") as result:
            return summary_count(result.read())
    finally:
        os.unlink(out_file)


def count_all(commands: Mapping[str, tuple[Sequence[str], str, Mapping[str, str]]], jobs: int) -> dict[str, int | str]:
    """Each command's count (key -> (argv, cwd, env)), ``jobs`` at a time; a failure is its
    message in place of the count."""

    def one(key: str) -> tuple[str, int | str]:
        argv, cwd, env = commands[key]
        try:
            return key, count(argv, cwd=cwd, env=env)
        except (RuntimeError, OSError, ValueError) as exc:
            return key, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(one, commands))


# ``python -m benchmarks.editor FILE --stop-after PHASE``: each phase's process does the work of
# the one before it and one step more, so consecutive counts subtract to that step.
EDITOR_PHASES = ("start", "parse", "first", "second")


def editor_phases(counts: Mapping[str, int | str]) -> dict[str, int | str]:
    """The parse of the largest file and our analyses of it, in instructions, from the counts of
    the editor's phases (``editor.<phase>``): ``editor.parse`` (``ast.parse``),
    ``editor.analysis_first`` (the first analysis of a process: the project index read from the
    persistent cache) and ``editor.analysis`` (a second one, its parse taken off). A failed
    phase makes what needs it its message."""
    phases = [counts.get(f"editor.{phase}", "not counted") for phase in EDITOR_PHASES]
    failed = next((value for value in phases if not isinstance(value, int)), None)
    if failed is not None:
        return dict.fromkeys(("editor.parse", "editor.analysis_first", "editor.analysis"), str(failed))
    start, parse, first, second = (int(value) for value in phases)
    return {
        "editor.parse": parse - start,
        "editor.analysis_first": first - parse,
        "editor.analysis": second - first - (parse - start),
    }
