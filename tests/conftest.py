from __future__ import annotations

import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


@pytest.fixture(autouse=True)
def _private_summary_cache(tmp_path_factory, monkeypatch):
    """Every test (and every process it starts) gets its own persistent summary cache: the
    real user cache directory is never written, and no test sees another's entries."""
    from flake8_db_session.summary_cache import DIR_ENV

    monkeypatch.setenv(DIR_ENV, str(tmp_path_factory.mktemp("summary-cache")))
    monkeypatch.delenv("FLAKE8_DB_SESSION_NO_CACHE", raising=False)
    yield


@pytest.fixture(autouse=True)
def _fresh_process_caches(_private_summary_cache):
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
