"""ruff and mypy on the package, with the configuration in pyproject.toml: 0 findings.

They run as tests rather than as separate steps of .ci/run because CI's one command is the
README's (install the test extras, then pytest): a step before it would run before ruff and mypy
are installed, and a developer running the suite sees the same gate as CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing_in_the_package():
    result = run("ruff", "check", "--no-cache", "flake8_db_session")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_package():
    # the files come from [tool.mypy] in pyproject.toml
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
