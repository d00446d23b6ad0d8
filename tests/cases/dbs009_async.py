# config: db-session-model-modules = ../soundness/models.py
"""DBS009 (opt-in): a lazy relationship read inside an async session scope raises MissingGreenlet.

Executed by tests/soundness: every bad_ coroutine raises MissingGreenlet, every ok_ one runs.
"""
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from soundness.models import AsyncSessionLocal, Member, Team


async def bad_lazy_relationship_in_scope():
    async with AsyncSessionLocal() as db:
        team = await db.get(Team, 1)
        return [m.name for m in team.members]  # DBS009


async def bad_many_to_one_in_loop():
    async with AsyncSessionLocal() as db:
        members = (await db.scalars(select(Member))).all()
        for member in members:
            print(member.team)  # DBS009


async def _member_names(db: AsyncSession):
    team = await db.get(Team, 1)
    return [m.name for m in team.members]  # DBS009


async def bad_through_a_session_parameter():
    async with AsyncSessionLocal() as db:
        return await _member_names(db)


# --- negatives ---------------------------------------------------------------------------------


async def ok_eager_loaded():
    async with AsyncSessionLocal() as db:
        statement = select(Team).options(selectinload(Team.members)).where(Team.id == 1)
        team = (await db.scalars(statement)).one()
        return [m.name for m in team.members]


async def ok_eager_by_mapping():
    async with AsyncSessionLocal() as db:
        team = await db.get(Team, 1)
        return [t.name for t in team.tags]  # Team.tags is lazy="selectin"


async def ok_columns_only():
    async with AsyncSessionLocal() as db:
        team = await db.get(Team, 1)
        return team.name


async def ok_awaitable_refresh():
    async with AsyncSessionLocal() as db:
        team = await db.get(Team, 1)
        await db.refresh(team, ["members"])
        return len(team.members)


async def _team_with_members(db: AsyncSession) -> Team:
    statement = select(Team).options(selectinload(Team.members)).where(Team.id == 1)
    return (await db.scalars(statement)).one()


async def ok_eager_loaded_by_a_helper():
    async with AsyncSessionLocal() as db:
        team = await _team_with_members(db)  # the helper's query eager-loads members
        return [m.name for m in team.members]
