"""End to end through the real flake8 executable: packaging, options, noqa, stdin, -j."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_project")

ENDPOINT = '''from fastapi import APIRouter, Depends
from app.db import get_db

router = APIRouter()


@router.get("/tools")
def list_tools(db=Depends(get_db)):
    return db.query(1).all()
'''


def flake8(*args: str, cwd: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8", *args], cwd=cwd, capture_output=True, text=True, input=input, timeout=300
    )


def test_version_lists_the_plugin(tmp_path):
    result = flake8("--version", cwd=str(tmp_path))
    assert result.returncode == 0
    assert "flake8-db-session:" in result.stdout


def test_require_plugins_accepts_the_distribution_name(tmp_path):
    (tmp_path / "ok.py").write_text("x = 1\n")
    result = flake8("--require-plugins", "flake8-db-session", "ok.py", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_select_dbs_reports_line_and_column(tmp_path):
    (tmp_path / "tools.py").write_text(ENDPOINT)
    result = flake8("--select", "DBS", "tools.py", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == (
        "tools.py:8:19: DBS001 request-scoped session dependency get_db on endpoint list_tools; "
        "open a short-lived session scope instead\n"  # the project has no scope to name
    )


def test_noqa_on_the_reported_line(tmp_path):
    (tmp_path / "tools.py").write_text(ENDPOINT.replace("Depends(get_db)):", "Depends(get_db)):  # noqa: DBS001"))
    result = flake8("--select", "DBS", "tools.py", cwd=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "")


def test_stdin_with_display_name(tmp_path):
    result = flake8(
        "--select", "DBS", "--stdin-display-name", "app/routers/tools.py", "-", cwd=str(tmp_path), input=ENDPOINT
    )
    assert result.returncode == 1
    assert result.stdout.startswith("app/routers/tools.py:8:19: DBS001 ")


def test_parallel_output_equals_serial(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project)
    serial = flake8("-j", "1", "shop", cwd=str(project))
    parallel = flake8("-j", "2", "shop", cwd=str(project))
    assert serial.stdout.count("DBS00") == 5
    assert parallel.stdout == serial.stdout


def test_config_options_are_read_from_setup_cfg(tmp_path):
    (tmp_path / "tools.py").write_text(ENDPOINT.replace("get_db", "provide_db"))
    (tmp_path / "setup.cfg").write_text("[flake8]\nselect = DBS\ndb-session-dependencies = provide_db\n")
    result = flake8("tools.py", cwd=str(tmp_path))
    assert "DBS001 request-scoped session dependency provide_db" in result.stdout


def test_bad_config_value_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "tools.py").write_text(ENDPOINT)
    (tmp_path / "setup.cfg").write_text("[flake8]\nselect = DBS\ndb-session-ratchet-codes = not a code!\n")
    result = flake8("tools.py", cwd=str(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "db-session-ratchet-codes" in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"def f(:\n",  # syntax error
        b"\xff\xfe\x00 not utf-8",  # bad encoding
        b"",  # empty file
        b"x = " + b"(" * 150 + b"1" + b")" * 150 + b"\n",  # deep nesting
    ],
    ids=["syntax-error", "bad-encoding", "empty", "deep-nesting"],
)
def test_flake8_keeps_running_on_bad_input(tmp_path, content):
    (tmp_path / "bad.py").write_bytes(content)
    (tmp_path / "tools.py").write_text(ENDPOINT)
    result = flake8("--select", "DBS,E999", "bad.py", "tools.py", cwd=str(tmp_path))
    assert "Traceback" not in result.stderr, result.stderr
    assert "tools.py:8:19: DBS001" in result.stdout
