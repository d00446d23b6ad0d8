# config: db-session-model-modules = ../soundness/sqlmodel_models.py
# config: db-session-scopes = soundness.sqlmodel_models.async_session_scope, soundness.sqlmodel_models.ScopeProvider.scope, AsyncSession
"""DBS009 (opt-in) on SQLModel: a lazy ``Relationship`` read inside an async scope raises
MissingGreenlet, whether the scope is a project ``@asynccontextmanager``, a method or
``AsyncSession(engine)``; a property over one does too.

Executed by tests/soundness: every bad_ coroutine raises MissingGreenlet, every ok_ one runs.
"""
from sqlalchemy.orm import selectinload
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from soundness.models import async_engine
from soundness.sqlmodel_models import Hero, Squad, async_session_scope, provider


async def bad_lazy_relationship_in_scope():
    async with async_session_scope() as session:
        squad = await session.get(Squad, 1)
        return [hero.name for hero in squad.heroes]  # DBS009:39 "squad.heroes"


async def bad_property_over_a_lazy_relationship():
    async with async_session_scope() as session:
        squad = (await session.exec(select(Squad).where(Squad.id == 1))).one()
        return squad.hero_names  # DBS009:16 "squad.hero_names"


async def bad_many_to_one_from_exec():
    async with AsyncSession(async_engine) as session:
        heroes = (await session.exec(select(Hero))).all()
        return [hero.squad.name for hero in heroes]  # DBS009


async def bad_in_a_method_scope():
    async with provider.scope() as session:
        squad = await session.get(Squad, 1)
        return len(squad.heroes)  # DBS009


# --- negatives ---------------------------------------------------------------------------------


async def ok_selectin_through_a_property():
    async with async_session_scope() as session:
        squad = await session.get(Squad, 1)
        return squad.badge_names


async def ok_eager_loaded():
    async with async_session_scope() as session:
        statement = select(Squad).options(selectinload(Squad.heroes)).where(Squad.id == 1)
        squad = (await session.exec(statement)).one()
        return [hero.name for hero in squad.heroes]


async def ok_awaitable_refresh():
    async with AsyncSession(async_engine) as session:
        squad = await session.get(Squad, 1)
        await session.refresh(squad, ["heroes"])
        return squad.hero_names


async def ok_columns_only():
    async with async_session_scope() as session:
        squad = await session.get(Squad, 1)
        return squad.title()
