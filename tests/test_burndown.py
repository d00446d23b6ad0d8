"""Burndown core: counts, the baseline file, the ratchet (pure, in-process)."""

from __future__ import annotations

import json

import pytest

from flake8_db_session.analysis import Finding, analyze
from flake8_db_session.burndown.baseline import Baseline, BaselineError, parse
from flake8_db_session.burndown.counts import (
    Counts,
    count_findings,
    grep_count,
    grep_pattern,
)
from flake8_db_session.burndown.ratchet import compare
from flake8_db_session.burndown.tables import RENDERERS
from flake8_db_session.config import Settings

SOURCE = '''
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from app.db import get_db
router = APIRouter()

# grep also counts this comment: Depends(get_db)

@router.get("/a")
def list_a(db: Session = Depends(get_db)):
    return db.query(1).all()

@router.get("/b")
def list_b(db: Session = Depends(get_db)):  # noqa: DBS001
    return db.query(1).all()

@router.get("/c")
def unused_c(db: Session = Depends(get_db)):
    return {}

def get_user(db: Session = Depends(get_db)):
    return db.query(1).first()
'''


def findings_for(path: str, source: str = SOURCE) -> list[Finding]:
    return analyze(source, path, Settings())


def test_counts_by_code_status_noqa_and_grep(tmp_path):
    path = str(tmp_path / "app" / "routers.py")
    counts = count_findings(
        findings_for(path), root=str(tmp_path), grep={path: grep_count(SOURCE, grep_pattern(["get_db"]))}
    )
    row = counts.modules["app/routers.py"]
    assert dict(row.codes) == {"DBS001": 3, "DBS002": 1}
    assert row.total == 4
    assert row.noqa == 1  # counted, never hidden
    assert row.statuses["unused"] == 1 and row.statuses["plain"] == 2
    assert row.statuses["unreferenced"] == 1  # get_user: no module hands it to Depends
    assert row.grep == 5  # the comment too
    data = json.loads(json.dumps(counts.to_dict()))
    assert data["totals"]["total"] == 4 and data["totals"]["modules"] == 1
    assert Counts.from_dict(data).to_dict() == counts.to_dict()


def test_grep_pattern_matches_what_teams_grep_for():
    pattern = grep_pattern(["get_db", "app.deps.get_session"])
    text = "Depends(get_db) Depends( deps.get_db ) Security(get_session) Depends(get_dbx) Depends(other)"
    assert grep_count(text, pattern) == 3


def test_tables_sort_worst_first_and_agree(tmp_path):
    small = str(tmp_path / "small.py")
    big = str(tmp_path / "big.py")
    one = SOURCE.split("@router.get(\"/b\")")[0]
    counts = count_findings(findings_for(small, one) + findings_for(big), root=str(tmp_path))
    table = RENDERERS["table"](counts, None).splitlines()
    assert table[2].startswith("big.py") and table[3].startswith("small.py")
    assert table[-1].startswith("TOTAL (2 modules)")
    csv_rows = RENDERERS["csv"](counts, None).splitlines()
    assert csv_rows[0].startswith("module,DBS001,DBS002,total,plain,mitigated")
    assert csv_rows[-1].startswith("TOTAL,4,1,5,")
    markdown = RENDERERS["markdown"](counts, {"big.py": 4}).splitlines()
    assert markdown[0].endswith("| baseline |") and "**TOTAL (2 modules)**" in markdown[-1]
    assert json.loads(RENDERERS["json"](counts, {"big.py": 4}))["totals"]["baseline"] == 4


def baseline_of(entries: dict) -> Baseline:
    return Baseline(("DBS001", "DBS002"), entries)


def test_baseline_text_is_sorted_one_entry_per_line_and_round_trips():
    baseline = baseline_of({("b.py", "DBS001", "z"): 2, ("a.py", "DBS002", "helper"): 1, ("a.py", "DBS001", "f"): 1})
    text = baseline.render()
    entry_lines = [line for line in text.splitlines() if line.strip().startswith('{"module"')]
    assert [json.loads(line.rstrip(","))["module"] for line in entry_lines] == ["a.py", "a.py", "b.py"]
    assert '"version": 1' in text
    assert parse(text) == baseline
    assert parse(text).render() == text


HEAD = '{"format": "flake8-db-session-baseline", "version": 1, "codes": ["DBS001"], "entries": '
ENTRY = '{"module": "a.py", "code": "DBS001", "function": "f", "count": 1}'


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{", "invalid JSON"),
        ("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n", "merge conflict"),
        ('{"entries": []}', "not a baseline"),
        ('{"format": "flake8-db-session-baseline", "version": 99, "codes": [], "entries": []}', "newer"),
        (HEAD + '[{"module": "a.py", "code": "DBS001", "function": "f", "count": 0}]}', "positive integer"),
        (HEAD + '[{"module": "a.py", "code": "DBS001", "function": "f", "count": 1}, ' + ENTRY + "]}", "repeats"),
    ],
)
def test_bad_baselines_are_one_line_errors(text, reason):
    with pytest.raises(BaselineError) as info:
        parse(text, "b.json")
    message = str(info.value)
    assert reason in message and "\n" not in message and message.startswith("b.json: ")


def ratchet(tmp_path, sources: dict, baseline: Baseline):
    findings = []
    for name, source in sources.items():
        path = tmp_path / name
        path.write_text(source)
        findings.extend(findings_for(str(path), source))
    return compare(
        findings, baseline, root=str(tmp_path), ratchet_codes=("DBS001", "DBS002"),
        checked=[str(tmp_path / name) for name in sources],
    )


def baseline_from(tmp_path, sources: dict) -> Baseline:
    findings = [f for name, src in sources.items() for f in findings_for(str(tmp_path / name), src)]
    return Baseline.from_findings(findings, root=str(tmp_path), codes=("DBS001", "DBS002"))


ENDPOINT = '''
@router.get("/{name}")
def {name}(db: Session = Depends(get_db)):
    return db.query(1).all()
'''


def test_ratchet_names_the_added_function_and_tightens_on_removal(tmp_path):
    base = baseline_from(tmp_path, {"r.py": SOURCE})
    grown = ratchet(tmp_path, {"r.py": SOURCE + ENDPOINT.replace("{name}", "added")}, base)
    assert grown.failed
    (overrun,) = grown.overruns
    assert (overrun.module, overrun.code, overrun.count, overrun.allowed) == ("r.py", "DBS001", 4, 3)
    assert [n.function for n in overrun.new] == ["added"]
    finding = overrun.finding()
    assert finding.code == "DBS100" and finding.line == SOURCE.count("\n") + 3
    assert "new: added (line" in finding.message and "\n" not in finding.message

    shrunk = ratchet(tmp_path, {"r.py": SOURCE.replace("def unused_c(db: Session = Depends(get_db))", "def unused_c()")}, base)
    assert not shrunk.failed
    assert [(t.module, t.code, t.allowed, t.count) for t in shrunk.tightenings] == [("r.py", "DBS001", 3, 2)]
    assert ("r.py", "DBS001", "unused_c") not in shrunk.tightened.entries
    assert shrunk.tightened.allowed("r.py", "DBS002") == 1


def test_rename_in_place_passes_and_a_move_passes_with_the_baseline_following(tmp_path):
    other = "from fastapi import APIRouter, Depends\nfrom app.db import get_db\nrouter = APIRouter()\n"
    base = baseline_from(tmp_path, {"r.py": SOURCE, "o.py": other})
    renamed = ratchet(tmp_path, {"r.py": SOURCE.replace("list_a", "list_alpha"), "o.py": other}, base)
    assert not renamed.failed and not renamed.tightenings

    moved_out = SOURCE.replace('@router.get("/c")\ndef unused_c(db: Session = Depends(get_db)):\n    return {}\n', "")
    moved = ratchet(tmp_path, {"r.py": moved_out, "o.py": other + ENDPOINT.replace("{name}", "unused_c")}, base)
    assert not moved.failed and not moved.tightenings
    assert [m.describe() for m in moved.moves] == ["unused_c DBS001 r.py -> o.py"]
    assert ("r.py", "DBS001", "unused_c") not in moved.tightened.entries
    assert moved.tightened.entries[("o.py", "DBS001", "unused_c")] == 1
    assert sum(moved.tightened.entries.values()) == sum(base.entries.values())

    # Moved and a new one beside it: only the new one fails, and the move is still recorded.
    both = other + ENDPOINT.replace("{name}", "unused_c") + ENDPOINT.replace("{name}", "brand_new")
    result = ratchet(tmp_path, {"r.py": moved_out, "o.py": both}, base)
    (overrun,) = result.overruns
    assert [n.function for n in overrun.new] == ["brand_new"] and overrun.total_grew
    assert [m.function for m in result.moves] == ["unused_c"]


def test_a_noqa_site_still_counts_and_the_message_says_so(tmp_path):
    base = baseline_from(tmp_path, {"r.py": SOURCE})
    hidden = ENDPOINT.replace("{name}", "hidden").replace("Depends(get_db)):", "Depends(get_db)):  # noqa: DBS001")
    (overrun,) = ratchet(tmp_path, {"r.py": SOURCE + hidden}, base).overruns
    assert "hidden (line" in overrun.message() and "noqa'd)" in overrun.message()
    assert "# noqa does not exempt a site from the ratchet" in overrun.message()


def test_codes_outside_the_baseline_are_not_enforced(tmp_path):
    base = Baseline(("DBS002",), {})
    result = ratchet(tmp_path, {"r.py": SOURCE}, base)
    assert result.uncovered == ["DBS001"]
    assert [(o.code, o.count) for o in result.overruns] == [("DBS002", 1)]


def test_an_overrun_beside_a_rename_says_new_or_renamed(tmp_path):
    base = baseline_from(tmp_path, {"r.py": SOURCE})
    renamed_and_added = SOURCE.replace("list_a", "list_alpha") + ENDPOINT.replace("{name}", "added")
    (overrun,) = ratchet(tmp_path, {"r.py": renamed_and_added}, base).overruns
    assert "new or renamed: list_alpha (line 10); added (line" in overrun.message()
