"""The codemod on small sources: what moves where, what is skipped and why, what stays byte for byte."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("ast_grep_py")

from flake8_db_session.analysis import analyze  # noqa: E402
from flake8_db_session.config import Settings  # noqa: E402
from flake8_db_session.migrate import migrate_source  # noqa: E402

HEADER = textwrap.dedent(
    """\
    from fastapi import APIRouter, BackgroundTasks, Depends
    from fastapi.responses import StreamingResponse
    from sqlalchemy.orm import Session

    from app.db import get_db
    from app.schemas import ItemOut

    router = APIRouter()
    """
)
CONFIGURED = Settings(scope_factory="app.db:fresh_db_session", session_decorators=("require_permission",))


def migrate(body: str, settings: Settings = CONFIGURED):
    source = HEADER + textwrap.dedent(body)
    outcome = migrate_source(source, "app/routes.py", settings)
    assert not outcome.error, outcome.error
    ast.parse(outcome.after)  # the result always parses
    return outcome


def added(outcome) -> str:
    """The migrated text without the header."""
    return outcome.after.split("router = APIRouter()\n", 1)[1]


def only(outcome):
    (endpoint,) = outcome.endpoints
    return endpoint


def test_moves_the_session_uses_into_a_short_scope_and_adds_the_import():
    outcome = migrate(
        '''
        @router.get("/items/{item_id}")
        async def read_item(item_id: int, db: Session = Depends(get_db)):
            """Read one item."""
            await authorize(item_id)
            count = db.query(Item).count()
            await notify(count)
            return {"count": count}
        '''
    )
    assert only(outcome).action == "moved"
    assert "from app.db import fresh_db_session\n" in outcome.after
    assert added(outcome) == textwrap.dedent(
        '''
        @router.get("/items/{item_id}")
        async def read_item(item_id: int):
            """Read one item."""
            await authorize(item_id)
            with fresh_db_session() as db:
                count = db.query(Item).count()
            await notify(count)
            return {"count": count}
        '''
    )


def test_imports_left_unused_are_dropped_and_used_ones_kept():
    outcome = migrate(
        """
        @router.get("/a")
        def a(db: Session = Depends(get_db), user=Depends(current_user)):
            return {"n": db.query(Item).count()}
        """
    )
    assert outcome.after.startswith(
        "from fastapi import APIRouter, BackgroundTasks, Depends\n"  # Depends: still used by `user`
        "from fastapi.responses import StreamingResponse\n\n"  # not a candidate: untouched
        "from app.db import fresh_db_session\n"  # get_db and Session: unused now, dropped
        "from app.schemas import ItemOut\n"
    )


def test_scope_extends_while_a_possible_orm_value_is_read_later():
    outcome = migrate(
        '''
        @router.get("/items/{item_id}")
        def read_item(item_id: int, db: Session = Depends(get_db)):
            item = db.get(Item, item_id)
            slow_step()
            label = item.owner.name
            finish()
            return {"label": label}
        '''
    )
    text = added(outcome)
    # `item` may be an ORM object: its last reader is inside; `label` is unknown, so the return too.
    assert "        slow_step()\n        label = item.owner.name\n        finish()\n        return" in text
    assert only(outcome).reviews  # the return of a possibly-ORM value needs a decision


def test_scope_moves_inside_a_try_whose_handlers_do_not_need_the_session():
    outcome = migrate(
        """
        @router.get("/items/{item_id}")
        async def read_item(item_id: int, db: Session = Depends(get_db)):
            try:
                await authorize(item_id)
                count = db.query(Item).count()
                await notify(count)
                return {"count": count}
            except LookupError as exc:
                raise HTTPException(status_code=404, detail=str(exc))
        """
    )
    assert added(outcome) == textwrap.dedent(
        """
        @router.get("/items/{item_id}")
        async def read_item(item_id: int):
            try:
                await authorize(item_id)
                with fresh_db_session() as db:
                    count = db.query(Item).count()
                await notify(count)
                return {"count": count}
            except LookupError as exc:
                raise HTTPException(status_code=404, detail=str(exc))
        """
    )


def test_return_inside_a_scope_inside_a_try_is_reviewed():
    outcome = migrate(
        """
        @router.get("/items")
        def list_items(db: Session = Depends(get_db)):
            try:
                return db.query(Item).all()
            except LookupError:
                raise HTTPException(status_code=404)
        """
    )
    (review,) = only(outcome).reviews
    assert outcome.after.splitlines()[review.line - 1] == "            return db.query(Item).all()"


def test_scope_keeps_the_whole_try_when_a_handler_uses_the_session():
    outcome = migrate(
        """
        @router.post("/items")
        def add_item(db: Session = Depends(get_db)):
            try:
                db.add(Item())
            except ValueError:
                db.rollback()
                raise
            return {"ok": True}
        """
    )
    assert "    with fresh_db_session() as db:\n        try:\n            db.add(Item())\n" in outcome.after
    assert "        except ValueError:\n            db.rollback()\n" in outcome.after


def test_serializes_returned_orm_values_with_the_known_response_model():
    outcome = migrate(
        """
        @router.get("/items/{item_id}", response_model=ItemOut)
        def read_item(item_id: int, db: Session = Depends(get_db)):
            return db.get(Item, item_id)

        @router.get("/items", response_model=list[ItemOut])
        def list_items(db: Session = Depends(get_db)):
            items = db.query(Item).all()
            return items
        """
    )
    text = added(outcome)
    assert "return ItemOut.model_validate(db.get(Item, item_id), from_attributes=True)" in text
    assert "return [ItemOut.model_validate(item, from_attributes=True) for item in items]" in text
    assert [e.serialized for e in outcome.endpoints] == [1, 1]
    assert not any(e.reviews for e in outcome.endpoints)


def test_unknown_response_model_is_left_as_is_and_reported_for_review():
    outcome = migrate(
        """
        @router.get("/items")
        def list_items(db: Session = Depends(get_db)):
            return db.query(Item).all()
        """
    )
    endpoint = only(outcome)
    assert "return db.query(Item).all()" in outcome.after
    (review,) = endpoint.reviews
    assert "DBS003" in review.note
    assert outcome.after.splitlines()[review.line - 1].strip() == "return db.query(Item).all()"


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("def f(a: int, db: Session = Depends(get_db), b: int = 1):", "def f(a: int, b: int = 1):"),
        ("def f(a: int, db: Session = Depends(get_db)):", "def f(a: int):"),
        ("def f(db: Session = Depends(get_db)):", "def f():"),
        ("def f(a, *, db: Session = Depends(get_db)):", "def f(a):"),
        ("def f(*, db=Depends(get_db), **kw):", "def f(**kw):"),
        ("def f(\n    a: int,\n    db: Session = Depends(get_db),\n    b: str = '',\n):", "def f(\n    a: int,\n    b: str = '',\n):"),
        ("def f(\n    a: int,\n    db: Session = Depends(get_db),\n):", "def f(\n    a: int,\n):"),
    ],
)
def test_parameter_removal_keeps_the_rest_of_the_signature(signature, expected):
    outcome = migrate(f'\n@router.get("/x")\n{signature}\n    return {{"ok": True}}\n')
    assert only(outcome).action == "removed"  # unused: removed, no scope
    assert added(outcome) == f'\n@router.get("/x")\n{expected}\n    return {{"ok": True}}\n'
    assert "fresh_db_session" not in outcome.after


def test_multiline_string_content_and_untouched_code_stay_byte_for_byte():
    body = (
        '\n@router.post("/notes")\n'
        "def add_note(text: str, db: Session = Depends(get_db)) -> dict:\n"
        "    prefix = '''keep\n  this   indentation\n'''  # comment\n"
        "    note = Note(text=prefix + text)\n"
        "    db.add(note)\n"
        "\n"
        '    message = f"""saved\n    {note.id}\n"""\n'
        "    return {'message': message}\n"
        "\n\n"
        "def untouched( a ,b ):\n\treturn a+b  # odd style\n"
    )
    outcome = migrate(body)
    text = added(outcome)
    assert "    prefix = '''keep\n  this   indentation\n'''  # comment\n" in text  # before the scope
    # `note` was handed to the session: its later read stays inside; the blank line stays empty;
    # the f-string's continuation lines are string content and keep their indentation.
    assert (
        "    with fresh_db_session() as db:\n        db.add(note)\n\n"
        '        message = f"""saved\n    {note.id}\n"""\n'
        "    return {'message': message}\n"
    ) in text
    assert text.endswith("def untouched( a ,b ):\n\treturn a+b  # odd style\n")
    for line in ast.walk(ast.parse(outcome.after)):
        if isinstance(line, ast.Constant) and isinstance(line.value, str) and "indentation" in line.value:
            assert line.value == "keep\n  this   indentation\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            '@router.get("/a")\n@require_permission("items.read")\ndef a(db: Session = Depends(get_db)):\n    return db.x\n',
            "decorator-db",
        ),
        (
            '@router.get("/b")\ndef b(db: Session = Depends(get_db)):\n    return StreamingResponse(rows(db))\n',
            "streaming",
        ),
        ('@router.websocket("/c")\nasync def c(ws, db: Session = Depends(get_db)):\n    await ws.send(db.x)\n', "websocket"),
        (
            '@router.post("/d")\ndef d(tasks: BackgroundTasks, db: Session = Depends(get_db)):\n    tasks.add_task(work, db)\n',
            "outlives-call",
        ),
        (
            '@router.post("/e")\ndef e(db: Session = Depends(get_db)):\n    def later():\n        return db.x\n    return later\n',
            "outlives-call",
        ),
        ('@router.post("/f")\ndef f(request, db: Session = Depends(get_db)):\n    request.state.db = db\n', "outlives-call"),
        ('@router.get("/g")\ndef g(db: Session = Depends(get_db)):  # noqa: DBS001\n    return db.x\n', "noqa"),
        ('@router.get("/h")\ndef h(db: Session = Depends(get_db)): return db.x\n', "layout"),
        ('@router.get("/i", dependencies=[Depends(get_db)])\ndef i():\n    return 1\n', "dependencies-list"),
    ],
)
def test_skips_what_must_not_move_mechanically(body, reason):
    outcome = migrate("\n" + body)
    assert [(e.action, e.reason) for e in outcome.endpoints] == [("skipped", reason)]
    assert outcome.after == outcome.before


def test_dead_parameter_rebound_in_the_body_is_removed():
    outcome = migrate(
        """
        @router.get("/x")
        def x(db: Session = Depends(get_db)):
            db = next(get_db())
            try:
                return db.x
            finally:
                db.close()
        """
    )
    assert only(outcome).action == "removed"
    assert "def x():\n    db = next(get_db())" in outcome.after


def test_async_factory_gives_async_with_and_is_not_used_in_sync_endpoints(tmp_path):
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "db.py").write_text(
        "from contextlib import asynccontextmanager\n\nasync def get_db():\n    yield None\n\n"
        "fresh_db_session = asynccontextmanager(get_db)\n"
    )
    routes = package / "routes.py"
    routes.write_text(
        "from fastapi import Depends\nfrom .db import get_db\n\n"
        '@router.get("/a")\nasync def a(db=Depends(get_db)):\n    return await db.x()\n\n'
        '@router.get("/b")\ndef b(db=Depends(get_db)):\n    return db.x()\n'
    )
    from flake8_db_session.project import context_for_path

    settings = Settings(root=str(tmp_path))
    module, is_package, index = context_for_path(str(routes), settings)
    outcome = migrate_source(routes.read_text(), str(routes), settings, module=module, is_package=is_package, index=index)
    assert "from .db import fresh_db_session\n" in outcome.after
    assert "    async with fresh_db_session() as db:\n        return await db.x()\n" in outcome.after
    assert [(e.function, e.action, e.reason) for e in outcome.endpoints] == [
        ("a", "moved", ""),
        ("b", "skipped", "no-scope-factory"),
    ]


def test_idempotent_and_dbs001_count_drops_by_the_migrated():
    source = HEADER + textwrap.dedent(
        """
        @router.get("/a")
        def a(db: Session = Depends(get_db)):
            return {"n": db.query(Item).count()}

        @router.get("/b")
        def b(db: Session = Depends(get_db)):
            return {"ok": True}

        @router.get("/c")
        @require_permission("x")
        def c(db: Session = Depends(get_db)):
            return {"n": db.query(Item).count()}
        """
    )
    first = migrate_source(source, "app/routes.py", CONFIGURED)
    migrated = [e for e in first.endpoints if e.action in ("moved", "removed")]
    assert len(migrated) == 2
    def count(text: str) -> int:
        return sum(f.code == "DBS001" for f in analyze(text, "app/routes.py", CONFIGURED))

    assert count(source) - count(first.after) == 2
    second = migrate_source(first.after, "app/routes.py", CONFIGURED)
    assert second.after == first.after
    assert [e.action for e in second.endpoints] == ["skipped"]


def test_no_scope_factory_without_configuration_or_definition():
    outcome = migrate(
        """
        @router.get("/a")
        def a(db: Session = Depends(get_db)):
            return {"n": db.query(Item).count()}
        """,
        Settings(),
    )
    endpoint = only(outcome)
    assert (endpoint.action, endpoint.reason) == ("skipped", "no-scope-factory")
    assert "db-session-scope-factory" in endpoint.detail


def test_core_imports_and_migrate_explains_without_ast_grep(tmp_path):
    target = tmp_path / "x.py"
    target.write_text("x = 1\n")
    code = (
        "import sys; sys.modules['ast_grep_py'] = None\n"
        "import flake8_db_session.analysis, flake8_db_session.plugin, flake8_db_session.runner\n"
        "from flake8_db_session.cli import main\n"
        f"sys.exit(main(['migrate', {str(target)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "flake8-db-session: error: migrate needs ast-grep-py: pip install 'flake8-db-session[migrate]'"
    ]


def test_command_writes_atomically_and_keeps_non_python_bytes(tmp_path, run_cli):
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "db.py").write_text("from contextlib import contextmanager\ndef get_db():\n    yield 1\nfresh_db_session = contextmanager(get_db)\n")
    routes = app / "routes.py"
    original = (
        "\ufeff# -*- coding: utf-8 -*-\r\nfrom fastapi import Depends\r\nfrom .db import get_db\r\n\r\n"
        '@router.get("/é")\r\ndef a(db=Depends(get_db)):\r\n    n = db.count()  # é\r\n    return {"n": n}\r\n'
    )
    routes.write_bytes(original.encode("utf-8"))
    proc = run_cli("migrate", "--write", "--no-diff", "app")
    assert proc.returncode == 0, proc.stderr
    data = routes.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "from .db import fresh_db_session\r\n" in text
    assert "def a():\r\n    with fresh_db_session() as db:\r\n        n = db.count()  # é\r\n    return" in text
    assert not [name for name in os.listdir(app) if name.endswith(".tmp")]


def test_unparsable_file_is_named_and_the_others_still_migrate(tmp_path, run_cli):
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "db.py").write_text("from contextlib import contextmanager\ndef get_db():\n    yield 1\nfresh_db_session = contextmanager(get_db)\n")
    (app / "broken.py").write_text("def broken(:\n    pass\n")
    good = app / "good.py"
    good.write_text('from fastapi import Depends\nfrom .db import get_db\n\n@router.get("/")\ndef a(db=Depends(get_db)):\n    return {"n": db.n()}\n')
    proc = run_cli("migrate", "--write", "--no-diff", "app")
    assert proc.returncode == 2
    assert "error: app/broken.py: cannot parse" in proc.stderr
    assert "with fresh_db_session() as db:" in good.read_text()
