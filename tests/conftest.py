from __future__ import annotations

import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts with empty process-wide caches, so the suite passes in any order."""
    from flake8_db_session.project import reset_caches

    reset_caches()
    yield


@pytest.fixture
def run_cli(tmp_path):
    """Run the real console script in a directory; returns CompletedProcess."""
    import subprocess

    def _run(*args: str, cwd=None, input: str | None = None, env=None):
        return subprocess.run(
            [sys.executable, "-m", "flake8_db_session", *args],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            input=input,
            env=env,
            timeout=300,
        )

    return _run
