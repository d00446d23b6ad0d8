"""Run the real command with its stderr on a pseudo-terminal, as a person at a terminal sees it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys


def run_with_terminal_stderr(*args: str, cwd, env=None, timeout: int = 300) -> tuple[int, str, str]:
    """(exit code, stdout, what the terminal showed on stderr) of ``python -m flake8_db_session``."""
    main, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "flake8_db_session", *args],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
            timeout=timeout, check=False,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    shown = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), shown
