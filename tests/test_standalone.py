"""The standalone command: same findings as the flake8 plugin, flake8's config keys, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(TESTS, "sample_project")
CASES = os.path.join(TESTS, "cases")


def run(*args: str, cwd, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8_db_session", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        input=input,
        timeout=300,
    )


def flake8(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8", *args], cwd=str(cwd), capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def project(tmp_path):
    target = tmp_path / "project"
    shutil.copytree(SAMPLE, target)
    return target


def test_standalone_and_plugin_agree_on_the_sample_project(project):
    ours = run("check", "shop", cwd=project)
    theirs = flake8("shop", cwd=project)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == theirs.stdout
    assert ours.stdout.count("\n") == 5  # 4 DBS001 + 1 DBS002; the noqa'd alias use is hidden


def test_standalone_and_plugin_agree_on_the_eval_files(tmp_path):
    shutil.copytree(CASES, tmp_path / "cases")
    (tmp_path / "setup.cfg").write_text("[flake8]\nselect = DBS\n")
    ours = run("check", "cases", cwd=tmp_path)
    theirs = flake8("cases", cwd=tmp_path)
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert ours.stdout.count("DBS00") > 40


def test_ini_and_pyproject_configuration_give_identical_results(tmp_path):
    source = (
        "from fastapi import Depends\n"
        "@router.get('/a')\n@require_permission('x')\ndef a(db=Depends(provide_db)):\n    return 1\n"
        "def helper(db=Depends(provide_db)):\n    return db\n"
        "@router.get('/b')\ndef b(db=Depends(get_db)):\n    return db\n"
    )
    results = []
    for kind in ("ini", "toml"):
        directory = tmp_path / kind
        directory.mkdir()
        (directory / "app.py").write_text(source)
        if kind == "ini":
            (directory / "tox.ini").write_text(
                "[flake8]\ndb-session-dependencies = provide_db\n"
                "db-session-session-decorators = require_permission\nextend-ignore = DBS002\n"
            )
        else:
            (directory / "pyproject.toml").write_text(
                "[tool.flake8-db-session]\n"
                'db-session-dependencies = ["provide_db"]\n'
                'db-session-session-decorators = ["require_permission"]\n'
                'extend-ignore = ["DBS002"]\n'
            )
        result = run("check", "--format", "json", "app.py", cwd=directory)
        assert result.returncode == 1, result.stderr
        results.append(json.loads(result.stdout))
    assert results[0] == results[1]
    assert [(f["line"], f["code"], f["status"]) for f in results[0]] == [(4, "DBS001", "decorator-db")]


def test_pyproject_wins_over_ini_and_flags_win_over_both(tmp_path):
    (tmp_path / "app.py").write_text(
        "from fastapi import Depends\n@r.get('/')\ndef a(x=Depends(one), y=Depends(two), z=Depends(three)):\n    pass\n"
    )
    (tmp_path / "setup.cfg").write_text("[flake8]\ndb-session-dependencies = one\n")
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-db-session]\ndb-session-dependencies = ["two"]\n')
    assert "dependency two " in run("check", "app.py", cwd=tmp_path).stdout
    flagged = run("check", "--db-session-dependencies", "three", "app.py", cwd=tmp_path).stdout
    assert "dependency three " in flagged and "dependency two " not in flagged


def test_exclude_and_per_file_ignores_agree_with_flake8(project):
    (project / "setup.cfg").write_text(
        "[flake8]\nselect = DBS\nextend-exclude = shop/routers/orders.py\n"
        "per-file-ignores =\n    shop/deps.py: DBS002\n    shop/routers/__init__.py: DBS\n"
    )
    ours = run("check", ".", cwd=project)
    theirs = flake8(".", cwd=project)
    assert ours.stdout == theirs.stdout
    assert "deps.py" not in ours.stdout and "routers/__init__.py" not in ours.stdout
    assert "orders.py" not in ours.stdout
    assert ours.stdout.count("\n") == 2


def test_default_paths_are_the_files_git_tracks(project):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "shop/routers/orders.py"], cwd=project, check=True)
    (project / ".gitignore").write_text("shop/deps.py\n")
    result = run("check", cwd=project)
    files = {line.split(":")[0] for line in result.stdout.splitlines()}
    # tracked and untracked-but-not-ignored files; the ignored one is skipped
    assert "shop/routers/orders.py" in files and "shop/deps.py" not in files


def test_exit_codes(tmp_path):
    (tmp_path / "clean.py").write_text("x = 1\n")
    assert run("check", "clean.py", cwd=tmp_path).returncode == 0
    (tmp_path / "dirty.py").write_text("from fastapi import Depends\n@r.get('/')\ndef a(db=Depends(get_db)):\n    pass\n")
    assert run("check", "dirty.py", cwd=tmp_path).returncode == 1
    assert run("check", "--exit-zero", "dirty.py", cwd=tmp_path).returncode == 0
    (tmp_path / "setup.cfg").write_text("[flake8]\ndb-session-ratchet-only = maybe\n")
    bad = run("check", "dirty.py", cwd=tmp_path)
    assert bad.returncode == 2
    assert "db-session-ratchet-only" in bad.stderr and "Traceback" not in bad.stderr


def test_unreadable_files_are_reported_and_the_rest_still_checked(tmp_path):
    (tmp_path / "syntax.py").write_text("def f(:\n")
    (tmp_path / "latin.py").write_bytes(b"# coding: ascii\nx = '\xe9'\n")
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    (tmp_path / "dirty.py").write_text("from fastapi import Depends\n@r.get('/')\ndef a(db=Depends(get_db)):\n    pass\n")
    result = run("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for name in ("syntax.py", "nul.py"):
        assert f"./{name}: error: " in result.stderr
    # Not valid in its declared encoding: read as latin-1, as flake8 reads it (same findings).
    assert "latin.py" not in result.stderr
    assert "./dirty.py:3:10: DBS001" in result.stdout


def test_stdin(tmp_path):
    source = "from fastapi import Depends\n@r.get('/')\ndef a(db=Depends(get_db)):\n    pass\n"
    result = run("check", "-", cwd=tmp_path, input=source)
    assert result.stdout.startswith("-:3:10: DBS001 ")


def test_noqa_is_honoured_and_can_be_disabled(tmp_path):
    (tmp_path / "a.py").write_text(
        "from fastapi import Depends\n@r.get('/')\ndef a(db=Depends(get_db)):  # noqa: DBS\n    pass\n"
    )
    assert run("check", "a.py", cwd=tmp_path).stdout == ""
    assert "DBS001" in run("check", "--disable-noqa", "a.py", cwd=tmp_path).stdout


def test_parallel_equals_serial(tmp_path):
    for index in range(40):  # enough files to use worker processes
        (tmp_path / f"m{index}.py").write_text(
            f"from fastapi import Depends\n@r.get('/{index}')\ndef e{index}(db=Depends(get_db)):\n    pass\n"
        )
    serial = run("check", "-j", "1", ".", cwd=tmp_path)
    parallel = run("check", "-j", "2", ".", cwd=tmp_path)
    assert serial.stdout == parallel.stdout
    assert serial.stdout.count("\n") == 40


def test_explain_prints_the_rule_doc(tmp_path):
    result = run("explain", "dbs001", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("DBS001 request-scoped-session-on-endpoint")
    assert "Bad:" in result.stdout and "Good:" in result.stdout
    assert run("explain", "DBS999", cwd=tmp_path).returncode == 2


def test_does_not_need_pycodestyle_or_pyflakes(tmp_path):
    """Block both modules: the standalone command must still run."""
    (tmp_path / "blocker").mkdir()
    for name in ("pycodestyle", "pyflakes"):
        (tmp_path / "blocker" / f"{name}.py").write_text("raise ImportError('not installed')\n")
    (tmp_path / "dirty.py").write_text("from fastapi import Depends\n@r.get('/')\ndef a(db=Depends(get_db)):\n    pass\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "blocker"))
    result = subprocess.run(
        [sys.executable, "-m", "flake8_db_session", "check", "dirty.py"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "DBS001" in result.stdout
