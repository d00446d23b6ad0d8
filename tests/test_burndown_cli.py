"""Burndown end to end: report, baseline and the ratchet through the real command and real flake8."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flake8_db_session.cli import main

HEADER = '''from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from app.db import get_db

router = APIRouter()
'''
ENDPOINT = '''

@router.get("/{name}")
def {name}(db: Session = Depends(get_db)):
    return db.query(1).all()
'''
HELPER = '''

def current_user(db: Session = Depends(get_db)):
    return db.query(1).first()
'''


def endpoints(*names: str, helper: bool = False) -> str:
    return HEADER + "".join(ENDPOINT.replace("{name}", n) for n in names) + (HELPER if helper else "")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A small FastAPI project with a .flake8 at its root; the current directory is that root."""
    (tmp_path / ".flake8").write_text("[flake8]\nselect = DBS\n")
    app = tmp_path / "app"
    (app / "routers").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "routers" / "__init__.py").write_text("")
    (app / "db.py").write_text("def get_db():\n    yield None\n")
    (app / "routers" / "items.py").write_text(endpoints("list_items", "get_item", "delete_item"))
    (app / "routers" / "users.py").write_text(endpoints("list_users", helper=True))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_table_is_worst_first_with_totals(project, capsys):
    code, out, _ = cli(capsys, "report", "app")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:4] == ["module", "DBS001", "DBS002", "total"]
    assert lines[2].split()[:4] == ["app/routers/items.py", "3", "0", "3"]
    assert lines[3].split()[:4] == ["app/routers/users.py", "1", "1", "2"]
    assert lines[-1].split()[:6] == ["TOTAL", "(2", "modules)", "4", "1", "5"]
    code, out, _ = cli(capsys, "report", "app", "--format", "json")
    assert json.loads(out)["totals"]["grep"] == 5


def test_baseline_is_written_and_rewritten_byte_identical(project, capsys):
    assert cli(capsys, "baseline")[0] == 0
    path = project / ".db-session-baseline.json"
    first = path.read_bytes()
    entries = [json.loads(line.strip().rstrip(",")) for line in first.decode().splitlines() if '"module"' in line]
    assert {(e["module"], e["function"]) for e in entries} >= {("app/routers/items.py", "get_item")}
    assert sum(e["count"] for e in entries) == 5
    (project / "app" / "routers" / "items.py").write_text("# edited elsewhere\n" + endpoints("list_items", "get_item", "delete_item"))
    code, out, _ = cli(capsys, "baseline")
    assert code == 0 and out.startswith("unchanged")
    assert path.read_bytes() == first


def test_ratchet_fails_on_an_added_endpoint_naming_it(project, capsys):
    cli(capsys, "baseline")
    assert cli(capsys, "check", "--baseline", "app")[0] == 0
    items = project / "app" / "routers" / "items.py"
    items.write_text(endpoints("list_items", "get_item", "delete_item", "export_items"))
    code, out, _ = cli(capsys, "check", "--baseline", "app")
    assert code == 1
    dbs100 = [line for line in out.splitlines() if " DBS100 " in line]
    assert len(dbs100) == 1
    assert dbs100[0].startswith("app/routers/items.py:24:")
    assert "holds DBS001 findings: 4, over its baseline of 3 (new: export_items (line 24))" in dbs100[0]
    # Only the new endpoint's own finding is listed beside DBS100, not the baselined ones.
    listed = [line for line in out.splitlines() if ": DBS001 " in line]
    assert len(listed) == 1 and "endpoint export_items;" in listed[0]
    assert cli(capsys, "report", "--baseline", "app")[0] == 1


def test_ratchet_passes_and_tightens_on_a_removed_endpoint(project, capsys):
    cli(capsys, "baseline")
    path = project / ".db-session-baseline.json"
    before = path.read_text()
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items", "get_item"))
    code, _, err = cli(capsys, "check", "--baseline", "--frozen-baseline", "app")
    assert code == 1 and "app/routers/items.py DBS001 3 -> 2" in err
    assert path.read_text() == before  # frozen: never written
    code, _, err = cli(capsys, "check", "--baseline", "app")
    assert code == 0 and "tightened" in err
    assert '"function": "delete_item"' in before and '"function": "delete_item"' not in path.read_text()
    # The tightened baseline is what `baseline` would write.
    tightened = path.read_bytes()
    cli(capsys, "baseline")
    assert path.read_bytes() == tightened


def test_function_renamed_in_place_passes_without_touching_the_baseline(project, capsys):
    cli(capsys, "baseline")
    path = project / ".db-session-baseline.json"
    before = path.read_bytes()
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items", "fetch_item", "delete_item"))
    assert cli(capsys, "check", "--baseline", "app")[0] == 0
    assert path.read_bytes() == before


def test_moved_function_passes_and_the_baseline_follows_it(project, capsys):
    cli(capsys, "baseline")
    path = project / ".db-session-baseline.json"
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items", "get_item"))
    (project / "app" / "routers" / "users.py").write_text(endpoints("list_users", "delete_item", helper=True))
    code, _, err = cli(capsys, "check", "--baseline", "--frozen-baseline", "app")
    assert code == 1 and "moved delete_item DBS001 app/routers/items.py -> app/routers/users.py" in err
    code, out, err = cli(capsys, "check", "--baseline", "app")
    assert code == 0 and "DBS100" not in out and "updated .db-session-baseline.json" in err
    moved = path.read_bytes()
    assert b'"module": "app/routers/users.py", "code": "DBS001", "function": "delete_item"' in moved
    cli(capsys, "baseline")
    assert path.read_bytes() == moved  # what `baseline` would write
    assert cli(capsys, "check", "--baseline", "--frozen-baseline", "app")[0] == 0


@pytest.mark.parametrize("command", ["check", "report"])
def test_corrupt_baseline_is_exit_2_and_left_untouched(project, capsys, command):
    cli(capsys, "baseline")
    path = project / ".db-session-baseline.json"
    broken = path.read_text().replace('"count": 1}', '"count": 1', 1).encode()
    path.write_bytes(broken)
    code, out, err = cli(capsys, command, "--baseline", "app")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and ".db-session-baseline.json: invalid JSON" in err
    assert path.read_bytes() == broken


def test_missing_baseline_is_exit_2(project, capsys):
    code, _, err = cli(capsys, "check", "--baseline-file", "nowhere.json", "app")
    assert code == 2 and "flake8-db-session baseline" in err


def test_partial_baseline_keeps_other_modules(project, capsys):
    cli(capsys, "baseline")
    path = project / ".db-session-baseline.json"
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items", "get_item", "a", "b"))
    (project / "app" / "routers" / "users.py").write_text(HEADER)
    cli(capsys, "baseline", "app/routers/items.py")
    text = path.read_text()
    assert '"function": "current_user"' in text  # users.py was not re-read: kept
    assert '"function": "b"' in text


@pytest.mark.integration
def test_report_with_two_jobs_equals_one_job(project, run_cli):
    filler = project / "app" / "filler"
    filler.mkdir()
    (filler / "__init__.py").write_text("")
    for number in range(40):  # above the runner's parallel threshold
        names = [f"endpoint_{number}_{k}" for k in range(number % 3 + 1)]
        (filler / f"m{number}.py").write_text(endpoints(*names, helper=number % 5 == 0))
    one = run_cli("report", "app", "-j", "1", "--format", "json", cwd=project)
    two = run_cli("report", "app", "-j", "2", "--format", "json", cwd=project)
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    filler_findings = sum(number % 3 + 1 + (number % 5 == 0) for number in range(40))
    assert json.loads(one.stdout)["totals"]["total"] == 5 + filler_findings
    assert one.stdout == two.stdout


# --- through real flake8 ---------------------------------------------------------------------


def flake8(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8", *args], cwd=project, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.integration
def test_dbs100_through_real_flake8(project, capsys):
    cli(capsys, "baseline")
    assert flake8(project, "--select", "DBS100", "app").stdout == ""
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items", "get_item", "delete_item", "export_items"))
    proc = flake8(project, "-j", "2", "--select", "DBS", "--db-session-ratchet-only", "app")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        (
            "app/routers/items.py:24:32: DBS100 app/routers/items.py holds DBS001 findings: 4, over its baseline of 3 "
            "(new: export_items (line 24)); use a short scope instead, or update the baseline if a function only moved"
        )
    ]
    # Without ratchet-only the findings are reported beside DBS100.
    assert len(flake8(project, "--select", "DBS", "app").stdout.splitlines()) == 6 + 1
    # A subdirectory run keys modules relative to the config root, as the baseline does.
    proc = flake8(project / "app", "--select", "DBS100", "routers/items.py")
    assert "DBS100 app/routers/items.py holds DBS001 findings: 4" in proc.stdout


@pytest.mark.integration
def test_corrupt_baseline_stops_flake8_with_one_line(project, capsys):
    (project / ".db-session-baseline.json").write_text("{")
    proc = flake8(project, "--select", "DBS", "app")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "invalid JSON" in proc.stderr


@pytest.mark.integration
def test_counts_format_under_two_jobs_equals_one_job_and_the_report(project, run_cli):
    (project / "app" / "routers" / "noqa.py").write_text(HEADER + ENDPOINT.replace("{name}", "hidden").replace("get_db)):", "get_db)):  # noqa"))
    one = flake8(project, "-j", "1", "--format", "db-session-counts", "app")
    two = flake8(project, "-j", "2", "--format", "db-session-counts", "app")
    assert one.stdout == two.stdout and one.returncode == two.returncode == 1
    report = run_cli("report", "app", cwd=project).stdout
    assert two.stdout == report
    assert "app/routers/noqa.py" in report  # noqa'd findings still count


def test_a_file_that_does_not_parse_is_not_counted_as_burnt_down(project, capsys):
    cli(capsys, "baseline")
    path = project / ".db-session-baseline.json"
    before = path.read_bytes()
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items") + "\ndef broken(:\n")
    code, _, err = cli(capsys, "check", "--baseline", "app")
    assert code == 2 and "syntax error" in err
    assert path.read_bytes() == before


@pytest.mark.integration
def test_a_noqa_new_site_still_fails_and_dbs100_says_it_is_noqa(project, capsys, run_cli):
    cli(capsys, "baseline")
    hidden = ENDPOINT.replace("{name}", "export_items").replace("get_db)):", "get_db)):  # noqa: DBS001")
    (project / "app" / "routers" / "items.py").write_text(endpoints("list_items", "get_item", "delete_item") + hidden)
    note = "(new: export_items (line 24 noqa'd); # noqa does not exempt a site from the ratchet)"
    command = run_cli("check", "--baseline", "app", cwd=project)
    assert command.returncode == 1 and note in command.stdout, command.stdout + command.stderr
    assert ": DBS001 " not in command.stdout  # the noqa'd finding itself stays hidden
    through_flake8 = flake8(project, "--select", "DBS", "app")
    assert through_flake8.returncode == 1 and note in through_flake8.stdout, through_flake8.stdout
