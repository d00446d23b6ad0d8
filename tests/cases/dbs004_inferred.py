# config: db-session-model-modules = ../soundness/models.py
"""DBS004 with nothing configured: lookups that may return an object no session holds.

``TeamLookup.get_team`` returns the database row on a cache miss, but on a cache hit a new
``Team`` rebuilt from the cached dict (through a helper): a caller that sets an attribute and
commits saves nothing on that path, even when it reads the object again afterwards.

Executed by tests/soundness: each example warms the cache first; after each bad_ function no row
is named "changed"; after each ok_ function one is.
"""
import pickle

from soundness.models import SessionLocal, Team, fresh_db_session

_TEAM_CACHE = {}  # team id -> the team's columns, as a Redis or in-process cache keeps them
_PICKLED = {}


def _team_from_dict(data):
    return Team(**data)


class TeamLookup:
    def __init__(self, db):
        self.db = db

    def get_team(self, team_id):
        cached = _TEAM_CACHE.get(team_id)
        if cached is not None:
            return _team_from_dict(cached)
        team = self.db.get(Team, team_id)
        _TEAM_CACHE[team_id] = {"id": team.id, "name": team.name}
        return team

    def list_teams(self):
        if _TEAM_CACHE:
            return [_team_from_dict(data) for data in _TEAM_CACHE.values()]
        return self.db.query(Team).all()

    def rename(self, team_id, name):
        team = self.get_team(team_id)
        team.name = name  # DBS004:9 "through _team_from_dict()"
        self.db.commit()


def find_team(db, team_id):
    cached = _TEAM_CACHE.get(team_id)
    if cached:
        return Team(**cached)
    return db.get(Team, team_id)


def unpickled_team(db, team_id) -> Team:
    blob = _PICKLED.get(team_id)
    if blob is None:
        blob = _PICKLED[team_id] = pickle.dumps(db.get(Team, team_id))
    return pickle.loads(blob)


def new_team(name):
    return Team(name=name)


def warm(team_id):
    with fresh_db_session() as db:
        TeamLookup(db).get_team(team_id)
        unpickled_team(db, team_id)


def bad_write_then_commit_on_cache_hit():
    warm(1)
    with SessionLocal() as db:
        team = TeamLookup(db).get_team(1)
        team.name = "changed"  # DBS004:9 "may be a new object from TeamLookup(db).get_team()"
        db.commit()
        return team.name  # read again afterwards: the commit still saved nothing


def bad_method_on_cache_hit():
    warm(2)
    with SessionLocal() as db:
        TeamLookup(db).rename(2, "changed")


def bad_local_service_instance():
    warm(1)
    with SessionLocal() as db:
        lookup = TeamLookup(db)
        team = lookup.get_team(1)
        if team is not None:
            team.name = "changed"  # DBS004
        db.flush()
        db.commit()


def bad_module_function():
    warm(1)
    with SessionLocal() as db:
        team = find_team(db, 1)
        team.name = "changed"  # DBS004 "find_team()"
        db.commit()


def bad_every_listed_team():
    warm(1)
    with SessionLocal() as db:
        for team in TeamLookup(db).list_teams():
            team.name = "changed"  # DBS004
        db.commit()


def bad_unpickled_copy():
    warm(2)
    with SessionLocal() as db:
        team = unpickled_team(db, 2)
        team.name = "changed"  # DBS004 "unpickled_team()"
        db.commit()


# --- negatives ---------------------------------------------------------------------------------


def ok_merge_after_write():
    warm(1)
    with SessionLocal() as db:
        team = TeamLookup(db).get_team(1)
        team.name = "changed"
        db.merge(team)
        db.commit()


def ok_display_copy_never_committed():
    warm(1)
    with SessionLocal() as db:
        live = db.get(Team, 1)
        live.name = "changed"
        db.commit()
        shown = TeamLookup(db).get_team(1)
        shown.name = shown.name.upper()  # for the page only: nothing commits after it
        return shown.name


def ok_new_object_added_on_purpose():
    with SessionLocal() as db:
        team = new_team("draft")
        team.name = "changed"
        db.add(team)
        db.commit()


def ok_write_through_a_live_row():
    warm(1)
    with SessionLocal() as db:
        cached = TeamLookup(db).get_team(1)
        live = db.get(Team, cached.id)
        live.name = "changed"
        db.commit()


def save(db, team):
    db.merge(team)


def ok_handed_to_code_that_saves_it():
    warm(1)
    with SessionLocal() as db:
        team = TeamLookup(db).get_team(1)
        team.name = "changed"
        save(db, team)
        db.commit()
