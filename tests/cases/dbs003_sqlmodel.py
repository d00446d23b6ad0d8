# config: db-session-model-modules = ../soundness/sqlmodel_models.py
# config: db-session-scopes = soundness.sqlmodel_models.session_scope, soundness.sqlmodel_models.async_session_scope
"""DBS003 on SQLModel: a ``table=True`` row returned out of a project scope unserialized.

Executed by tests/soundness: every bad_ example returns rows whose lazy relationships raise
DetachedInstanceError in the caller, every ok_ example's result is fully readable.
"""
from sqlmodel import select

from soundness.sqlmodel_models import Badge, Hero, Squad, SquadRead, async_session_scope, session_scope


def bad_row_returned():
    with session_scope() as session:
        return session.get(Squad, 1)  # DBS003:16 "ORM object session.get(Squad, 1) leaves the session scope"


def bad_exec_rows_returned():
    with session_scope() as session:
        heroes = session.exec(select(Hero)).all()
    return heroes  # DBS003:12 "heroes"


async def bad_rows_returned_from_async_scope():
    async with async_session_scope() as session:
        return (await session.exec(select(Hero))).all()  # DBS003


# --- negatives ---------------------------------------------------------------------------------


def ok_schema_returned():
    with session_scope() as session:
        return SquadRead.model_validate(session.get(Squad, 1))


def ok_rows_without_relationships():
    with session_scope() as session:
        return session.exec(select(Badge)).all()  # columns only, expire_on_commit=False


def ok_stream_over_columns():
    with session_scope() as session:
        for hero in session.exec(select(Hero)):
            yield hero.name
