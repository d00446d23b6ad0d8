# config: db-session-model-modules = ../soundness/models.py
"""DBS005: lazy relationships (or any attribute of an expired object) read after the scope ended.

Executed by tests/soundness: every bad_ function raises DetachedInstanceError, every ok_ function
runs. SessionLocal and fresh_db_session use expire_on_commit=False (plain column reads after the
scope are fine); ExpiringSession keeps the default True.
"""
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from soundness.models import ExpiringSession, Member, SessionLocal, Team, engine, fresh_db_session


def bad_relationship_after_scope():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
    return [m.name for m in team.members]  # DBS005:29 "team.members is read after the session db closed"


def bad_property_touching_relationship():
    with SessionLocal() as db:
        team = db.query(Team).filter(Team.id == 1).first()
    return team.member_names  # DBS005


def bad_many_to_one_in_loop():
    with SessionLocal() as db:
        members = db.scalars(select(Member)).all()
    names = []
    for member in members:
        names.append(member.team.name)  # DBS005
    return names


def bad_expired_by_commit():
    with ExpiringSession() as db:
        team = db.get(Team, 1)
        db.commit()
    return team.name  # DBS005


def bad_expired_by_rollback():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        db.rollback()
    return team.name  # DBS005


def bad_after_manual_close():
    db = SessionLocal()
    try:
        team = db.get(Team, 1)
    finally:
        db.close()
    return len(team.members)  # DBS005


def bad_in_comprehension():
    with SessionLocal() as db:
        teams = db.query(Team).order_by(Team.id).all()
    return {t.name: len(t.members) for t in teams}  # DBS005


def bad_after_early_close(close_early=True):
    db = SessionLocal()
    try:
        team = db.get(Team, 1)
        db.close()
        return team.members  # DBS005
    finally:
        db.close()


def bad_read_after_failed_scope():
    # fresh_db_session rolls back on error (expiring the team) before it closes.
    try:
        with fresh_db_session() as db:
            team = db.get(Team, 1)
            raise ValueError("boom")
    except ValueError:
        return team.name  # DBS005


def bad_after_session_begin_block():
    # SQLAlchemy's own idiom: the begin() block commits, expire_on_commit=True expires the team.
    with Session(engine) as db, db.begin():
        team = db.get(Team, 1)
    return team.name  # DBS005


# --- negatives ---------------------------------------------------------------------------------


def ok_column_after_scope():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
    return team.name, team.id, team.label()


def ok_eager_option():
    with SessionLocal() as db:
        team = db.scalars(select(Team).options(selectinload(Team.members)).where(Team.id == 1)).one()
    return [m.name for m in team.members]


def ok_joinedload_query():
    with SessionLocal() as db:
        team = db.query(Team).options(joinedload(Team.members)).filter(Team.id == 1).first()
    return len(team.members)


def ok_eager_by_mapping():
    # Team.tags is lazy="selectin": loaded with the team.
    with SessionLocal() as db:
        team = db.get(Team, 1)
    return [t.name for t in team.tags]


def ok_loaded_inside_scope():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        first = team.members[0].name
    return first, len(team.members)


def ok_read_inside_scope():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        return [m.name for m in team.members]


def ok_refreshed_after_commit():
    with ExpiringSession() as db:
        team = db.get(Team, 1)
        db.commit()
        db.refresh(team)
    return team.name


def ok_sibling_block(flag=False):
    if flag:
        with SessionLocal() as db:
            team = db.get(Team, 1)
    else:
        with SessionLocal() as db:
            team = db.get(Team, 1)
            return len(team.members)
    return 0


def ok_closed_on_one_path(close=False):
    db = SessionLocal()
    try:
        team = db.get(Team, 1)
        if close:
            db.close()
        return len(team.members)
    finally:
        db.close()


def ok_early_return_path(missing=False):
    with SessionLocal() as db:
        team = db.get(Team, 1)
        if missing:
            return None
        count = len(team.members)
    return count, len(team.members)


def ok_rows_of_columns():
    with SessionLocal() as db:
        rows = db.execute(select(Team.id, Team.name).order_by(Team.id)).all()
    return [row.name for row in rows]


def ok_reassigned_in_loop():
    with SessionLocal() as db:
        teams = db.query(Team).all()
    for team in teams:
        team = {"name": team.name}
        team.get("members")
    return True


def ok_lambda_not_called():
    with SessionLocal() as db:
        team = db.get(Team, 1)
    later = lambda team: team.members  # noqa: E731 - a parameter of the same name
    return later is not None


def ok_read_after_failed_plain_scope():
    # Session.__exit__ only closes: the detached team keeps its loaded columns.
    try:
        with SessionLocal() as db:
            team = db.get(Team, 1)
            raise ValueError("boom")
    except ValueError:
        return team.name


def ok_read_after_failed_later_step(fail=True):
    team = None
    try:
        with fresh_db_session() as db:
            team = db.get(Team, 1)
        if fail:
            raise ValueError("boom")
    except ValueError:
        return team.name if team else None


def _member_count(team):
    return len(team.members)


def ok_loaded_by_a_helper_inside_scope():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        count = _member_count(team)  # the helper loads team.members while the session is open
    return count, [m.name for m in team.members]


def ok_loaded_by_its_own_property():
    with SessionLocal() as db:
        team = db.get(Team, 1)
        names = team.member_names
    return names, len(team.members)
