# config: db-session-model-modules = ../soundness/models.py
"""DBS003: ORM objects returned or yielded out of a short-lived session scope.

Executed by tests/soundness: every bad_ function returns an object whose relationship (or, once
expired, any attribute) raises DetachedInstanceError when the caller reads it; every ok_
function returns something the caller can read freely.
"""
from typing import List

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from soundness.models import ExpiringSession, SessionLocal, Tag, Team, fresh_db_session

app = FastAPI()


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


class TeamRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    members: List[MemberRead]


def bad_return_inside_scope():
    with fresh_db_session() as db:
        return db.get(Team, 1)  # DBS003


def bad_return_after_scope():
    with SessionLocal() as db:
        team = db.get(Team, 1)
    return team  # DBS003


def bad_return_query_list():
    with fresh_db_session() as db:
        teams = db.query(Team).order_by(Team.id).all()
    return teams  # DBS003


def bad_return_scalars_container():
    with SessionLocal() as db:
        teams = db.scalars(select(Team).order_by(Team.id)).all()
        return {"teams": teams}  # DBS003


def bad_return_statement_variable():
    statement = select(Team).where(Team.id == 1)
    with SessionLocal() as db:
        team = db.execute(statement).scalar_one()
    return [team]  # DBS003


def bad_return_expired_by_commit():
    # Tag has no lazy relationship, but expire_on_commit=True expires it: any read raises.
    with ExpiringSession() as db:
        tag = db.get(Tag, 1)
        db.commit()
        return tag  # DBS003


def bad_return_manual_scope():
    db = SessionLocal()
    try:
        team = db.query(Team).filter(Team.id == 1).one()
    finally:
        db.close()
    return team  # DBS003


def bad_yield_after_scope():
    with SessionLocal() as db:
        teams = db.query(Team).all()
    for team in teams:
        yield team  # DBS003


@app.get("/bad_endpoint_returns_orm", response_model=TeamRead)
def bad_endpoint_returns_orm():
    with fresh_db_session() as db:
        return db.get(Team, 1)  # DBS003


def bad_return_sorted_copy():
    with SessionLocal() as db:
        teams = db.query(Team).all()
    return sorted(teams, key=lambda team: team.id)  # DBS003


def bad_unpacked_pair():
    with SessionLocal() as db:
        core, ops = db.scalars(select(Team).order_by(Team.id)).all()
    return ops  # DBS003


# --- negatives ---------------------------------------------------------------------------------


def ok_serialized_inside():
    with fresh_db_session() as db:
        return TeamRead.model_validate(db.get(Team, 1))


def ok_columns_only():
    with SessionLocal() as db:
        team = db.get(Team, 1)
    return {"id": team.id, "name": team.name}


def ok_column_select():
    with SessionLocal() as db:
        rows = db.execute(select(Team.id, Team.name)).all()
    return rows


def ok_scalar_count():
    with SessionLocal() as db:
        count = db.query(Team).count()
    return count


def ok_no_lazy_relationship():
    # Tag has no lazy relationship and expire_on_commit=False: the caller can read it.
    with SessionLocal() as db:
        return db.get(Tag, 1)


def ok_eager_loaded():
    with SessionLocal() as db:
        team = db.scalars(select(Team).options(selectinload(Team.members)).where(Team.id == 1)).one()
    return team


def ok_relationship_read_inside():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        count = len(team.members)  # loads it while the session is open
    return team, count


def ok_sibling_block(use_orm=False):
    if use_orm:
        with SessionLocal() as db:
            team = db.get(Team, 1)
            return TeamRead.model_validate(team)
    else:
        team = "no team"
    return team


def ok_reassigned():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        team = TeamRead.model_validate(team)
    return team


def ok_yield_inside_scope():
    with SessionLocal() as db:
        for team in db.query(Team).all():
            yield team  # consumed while the session is open


def ok_dict_from_columns():
    with SessionLocal() as db:
        teams = db.query(Team).all()
        return [{"id": t.id, "members": [m.name for m in t.members]} for t in teams]


@app.get("/ok_endpoint_serializes", response_model=TeamRead)
def ok_endpoint_serializes():
    with fresh_db_session() as db:
        return TeamRead.model_validate(db.get(Team, 1))


def ok_transient_copy():
    # The real codebase's pattern (auth.py): a new, unattached copy built from column values.
    with SessionLocal() as db:
        team = db.get(Team, 1)
        return Team(id=team.id, name=team.name)
