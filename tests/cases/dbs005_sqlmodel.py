# config: db-session-model-modules = ../soundness/sqlmodel_models.py
# config: db-session-scopes = soundness.sqlmodel_models.session_scope, soundness.sqlmodel_models.async_session_scope, soundness.sqlmodel_models.ScopeProvider.scope
"""DBS005 on SQLModel: ``table=True`` classes, ``Relationship(...)`` with its loader strategy
(``sa_relationship_kwargs={"lazy": ...}``), ``session.exec(select(...))``, project scopes
given by qualified name (a function, an async context manager, a method).

Executed by tests/soundness: every bad_ example raises DetachedInstanceError (InvalidRequestError
for the lazy="raise" ones), every ok_ example runs. The scopes use expire_on_commit=False.
"""
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from soundness.models import engine
from soundness.sqlmodel_models import Hero, Squad, SquadRead, async_session_scope, provider, session_scope


def bad_relationship_after_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
    return [hero.name for hero in squad.heroes]  # DBS005:35 "squad.heroes is read after the session session closed"


def bad_many_to_one_from_exec():
    with session_scope() as session:
        heroes = session.exec(select(Hero)).all()
    return [hero.squad.name for hero in heroes]  # DBS005:13 "hero.squad"


def bad_property_over_a_lazy_relationship():
    with session_scope() as session:
        squad = session.exec(select(Squad).where(Squad.id == 1)).first()
    return squad.hero_names  # DBS005:12 "it reads lazy relationship heroes"


async def bad_after_async_scope():
    async with async_session_scope() as session:
        squad = (await session.exec(select(Squad).where(Squad.id == 1))).one()
    return len(squad.heroes)  # DBS005:16 "squad.heroes is read after the session session closed"


async def bad_after_a_method_scope():
    async with provider.scope() as session:
        squad = await session.get(Squad, 1)
    return squad.hero_names  # DBS005:12 "hero_names"


def bad_raise_inside_the_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
        return [mission.name for mission in squad.missions]  # DBS005:45 "which raises InvalidRequestError when it was not eager-loaded"


def bad_raise_after_the_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
    return len(squad.missions)  # DBS005:16 "inside the session scope too"


def bad_expired_by_commit_then_read():
    with Session(engine) as session:  # SQLModel's Session keeps expire_on_commit=True
        squad = session.get(Squad, 1)
        squad.rank = 3
        session.commit()
    return squad.rank  # DBS005:12 "expired before the close"


# --- negatives ---------------------------------------------------------------------------------


def ok_selectin_through_a_property():
    with session_scope() as session:
        squad = session.get(Squad, 1)
    return squad.badge_names  # Squad.badges is lazy="selectin": loaded with the squad


def ok_selectin_relationship_after_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
    return [badge.name for badge in squad.badges]


def ok_columns_and_a_column_method_after_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
    return squad.name, squad.title()  # expire_on_commit=False: columns stay loaded


def ok_raise_relationship_eager_loaded():
    with session_scope() as session:
        squad = session.exec(select(Squad).options(selectinload(Squad.missions)).where(Squad.id == 1)).one()
    return [mission.name for mission in squad.missions]


def ok_relationship_read_inside_scope():
    with session_scope() as session:
        squad = session.get(Squad, 1)
        names = [hero.name for hero in squad.heroes]
    return names, len(squad.heroes)


def ok_schema_built_inside_scope():
    with session_scope() as session:
        squad = SquadRead.model_validate(session.get(Squad, 1))
    return squad.name


async def ok_async_selectin_through_a_property():
    async with async_session_scope() as session:
        squad = await session.get(Squad, 1)
    return squad.badge_names


def ok_read_after_commit_inside_the_scope():
    with Session(engine) as session:
        squad = session.get(Squad, 1)
        squad.rank = 3
        session.commit()
        rank = squad.rank  # refreshed inside the scope
    return rank, squad.rank
