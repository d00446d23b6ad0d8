"""Properties of the codemod on generated endpoints: it never raises, the result parses, a second
run changes nothing, DBS001 drops by the number migrated, and code around the endpoint is untouched."""

from __future__ import annotations

import ast

import pytest

pytest.importorskip("ast_grep_py")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from flake8_db_session.analysis import analyze  # noqa: E402
from flake8_db_session.config import Settings  # noqa: E402
from flake8_db_session.migrate import migrate_source  # noqa: E402

SETTINGS = Settings(scope_factory="app.db:fresh_db_session", session_decorators=("require_permission",))
HEADER = (
    "from fastapi import APIRouter, Depends\nfrom sqlalchemy.orm import Session\n\n"
    "from app.db import get_db\nfrom app.schemas import ItemOut\n\nrouter = APIRouter()\n\n\n"
)
TRAILER = "\n\ndef helper( x ):\n\treturn x  # untouched\n"

# Statements at body level (one indent unit = 4 spaces; nested lines carry their own extra indent).
STATEMENTS = [
    "item = db.get(Item, item_id)",
    "items = db.query(Item).all()",
    "count = db.query(Item).count()",
    "note = Item(name='x')",
    "db.add(note)",
    "db.commit()",
    "await slow()",
    "slow_sync()",
    "label = item.name",
    "text = '''first\n  second\n'''",
    "message = f'''{count}\n    kept'''",
    "if count:\n        total = count + 1",
    "try:\n        db.flush()\n    except ValueError:\n        raise",
    "for row in items:\n        rows.append(row)",
    "rows = []",
    "# a comment",
    "",
    "x = 1; y = db.x",
]
RETURNS = ["return item", "return {'count': count}", "return items", "return count", "return None", ""]
PARAMS = ["item_id: int", "q: str = ''", "*, flag: bool = False"]


@st.composite
def endpoints(draw):
    body = draw(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=8))
    returns = draw(st.sampled_from(RETURNS))
    docstring = draw(st.booleans())
    params = draw(st.lists(st.sampled_from(PARAMS[:2]), unique=True, max_size=2))
    session = draw(st.sampled_from(["db: Session = Depends(get_db)", "db=Depends(get_db)"]))
    params.insert(draw(st.integers(0, len(params))), session)
    if draw(st.booleans()):
        params.append(PARAMS[2])
    decorator = draw(st.sampled_from(['@router.get("/x")', '@router.get("/x", response_model=ItemOut)']))
    extra = draw(st.sampled_from(["", '@require_permission("x")\n']))
    lines = [f"{decorator}\n{extra}async def endpoint({', '.join(params)}):"]
    if docstring:
        lines.append('    """Doc\n    string."""')
    lines.extend("    " + s if s else "" for s in body)
    if returns:
        lines.append("    " + returns)
    if not any(line.strip() and not line.strip().startswith("#") for line in lines[1:]):
        lines.append("    pass")
    return HEADER + "\n".join(lines) + "\n" + TRAILER


def dbs001(source: str) -> int:
    return sum(f.code == "DBS001" for f in analyze(source, "app/routes.py", SETTINGS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoints())
def test_generated_endpoints(source):
    try:
        ast.parse(source)
    except SyntaxError:
        return  # the generator can build a body that is not valid Python; nothing to check
    outcome = migrate_source(source, "app/routes.py", SETTINGS)
    assert not outcome.error
    ast.parse(outcome.after)
    assert outcome.after.endswith(TRAILER)
    head_before = HEADER.split("router = APIRouter()")[0].splitlines()
    head_after = outcome.after.split("router = APIRouter()")[0].splitlines()
    new_lines = set(head_after) - set(head_before)
    assert new_lines <= {"from app.db import fresh_db_session", "from fastapi import APIRouter"}
    # Only imports of names the removed parameters used may go.
    assert all(line.startswith("from ") for line in set(head_before) - set(head_after))
    migrated = sum(e.action in ("moved", "removed") for e in outcome.endpoints)
    assert dbs001(source) - dbs001(outcome.after) == migrated
    again = migrate_source(outcome.after, "app/routes.py", SETTINGS)
    assert again.after == outcome.after
    # String constants are never changed by re-indenting.
    def strings(text: str) -> list[str]:
        return sorted(
            n.value for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        )

    assert set(strings(source)) <= set(strings(outcome.after)) | {"x"}
