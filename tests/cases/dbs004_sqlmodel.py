# config: db-session-model-modules = ../soundness/sqlmodel_models.py
# config: db-session-scopes = soundness.sqlmodel_models.session_scope, soundness.sqlmodel_models.async_session_scope
"""DBS004 on SQLModel: a write to a ``table=True`` row after its project scope closed is lost.

Executed by tests/soundness: after each bad_ example no row is named "changed"; after each ok_
example one is.
"""
from sqlmodel import select

from soundness.sqlmodel_models import Hero, Squad, async_session_scope, session_scope


def bad_write_after_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
    squad.name = "changed"  # DBS004


async def bad_write_after_async_scope():
    async with async_session_scope() as session:
        hero = (await session.exec(select(Hero).where(Hero.name == "ann"))).one()
    hero.name = "changed"  # DBS004


# --- negatives ---------------------------------------------------------------------------------


def ok_write_inside_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
        squad.name = "changed"  # session_scope commits on success


async def ok_merged_after_async_scope():
    async with async_session_scope() as session:
        hero = (await session.exec(select(Hero).where(Hero.name == "ann"))).one()
    hero.name = "changed"
    async with async_session_scope() as session:
        await session.merge(hero)
