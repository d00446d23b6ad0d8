"""The fault suite: bad configuration, bad input, failed writes, special files, kills.

Every case runs the real programs (flake8 and the standalone command as subprocesses) and holds
the product's promise: never a traceback, never a hang, never a half-written file; a fault of the
user's setup is one line naming the file and exit 2, and plain flake8 keeps working when the
plugin cannot read its own settings. docs/faults.md says what the user sees for each case.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

ENDPOINT = """from fastapi import APIRouter, Depends

router = APIRouter()


@router.get("/items")
def list_items(db=Depends(get_db)):
    return []
"""
FINDING = "a.py:7:19: DBS001 "


def cli(*args: str, cwd, input: str | None = None, timeout: float = 120, prefix=()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "flake8_db_session", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


def flake8(*args: str, cwd, timeout: float = 120, prefix=()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "flake8", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, no traceback, and one stderr line that says what and where."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def leftovers(directory) -> list[str]:
    """Temporary files a write left behind."""
    return sorted(str(p) for p in directory.rglob("*.tmp")) + sorted(str(p) for p in directory.rglob("*.journal"))


@pytest.fixture
def project(tmp_path):
    (tmp_path / "a.py").write_text(ENDPOINT)
    return tmp_path


def unprivileged_prefix() -> tuple[str, ...]:
    """Run a command where file permissions apply: as root, in a user namespace that maps root to
    an ordinary user (the files stay the owner's, so the interpreter is still readable)."""
    if os.geteuid() != 0:
        return ()
    unshare = shutil.which("unshare")
    prefix = (unshare, "--user", "--map-user=65534", "--map-group=65534") if unshare else ()
    if not prefix or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root without user namespaces: permissions cannot be tested")
    return prefix


# --- 1. the flake8 plugin never breaks flake8 on a config flake8 alone accepts -----------------

UNREADABLE_CONFIGS = {
    "other tool's TOML error": ("pyproject.toml", b"[tool.black]\nline-length =\n"),
    "pyproject not UTF-8": ("pyproject.toml", b"[tool.black]\nname = '\xff\xfe'\n"),
    "tool is not a table": ("pyproject.toml", b"tool = 5\n"),
    "malformed .flake8": (".flake8", b"[flake8\nmax-line-length = 100\n"),
    "malformed setup.cfg": ("setup.cfg", b"no section header\n"),
    "setup.cfg not UTF-8": ("setup.cfg", b"[flake8]\nmax-line-length = \xff\n"),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE_CONFIGS))
def test_flake8_goes_on_with_one_warning_when_a_config_file_cannot_be_read(project, name):
    filename, content = UNREADABLE_CONFIGS[name]
    (project / filename).write_bytes(content)
    (project / "b.py").write_text(ENDPOINT)
    result = flake8("--select", "DBS", "-j", "2", "a.py", "b.py", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert FINDING in result.stdout and FINDING.replace("a.py", "b.py") in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("flake8-db-session: warning:")]
    assert len(warnings) == 1, result.stderr  # once per run, not per file or worker
    assert filename in warnings[0]


@pytest.mark.parametrize("name", sorted(UNREADABLE_CONFIGS))
def test_check_stops_with_one_line_on_a_config_file_it_cannot_read(project, name):
    filename, content = UNREADABLE_CONFIGS[name]
    (project / filename).write_bytes(content)
    assert_one_error_line(cli("check", "a.py", cwd=project), filename)


# --- 2. check: one line and exit 2 for every configuration fault ---------------------------------


@pytest.mark.parametrize(
    "filename, content, fragment",
    [
        ("pyproject.toml", "tool = 5\n", "'tool' must be a table"),
        (".flake8", "[flake8]\nper-file-ignores = E123\n", "per-file-ignores"),
        (".flake8", "[flake8]\nper-file-ignores =\n    a.py: E1 :\n", "per-file-ignores"),
        ("pyproject.toml", "[tool.flake8-db-session]\ndb-session-dependencies = 5\n", "expected a list"),
        ("pyproject.toml", "[tool.flake8-db-session]\nselect = ['not a code']\n", "not an error code"),
        ("pyproject.toml", "[tool]\nflake8-db-session = 3\n", "must be a table"),
    ],
)
def test_check_config_faults_are_one_line_and_exit_2(project, filename, content, fragment):
    (project / filename).write_text(content)
    assert_one_error_line(cli("check", "a.py", cwd=project), filename, fragment)


def test_check_non_utf8_pyproject_is_one_line(project):
    (project / "pyproject.toml").write_bytes(b"[tool.flake8-db-session]\ndb-session-baseline = '\xe9'\n")
    assert_one_error_line(cli("check", "a.py", cwd=project), "pyproject.toml", "not UTF-8")


def test_flake8_bad_value_of_ours_is_one_line_and_exit_2(project):
    (project / ".flake8").write_text("[flake8]\ndb-session-ratchet-only = maybe\n")
    result = flake8("--select", "DBS", "a.py", cwd=project)
    assert_one_error_line(result, "db-session-ratchet-only", "maybe")
    assert_one_error_line(cli("check", "a.py", cwd=project), "db-session-ratchet-only", "maybe")


# --- 3. failed writes are one line, exit 2, and leave nothing behind -----------------------------


def test_output_file_in_a_missing_directory(project):
    result = cli("check", "a.py", "--output-file", str(project / "missing" / "o.txt"), cwd=project)
    assert_one_error_line(result, "missing/o.txt", "directory does not exist")
    assert leftovers(project) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_output_file_that_is_a_named_pipe_is_written_in_place(project):
    # ``-o /dev/null`` and a named pipe: a rename over one would put a regular file in its place
    # (as root, in place of /dev/null itself). The pipe must stay a pipe and get the report.
    fifo = project / "report.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        result = cli("check", "a.py", "--exit-zero", "--output-file", str(fifo), cwd=project)
        received = reader.communicate(timeout=30)[0].decode()
    except subprocess.TimeoutExpired:
        received = ""  # nothing was written to the pipe: the reader still waits
    finally:
        reader.kill()
        reader.wait()
    assert result.returncode == 0, result.stderr
    assert FINDING in received
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(project) == []


def test_output_file_that_is_a_symlink_keeps_the_link(project):
    (project / "reports").mkdir()
    (project / "reports" / "real.txt").write_text("old\n")
    (project / "link.txt").symlink_to(project / "reports" / "real.txt")
    result = cli("check", "a.py", "--exit-zero", "--output-file", "link.txt", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "link.txt").is_symlink()
    assert FINDING in (project / "reports" / "real.txt").read_text()
    assert leftovers(project) == [] and leftovers(project / "reports") == []


def test_history_output_in_a_missing_directory(project):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "a.py"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=project, check=True)
    result = cli("history", "--no-cache", "--output", str(project / "missing" / "h.txt"), cwd=project)
    assert_one_error_line(result, "missing/h.txt")
    assert leftovers(project) == []


def test_baseline_path_that_is_a_directory(project):
    (project / ".db-session-baseline.json").mkdir()
    assert_one_error_line(cli("baseline", "a.py", cwd=project), ".db-session-baseline.json", "directory")
    assert_one_error_line(cli("check", "--baseline", "a.py", cwd=project), ".db-session-baseline.json", "directory")


@contextlib.contextmanager
def read_only(directory):
    """A directory no one can write into: permissions apply (see unprivileged_prefix)."""
    directory.chmod(0o555)
    try:
        yield
    finally:
        directory.chmod(0o755)


def test_baseline_in_a_read_only_directory(project):
    prefix = unprivileged_prefix()
    os.chmod(project, 0o777)  # the mapped user may read it; only the inner directory is read-only
    ro = project / "ro"
    ro.mkdir()
    (ro / "a.py").write_text(ENDPOINT)
    with read_only(ro):
        result = cli("baseline", "a.py", cwd=ro, prefix=prefix)
    assert_one_error_line(result, ".db-session-baseline.json", "permission denied")
    assert sorted(os.listdir(ro)) == ["a.py"]


def test_check_baseline_tightening_in_a_read_only_directory(project):
    prefix = unprivileged_prefix()
    os.chmod(project, 0o777)
    ro = project / "ro"
    ro.mkdir()
    (ro / "a.py").write_text(ENDPOINT + ENDPOINT.replace("list_items", "other_items"))
    assert cli("baseline", "a.py", cwd=ro).returncode == 0
    (ro / "a.py").write_text(ENDPOINT)  # one endpoint fewer: check --baseline tightens the file
    before = (ro / ".db-session-baseline.json").read_bytes()
    with read_only(ro):
        result = cli("check", "--baseline", "a.py", cwd=ro, prefix=prefix)
    assert_one_error_line(result, ".db-session-baseline.json", "permission denied")
    assert (ro / ".db-session-baseline.json").read_bytes() == before
    assert sorted(os.listdir(ro)) == [".db-session-baseline.json", "a.py"]


# --- 4. special files never hang a run -----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("named", [False, True], ids=["found-in-directory", "named-directly"])
@pytest.mark.parametrize("command", ["check", "report", "baseline"])
def test_a_fifo_named_py_is_skipped_with_a_message(project, named, command):
    os.mkfifo(project / "pipe.py")
    paths = ["pipe.py", "a.py"] if named else ["."]
    result = cli(command, *paths, cwd=project, timeout=60)  # a hang fails with TimeoutExpired
    assert "Traceback" not in result.stderr
    assert "pipe.py: not a regular file (a FIFO), skipped" in result.stderr
    assert result.returncode in (0, 1), result.stderr
    if command == "check":
        assert "a.py:7:19: DBS001" in result.stdout


# --- 5. linear time in the findings on one line --------------------------------------------------


def _seconds(source: str) -> float:
    from flake8_db_session.config import Settings
    from flake8_db_session.runner import check_source

    started = time.perf_counter()
    result = check_source(source.encode(), "wide.py", Settings())
    elapsed = time.perf_counter() - started
    assert len(result.findings) == 20_000, result.error
    return elapsed


def test_many_findings_on_one_line_cost_what_they_cost_on_many_lines():
    params = [f"d{i}=Depends(get_db)" for i in range(20_000)]
    head = "from fastapi import APIRouter, Depends\nrouter = APIRouter()\n@router.get('/x')\n"
    one_line = _seconds(f"{head}def f({', '.join(params)}):\n    pass\n")
    many_lines = _seconds(head + "def f(\n" + "".join(f"    {p},\n" for p in params) + "):\n    pass\n")
    # Was 14 times slower (the line was rescanned per finding): now the same work.
    assert one_line < 4 * many_lines + 1.0, (one_line, many_lines)


# --- 6. the baseline: a newer format is never overwritten; no temporary file survives -------------


def _newer_baseline(project) -> bytes:
    data = json.dumps({"format": "flake8-db-session-baseline", "version": 99, "codes": ["DBS001"], "entries": []})
    (project / ".db-session-baseline.json").write_text(data)
    return data.encode()


def test_baseline_refuses_to_overwrite_a_newer_format(project):
    data = _newer_baseline(project)
    result = cli("baseline", "a.py", cwd=project)
    assert_one_error_line(result, ".db-session-baseline.json", "newer", "upgrade flake8-db-session")
    assert (project / ".db-session-baseline.json").read_bytes() == data
    assert_one_error_line(cli("check", "--baseline", "a.py", cwd=project), "upgrade flake8-db-session")
    assert_one_error_line(flake8("--select", "DBS", "a.py", cwd=project), "upgrade flake8-db-session")
    assert (project / ".db-session-baseline.json").read_bytes() == data


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_a_killed_write_are_removed(project):
    stale = project / f".db-session-baseline.json.{_dead_pid()}.abcd_123.tmp"
    stale.write_text("{half a baseline")
    unrelated = project / ".db-session-baseline.json.notes.tmp"  # not one of ours: kept
    unrelated.write_text("mine")
    result = cli("baseline", "a.py", cwd=project)
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and unrelated.exists()


def test_killing_baseline_writes_never_leaves_a_broken_or_hidden_file(project):
    for i in range(40):
        (project / f"m{i}.py").write_text(ENDPOINT.replace("list_items", f"items_{i}"))
    for delay in (0.2, 0.35, 0.5, 0.65, 0.8, 1.0):
        child = subprocess.Popen(
            [sys.executable, "-m", "flake8_db_session", "baseline", "-j", "1", "."],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        baseline = project / ".db-session-baseline.json"
        if baseline.exists():  # all of it or nothing
            assert json.loads(baseline.read_text())["format"] == "flake8-db-session-baseline"
    assert cli("baseline", ".", cwd=project).returncode == 0
    assert leftovers(project) == []


# --- 7. migrate --write: every file or none ------------------------------------------------------

MIGRATABLE = """from fastapi import APIRouter, Depends

from .db import get_db

router = APIRouter()


@router.get("/items/{n}")
def get_item_{n}(db=Depends(get_db)):
    return db.query(1).count()
"""


def _migration_project(root, files: int = 6):
    ast_grep = pytest.importorskip("ast_grep_py")
    del ast_grep
    app = root / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "db.py").write_text(
        "from contextlib import contextmanager\n\n\ndef get_db():\n    yield None\n\n\n"
        "fresh_db_session = contextmanager(get_db)\n"
    )
    for n in range(files):
        (app / f"r{n}.py").write_text(MIGRATABLE.replace("{n}", str(n)))
    return sorted(app.glob("r*.py"))


def _state(paths) -> set[str]:
    """'old', 'new' or both: whether each routes file was migrated."""
    return {"new" if "fresh_db_session" in p.read_text() else "old" for p in paths}


def test_migrate_write_replaces_every_file_or_none_when_killed(tmp_path):
    paths = _migration_project(tmp_path)
    assert cli("migrate", "app", cwd=tmp_path).returncode == 0
    for delay in (0.3, 0.6, 0.9, 1.2, 1.5, 2.0):
        for p in paths:
            p.write_text(MIGRATABLE.replace("{n}", p.stem[1:]))
        child = subprocess.Popen(
            [sys.executable, "-m", "flake8_db_session", "migrate", "app", "--write", "--no-diff"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        # The next migrate (even a dry run) completes a write that was committed to its journal.
        rerun = cli("migrate", "app", "--no-diff", cwd=tmp_path)
        assert "Traceback" not in rerun.stderr
        assert len(_state(paths)) == 1, (delay, [p.read_text() for p in paths])
        assert leftovers(tmp_path) == []
        for p in paths:
            ast.parse(p.read_text())


def test_migrate_write_interrupted_between_renames_is_completed_by_the_next_run(tmp_path, monkeypatch):
    """A run that dies after its journal, between two renames: the next run finishes it."""
    from flake8_db_session import fileio

    paths = _migration_project(tmp_path, files=3)
    new = {str(p): p.read_bytes().replace(b"get_db", b"get_session") for p in paths}
    real_replace = os.replace
    renamed = []

    def dying_replace(src, dst):
        if str(dst).endswith(".py"):
            if renamed:
                raise KeyboardInterrupt  # stands for the SIGKILL: no cleanup runs after it
            renamed.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", dying_replace)
    journal = str(tmp_path / ".flake8-db-session-migrate.journal")
    with pytest.raises(KeyboardInterrupt):
        fileio.replace_all(new, journal)
    monkeypatch.setattr(fileio.os, "replace", real_replace)
    assert os.path.exists(journal)
    assert sum(b"get_session" in p.read_bytes() for p in paths) == 1  # half done
    result = cli("migrate", "app", "--no-diff", cwd=tmp_path)
    assert "completed an interrupted migrate --write (2 files)" in result.stderr
    assert all(p.read_bytes() == new[str(p)] for p in paths)
    assert leftovers(tmp_path) == []


def test_migrate_write_that_fails_before_its_journal_changes_nothing(tmp_path, monkeypatch):
    from flake8_db_session import fileio

    paths = _migration_project(tmp_path, files=3)
    before = {p: p.read_bytes() for p in paths}
    new = {str(p): b"x = 1\n" for p in paths}
    real_write = fileio.write_atomic

    def failing_write(path, text):
        if path.endswith(".journal"):
            raise fileio.WriteError(f"{path}: cannot write: disk full")
        real_write(path, text)

    monkeypatch.setattr(fileio, "write_atomic", failing_write)
    with pytest.raises(fileio.WriteError):
        fileio.replace_all(new, str(tmp_path / ".flake8-db-session-migrate.journal"))
    assert {p: p.read_bytes() for p in paths} == before
    assert leftovers(tmp_path) == []


def test_migrate_keeps_a_latin1_file_in_latin1(tmp_path):
    paths = _migration_project(tmp_path, files=1)
    source = "# -*- coding: latin-1 -*-\n# café\n" + paths[0].read_text()
    paths[0].write_bytes(source.encode("latin-1"))
    result = cli("migrate", "app", "--write", "--no-diff", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = paths[0].read_bytes()
    assert b"# caf\xe9\n" in data and b"fresh_db_session" in data
    assert "Traceback" not in result.stderr


# --- 8. smaller faults ---------------------------------------------------------------------------


def test_unknown_key_in_the_pyproject_table_is_an_error_in_both_front_ends(project):
    (project / "pyproject.toml").write_text('[tool.flake8-db-session]\ndependencies = ["get_x"]\n')
    for result in (cli("check", "a.py", cwd=project), flake8("--select", "DBS", "a.py", cwd=project)):
        assert_one_error_line(result, "unknown key 'dependencies'", "valid keys: ", "db-session-dependencies")


def test_a_file_not_valid_in_its_encoding_gives_the_same_findings_in_both_front_ends(project):
    (project / "a.py").write_bytes(b"# coding: ascii\n# caf\xe9\n" + ENDPOINT.encode())
    checked, linted = cli("check", "a.py", cwd=project), flake8("--select", "DBS", "a.py", cwd=project)
    assert (checked.returncode, linted.returncode) == (1, 1), (checked.stderr, linted.stderr)
    assert checked.stdout == linted.stdout != ""


def test_an_unreadable_subdirectory_is_reported(project):
    prefix = unprivileged_prefix()
    os.chmod(project, 0o777)
    (project / "a.py").chmod(0o644)
    locked = project / "locked"
    locked.mkdir()
    (locked / "b.py").write_text(ENDPOINT)
    locked.chmod(0)
    try:
        result = cli("check", ".", cwd=project, prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert "Traceback" not in result.stderr
    assert "locked: cannot read directory (permission denied), skipped" in result.stderr
    assert "./a.py:7:19: DBS001" in result.stdout


def test_a_nul_byte_file_names_no_line_none(project):
    (project / "nul.py").write_bytes(b"x = 1\x00\n")
    result = cli("check", "nul.py", cwd=project)
    assert_one_error_line(result, "nul.py: error: syntax error: ", "null bytes")
    assert "None" not in result.stderr


# --- issue 13, parity of the two front ends ------------------------------------------------------


def test_file_level_flake8_noqa_is_honoured_by_check(project):
    (project / "a.py").write_text("# flake8: noqa\n" + ENDPOINT)
    assert (cli("check", "a.py", cwd=project).returncode, flake8("--select", "DBS", "a.py", cwd=project).returncode) == (0, 0)
    assert cli("check", "a.py", cwd=project).stdout == flake8("--select", "DBS", "a.py", cwd=project).stdout == ""
    assert "DBS001" in cli("check", "--disable-noqa", "a.py", cwd=project).stdout
    # The burndown still counts what a file-level noqa hides.
    assert cli("baseline", "a.py", cwd=project).returncode == 0
    assert '"code": "DBS001"' in (project / ".db-session-baseline.json").read_text()


def test_flake8_noqa_inside_a_line_does_not_silence_the_file(project):
    (project / "a.py").write_text("x = 1  # flake8: noqa\n" + ENDPOINT)
    assert cli("check", "a.py", cwd=project).stdout == flake8("--select", "DBS", "a.py", cwd=project).stdout != ""


PYPROJECT_ONLY = """[tool.flake8-db-session]
db-session-dependencies = ["get_conn"]
extend-ignore = ["DBS002"]
extend-exclude = ["vendored"]
per-file-ignores = {"legacy/*" = ["DBS001"]}
"""
HELPER = "from fastapi import Depends\n\n\ndef current_user(db=Depends(get_conn)):\n    return db\n"


def test_a_pyproject_only_project_gives_the_same_findings_in_both_front_ends(project):
    (project / "pyproject.toml").write_text(PYPROJECT_ONLY)
    (project / "a.py").write_text(ENDPOINT.replace("get_db", "get_conn"))
    (project / "helper.py").write_text(HELPER)  # DBS002: extend-ignore'd
    for directory in ("vendored", "legacy"):  # excluded; per-file-ignore'd
        (project / directory).mkdir()
        (project / directory / "b.py").write_text(ENDPOINT.replace("get_db", "get_conn"))
    checked, linted = cli("check", ".", cwd=project), flake8("--select", "DBS", ".", cwd=project)
    assert (checked.returncode, linted.returncode) == (1, 1), (checked.stderr, linted.stderr)
    assert checked.stdout == linted.stdout
    assert checked.stdout.startswith("./" + FINDING + "request-scoped session dependency get_conn on endpoint list_items")
    assert len(checked.stdout.splitlines()) == 1


def test_pyproject_wins_over_flake8_files_and_flags_win_over_both_in_both_front_ends(project):
    (project / "pyproject.toml").write_text(PYPROJECT_ONLY)
    (project / ".flake8").write_text("[flake8]\ndb-session-dependencies = get_db\n")
    (project / "a.py").write_text(ENDPOINT + ENDPOINT.replace("get_db", "get_conn").replace("list_items", "other"))
    checked, linted = cli("check", "a.py", cwd=project), flake8("--select", "DBS", "a.py", cwd=project)
    assert checked.stdout == linted.stdout
    assert "get_conn" in checked.stdout and "get_db " not in checked.stdout
    flag = "--db-session-dependencies=get_db"
    checked, linted = cli("check", flag, "a.py", cwd=project), flake8("--select", "DBS", flag, "a.py", cwd=project)
    assert checked.stdout == linted.stdout
    assert "get_db " in checked.stdout and "get_conn" not in checked.stdout


def test_special_file_kinds_are_named():
    from flake8_db_session.runner import _file_kind

    assert _file_kind(stat.S_IFIFO) == "a FIFO"
    assert _file_kind(stat.S_IFSOCK) == "a socket"
    assert _file_kind(stat.S_IFCHR) == "a character device"


def test_flake8_reads_the_pyproject_beside_an_explicit_config_and_none_when_isolated(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT_ONLY)
    (project / ".flake8").write_text("[flake8]\nmax-line-length = 100\n")
    (project / "a.py").write_text(ENDPOINT.replace("get_db", "get_conn"))
    linted = flake8("--select", "DBS", "--config", "../project/.flake8", "../project/a.py", cwd=elsewhere)
    assert linted.stdout.startswith("../project/" + FINDING), linted.stderr
    isolated = flake8("--select", "DBS", "--isolated", "a.py", cwd=project)
    assert (isolated.returncode, isolated.stdout) == (0, "")  # get_conn is not a default dependency


def test_migrate_removes_temporaries_of_a_run_killed_before_its_journal(tmp_path):
    """Killed after writing some temporaries but before the journal: nothing changed, and the next
    migrate (a dry run too) removes what the dead run left (the window a timed kill may hit)."""
    from flake8_db_session import fileio

    paths = _migration_project(tmp_path, files=2)
    before = {p: p.read_bytes() for p in paths}
    temporary = fileio.write_temporary(str(paths[0]), b"half = 1\n")
    dead_pid = 2**22 + 1  # above Linux's pid_max: no live process has it
    os.rename(temporary, temporary.replace(f".{os.getpid()}.", f".{dead_pid}."))
    assert leftovers(tmp_path)
    result = cli("migrate", "app", "--no-diff", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert leftovers(tmp_path) == []
    assert {p: p.read_bytes() for p in paths} == before


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


# The command as a terminal starts it: with Python's Ctrl-C handler. A shell starts a command in
# the background of a script with SIGINT ignored, and the command keeps it so (as any program
# does): the tests must not depend on how their own runner was started.
AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('flake8_db_session', run_name='__main__')"
)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads the process tree from /proc")
def test_ctrl_c_during_a_parallel_check_exits_130_without_a_traceback_per_worker(tmp_path):
    body = "\n\n".join(
        f"@router.get('/items/{n}')\ndef items_{n}(db=Depends(get_db)):\n    return [x for x in db.query(Item)]\n"
        for n in range(300)
    )
    # About 10 s of work for two workers: interrupted after a fraction of a second, even on a
    # loaded machine where this test's own process is slow to send the signal.
    for number in range(400):
        (tmp_path / f"m{number}.py").write_text("from fastapi import APIRouter, Depends\n\nrouter = APIRouter()\n\n" + body)
    process = subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "check", "-j2", "."],
        cwd=str(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(process.pid)
    assert process.poll() is None, "the check ended before its workers could be interrupted"
    time.sleep(0.2)  # the workers are analyzing
    assert process.poll() is None, "the check ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "Worker" not in stderr, stderr
    for _ in range(100):  # the command stopped its workers (they ignore SIGINT themselves)
        if not any(os.path.exists(f"/proc/{worker}") for worker in workers):
            break
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{worker}") for worker in workers)


def _interrupt_handler(*_args: object) -> str:
    held = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return f"{signal.getsignal(signal.SIGINT)}, held: {held}"


IGNORED = f"{signal.SIG_IGN}, held: False"  # what every worker says


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_the_workers_of_check_and_history_leave_ctrl_c_to_the_parent(monkeypatch):
    """Deterministic half of the test above: in every kind of worker, SIGINT is ignored (and no
    longer held, as it is while the workers start)."""
    from flake8_db_session import runner

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    from flake8_db_session.burndown import history

    monkeypatch.setattr(runner, "check_path", lambda path, _settings: runner.FileResult(path, [], _interrupt_handler()))
    results = runner._parallel(["a.py", "b.py", "c.py"], runner.Settings(), 2)
    assert {result.error for result in results} == {IGNORED}

    class Analysis:
        def analyze(self, path: str) -> str:
            return _interrupt_handler()

    paths = [f"m{n}.py" for n in range(history.PARALLEL_THRESHOLD)]
    assert set(history._analyze_all(Analysis(), paths, 2)) == {IGNORED}
    pool = history._window_pool([Analysis()], 2)
    try:
        assert set(pool.map(history._work_at, [(0, path) for path in paths])) == {IGNORED}
    finally:
        pool.terminate()
        pool.join()
        history._WINDOW = []
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask  # held only while the workers start


INTERRUPTED_WHILE_THE_POOL_STARTS = """
import multiprocessing.pool, os, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal (see above)

armed = []
original = multiprocessing.pool.Pool.__init__


def starting(self, *args, **kwargs):
    armed.append(True)
    original(self, *args, **kwargs)


def interrupt_once():  # Ctrl-C right after the first worker is forked
    if armed and len(armed) == 1:
        armed.append(True)
        os.kill(os.getpid(), signal.SIGINT)


multiprocessing.pool.Pool.__init__ = starting
os.register_at_fork(after_in_parent=interrupt_once)
from flake8_db_session.cli import main

sys.exit(main(["check", "-j2", "."]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux")
def test_ctrl_c_while_the_workers_start_exits_130_and_leaves_no_worker(tmp_path):
    # Arriving inside the pool's start-up, the interrupt was swallowed by an at-fork handler
    # ("Exception ignored"): the check ran to its end and exited 1.
    body = "\n\n".join(f"@router.get('/{n}')\ndef items_{n}(db=Depends(get_db)):\n    return 1\n" for n in range(50))
    for number in range(40):
        (tmp_path / f"m{number}.py").write_text("from fastapi import APIRouter, Depends\n\nrouter = APIRouter()\n\n" + body)
    process = subprocess.run(  # -X dev: a pool dropped unstopped says so (ResourceWarning)
        [sys.executable, "-X", "dev", "-c", INTERRUPTED_WHILE_THE_POOL_STARTS],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120, start_new_session=True,
    )
    # (run returning at all says no worker was left holding the output pipes)
    assert process.returncode == 130, process.stderr
    assert process.stderr == "", process.stderr  # no traceback, nothing ignored, no pool left running


SPAWNED_POOL = """
import multiprocessing, multiprocessing.context, signal
from flake8_db_session import runner

held = []  # whether this process held SIGINT as it started each worker (the worker inherits it)
original = multiprocessing.context.SpawnProcess._Popen


def starting(process):
    held.append(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    return original(process)


multiprocessing.context.SpawnProcess._Popen = staticmethod(starting)
pool = runner.worker_pool(multiprocessing.get_context("spawn"), 2)
pool.terminate()
pool.join()
print(held, signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="signal masks")
def test_ctrl_c_is_held_while_spawned_workers_start_too():
    # The first spawn pool starts multiprocessing's resource tracker, which released SIGINT
    # before the workers started (a fresh interpreter: the tracker is not running yet).
    process = subprocess.run([sys.executable, "-c", SPAWNED_POOL], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split("\n")[0] == "[True, True] False"
