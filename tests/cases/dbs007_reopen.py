# config: db-session-model-modules = ../soundness/models.py
"""DBS007: a session used after its close() is silently reopened.

Executed by tests/soundness with a real session: after each bad_ function the session holds a
connection and a transaction again; after each ok_ function it does not.
"""
from sqlalchemy import select
from sqlalchemy.orm import Session

from soundness.models import SessionLocal, Team


def bad_query_after_close(db: Session):
    teams = db.query(Team).all()
    db.commit()
    db.close()
    return len(teams), db.query(Team).count()  # DBS007


def bad_execute_after_close_in_branch(db: Session, audit=True):
    names = [t.name for t in db.scalars(select(Team))]
    db.close()
    if audit:
        db.execute(select(Team.id))  # DBS007
    return names


def bad_get_after_close_in_loop(db: Session):
    found = []
    for team_id in (1, 2):
        found.append(db.get(Team, team_id).name)
    db.close()
    for team_id in (1, 2):
        db.get(Team, team_id)  # DBS007
    return found


# --- negatives ---------------------------------------------------------------------------------


def ok_close_last(db: Session):
    count = db.query(Team).count()
    db.commit()
    db.close()
    return count


def ok_close_on_another_path(db: Session, done=False):
    if done:
        db.close()
        return 0
    count = db.query(Team).count()
    db.close()
    return count


def ok_commit_and_rollback_after_close(db: Session):
    count = db.query(Team).count()
    db.close()
    db.commit()  # no transaction: nothing to check out
    db.rollback()
    return count


def ok_other_session_after_close(db: Session):
    db.close()
    with SessionLocal() as other:
        return other.query(Team).count()
