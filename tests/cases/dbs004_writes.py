# config: db-session-model-modules = ../soundness/models.py
"""DBS004: writes to ORM objects after their session closed are silently lost.

Executed by tests/soundness: after each bad_ function no row is named "changed"; after each ok_
function one is.
"""
from sqlalchemy import select

from soundness.models import Member, SessionLocal, Team, fresh_db_session


def bad_write_after_scope():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
    team.name = "changed"  # DBS004


def bad_write_after_close():
    db = SessionLocal()
    try:
        member = db.scalars(select(Member).where(Member.name == "ann")).one()
    finally:
        db.close()
    member.name = "changed"  # DBS004


def bad_write_in_loop_after_scope():
    with fresh_db_session() as db:
        members = db.query(Member).all()
    for member in members:
        if member.name == "bob":
            member.name = "changed"  # DBS004


def bad_augmented_write_after_scope():
    with fresh_db_session() as db:
        team = db.get(Team, 2)
    team.name += "changed"  # DBS004


def bad_commit_after_close():
    db = SessionLocal()
    try:
        team = db.get(Team, 1)
        db.commit()
        db.close()
        team.name = "changed"  # DBS004
        db.commit()  # nothing to flush: the object left the session at close()
    finally:
        db.close()


# --- negatives ---------------------------------------------------------------------------------


def ok_write_inside_scope():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
        team.name = "changed"


def ok_write_then_reattach():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
    team.name = "changed"
    with fresh_db_session() as db:
        db.add(team)


def ok_write_to_a_new_object():
    team = Team(name="draft")
    team.name = "changed"
    with fresh_db_session() as db:
        db.add(team)


def ok_sibling_block(inside=True):
    if inside:
        with fresh_db_session() as db:
            team = db.get(Team, 1)
            team.name = "changed"
    else:
        team = Team(name="x")
        team.name = "changed"


def ok_rebound_to_a_live_object():
    with fresh_db_session() as db:
        team = db.get(Team, 1)
    with fresh_db_session() as db:
        team = db.get(Team, team.id)
        team.name = "changed"


def ok_scrubbed_for_the_response():
    # A change meant for the in-memory copy only (the response), not for the database.
    with fresh_db_session() as db:
        team = db.get(Team, 1)
    team.name = team.name.upper()
    with fresh_db_session() as db:
        db.get(Team, 2).name = "changed"
    return {"name": team.name}
