"""Run one command and report its resource usage: ``python -I launch.py RESULT.json -- ARGV...``.

The harness measures every command through this small process rather than forking it from
itself: on Linux a child's peak resident set (``ru_maxrss``) starts at the size of the process
that forked it, so a large harness would inflate every figure. Prints nothing; writes wall
time, CPU time (user + sys, with reaped children) and peak memory as JSON; exits like the child.
"""

import json
import os
import subprocess
import sys
import time


def main() -> int:
    result_path, separator, *argv = sys.argv[1:]
    if separator != "--" or not argv:
        print("usage: launch.py RESULT.json -- ARGV...", file=sys.stderr)
        return 2
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_kb": usage.ru_maxrss, "exit_code": code}, handle)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
