"""Every eval file under tests/cases reports exactly the findings its comments state."""

from __future__ import annotations

import pytest

from evalcases import case_files, check_case, run_case


@pytest.mark.parametrize("name", case_files())
def test_eval_file(name: str) -> None:
    check_case(name)


def tags(name: str) -> dict[str, str]:
    _, _, findings = run_case(name)
    return {f.function: f.status for f in findings}


def test_status_tags() -> None:
    status = tags("dbs001_endpoints.py")
    assert status["plain"] == "plain"
    assert status["function_scope"] == "function-scope"
    assert status["kwonly"] == "unused"
    assert status["websocket"] == "unused,websocket"
    assert status["registered_ws"] == "websocket"
    assert status["stream"] == "streaming"
    assert status["<module>"] == "plain"  # router-level dependencies=[...]
    assert status["create_app.nested"] == "plain"
    assert status["Views.method"] == "plain"


def test_decorator_db_and_mitigated() -> None:
    from flake8_db_session.analysis import analyze
    from flake8_db_session.config import Settings

    source = '''
from fastapi import APIRouter, Depends
from app.auth import require_permission
router = APIRouter()

@router.get("/a")
@require_permission("x")
async def reads_kwargs(db=Depends(get_db)):
    return 1

@router.get("/b")
def closes_early(db=Depends(get_db)):
    rows = db.query(1).all()
    db.commit()
    db.close()
    return rows
'''
    settings = Settings(session_decorators=("require_permission",))
    found = {f.function: f.status for f in analyze(source, "x.py", settings)}
    assert found == {"reads_kwargs": "decorator-db", "closes_early": "mitigated"}


def test_messages_are_one_line_and_start_with_the_code() -> None:
    for name in case_files("dbs00"):
        for finding in run_case(name)[2]:
            assert "\n" not in finding.message
            assert finding.message.startswith(finding.code + " ")


def test_positions_are_the_depends_call() -> None:
    _, _, findings = run_case("dbs001_endpoints.py")
    first = findings[0]
    assert (first.line, first.col) == (22, 24)  # `Depends(get_db)` in `def plain(db: Session = Depends(get_db))`
