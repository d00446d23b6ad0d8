"""The whole-corpus fault run: every Python file of the standard library and site-packages
through ``flake8-db-session check`` and through ``flake8 --select DBS``; counts tracebacks.

Not part of the test suite (it takes tens of minutes). Usage:

    python scripts/fault_corpus_run.py [--jobs 2] [--timeout 3600] [PATH ...]

Without paths it runs the interpreter's stdlib directory (site-packages lies inside it on most
installs; a site-packages outside it is added). Exit 0 when neither front end printed a
traceback or an internal error of flake8-db-session, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import site
import subprocess
import sys
import sysconfig
import tempfile
import time

TRACEBACK = re.compile(r"^Traceback \(most recent call last\):", re.MULTILINE)
INTERNAL = re.compile(r"flake8-db-session: internal error|internal error, file skipped")
# flake8 stops the whole run when a plugin raises ("pyflakes[F]" hits the recursion limit on
# some generated sympy modules): ours is "DBS"; another plugin's failure is counted apart.
PLUGIN_FAILED = re.compile(r'^(?P<path>.*): "(?P<plugin>[^"]+)" failed during execution', re.MULTILINE)
# flake8 with a higher recursion limit, so pyflakes finishes the deeply nested modules.
FLAKE8 = "import sys; sys.setrecursionlimit(20000); from flake8.main.cli import main; sys.exit(main())"


def default_paths() -> list[str]:
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    paths = [stdlib]
    for directory in site.getsitepackages():
        real = os.path.realpath(directory)
        if not real.startswith(stdlib + os.sep) and os.path.isdir(real):
            paths.append(real)
    return paths


def count_files(paths: list[str]) -> int:
    total = 0
    for path in paths:
        for _dirpath, _dirs, files in os.walk(path):
            total += sum(1 for name in files if name.endswith(".py"))
    return total


def run(name: str, command: list[str], cwd: str, timeout: int, log_dir: str) -> dict:
    started = time.monotonic()
    out_path = os.path.join(log_dir, f"{name}.stdout")
    err_path = os.path.join(log_dir, f"{name}.stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            proc = subprocess.run(command, cwd=cwd, stdout=out, stderr=err, timeout=timeout, check=False)
            code: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    with open(err_path, encoding="utf-8", errors="replace") as handle:
        stderr = handle.read()
    with open(out_path, "rb") as handle:
        stdout = handle.read().decode("utf-8", "replace")
    findings = sum(1 for line in stdout.splitlines() if ": DBS" in line)
    failures = [(m.group("path"), m.group("plugin")) for m in PLUGIN_FAILED.finditer(stdout + stderr)]
    return {
        "ours_failed": [path for path, plugin in failures if plugin.startswith("DBS")],
        "others_failed": [f"{path} ({plugin})" for path, plugin in failures if not plugin.startswith("DBS")],
        "name": name,
        "exit": code,
        "seconds": round(time.monotonic() - started, 1),
        "findings": findings,
        "tracebacks": len(TRACEBACK.findall(stderr)),
        "internal_errors": len(INTERNAL.findall(stderr)),
        "stderr_lines": stderr.count("\n"),
        "stderr": err_path,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--jobs", "-j", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per front end")
    parser.add_argument("--logs", default=None, help="directory for the stdout/stderr logs")
    args = parser.parse_args()
    paths = [os.path.abspath(p) for p in args.paths] or default_paths()
    log_dir = args.logs or tempfile.mkdtemp(prefix="dbs-corpus-")
    os.makedirs(log_dir, exist_ok=True)
    cwd = tempfile.mkdtemp(prefix="dbs-corpus-cwd-")  # no configuration file above it
    print(f"{count_files(paths)} .py files under {', '.join(paths)}; logs in {log_dir}", flush=True)
    results = [
        run(
            "check",
            [sys.executable, "-m", "flake8_db_session", "check", "--exit-zero", "-j", str(args.jobs), *paths],
            cwd,
            args.timeout,
            log_dir,
        ),
        run(
            "flake8",
            [sys.executable, "-c", FLAKE8, "--select", "DBS", "--exit-zero", "-j", str(args.jobs), *paths],
            cwd,
            args.timeout,
            log_dir,
        ),
    ]
    bad = False
    for result in results:
        print(
            f"{result['name']}: exit {result['exit']}, {result['seconds']} s, {result['findings']} findings, "
            f"{result['tracebacks']} tracebacks, {result['internal_errors']} internal errors, "
            f"{result['stderr_lines']} stderr lines ({result['stderr']}); plugin failures: ours "
            f"{len(result['ours_failed'])}, other plugins {result['others_failed'] or 0}",
            flush=True,
        )
        bad |= bool(
            result["tracebacks"] or result["internal_errors"] or result["ours_failed"] or result["exit"] == "timeout"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
