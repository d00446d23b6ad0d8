# config: db-session-model-modules = ../soundness/models.py
"""DBS008: sessions acquired without a guaranteed close.

Executed by tests/soundness: each function runs once normally and once with fail=True; while the
error propagates, a bad_ function still holds its pooled connection, an ok_ function does not.
"""
from contextlib import closing

from soundness.models import SessionLocal, Team, get_db


def bad_next_get_db(fail=False):
    db = next(get_db())  # DBS008
    count = db.query(Team).count()
    if fail:
        raise ValueError("boom")
    db.close()
    return count


def bad_session_local_closed_on_success_only(fail=False):
    db = SessionLocal()  # DBS008
    names = [t.name for t in db.query(Team)]
    if fail:
        raise ValueError("boom")
    db.close()
    return names


# --- negatives ---------------------------------------------------------------------------------


def ok_finally(fail=False):
    db = SessionLocal()
    try:
        count = db.query(Team).count()
        if fail:
            raise ValueError("boom")
        return count
    finally:
        db.close()


def ok_next_get_db_with_finally(fail=False):
    db = next(get_db())
    try:
        count = db.query(Team).count()
        if fail:
            raise ValueError("boom")
        return count
    finally:
        db.close()


def ok_with_block(fail=False):
    with SessionLocal() as db:
        count = db.query(Team).count()
        if fail:
            raise ValueError("boom")
        return count


def ok_closing(fail=False):
    db = SessionLocal()
    with closing(db):
        if fail:
            raise ValueError("boom")
        return db.query(Team).count()


def ok_factory(fail=False):
    if fail:
        raise ValueError("boom")
    db = SessionLocal()
    return db  # the caller owns it


class _Migration:
    """Stands in for alembic's ``op``: hands out a connection that it owns and closes."""

    def get_bind(self):
        return _connection


_connection = None
op = _Migration()


def ok_alembic_data_migration(fail=False):
    global _connection
    from soundness.models import engine
    from sqlalchemy.orm import Session

    with engine.connect() as _connection:
        bind = op.get_bind()
        session = Session(bind=bind)  # bound to the migration's connection: nothing of its own to leak
        count = session.query(Team).count()
        if fail:
            raise ValueError("boom")
        return count
