# config: db-session-model-modules = ../soundness/models.py
"""DBS008 for ``next()`` over a generator session provider (``get_session`` here, one of the
default names; a discovered provider reaches the rules as its dotted name), in plain functions:
imported under another name, through a generator bound first, or handed straight to a call.

Executed by tests/soundness: each function runs once normally and once with fail=True; while the
error propagates, a bad_ function still holds its pooled connection, an ok_ function does not.
"""
from soundness.models import SessionLocal, Team
from soundness.models import get_db as _get_db


def get_session():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


class TeamReader:
    def __init__(self, db):
        self.db = db

    def count(self):
        return self.db.query(Team).count()


def bad_aliased_provider(fail=False):
    db = next(_get_db())  # DBS008:5 "next(_get_db())"
    count = db.query(Team).count()
    if fail:
        raise ValueError("boom")
    db.close()
    return count


def bad_discovered_provider(fail=False):
    db = next(get_session())  # DBS008 "next(get_session())"
    count = db.query(Team).count()
    if fail:
        raise ValueError("boom")
    db.close()
    return count


def bad_generator_then_next(fail=False):
    sessions = get_session()
    db = next(sessions)  # DBS008
    count = db.query(Team).count()
    if fail:
        raise ValueError("boom")
    db.close()
    return count


def bad_handed_straight_to_a_call(fail=False):
    reader = TeamReader(next(get_session()))  # DBS008:25
    count = reader.count()
    if fail:
        raise ValueError("boom")
    reader.db.close()
    return count


# --- negatives ---------------------------------------------------------------------------------


def ok_generator_then_next_closed(fail=False):
    sessions = get_session()
    db = next(sessions)
    try:
        count = db.query(Team).count()
        if fail:
            raise ValueError("boom")
        return count
    finally:
        db.close()


def ok_generator_closed_in_finally(fail=False):
    sessions = get_session()
    db = next(sessions)
    try:
        count = db.query(Team).count()
        if fail:
            raise ValueError("boom")
        return count
    finally:
        sessions.close()  # runs the provider's finally, which closes the session


def ok_returned_to_the_caller(fail=False):
    if fail:
        raise ValueError("boom")
    return next(get_session())
