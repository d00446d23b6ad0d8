# config: db-session-model-modules = ../soundness/models.py
# config: db-session-detached-sources = cached_team
"""DBS004 with db-session-detached-sources: objects from a cache are detached copies."""
from soundness.models import SessionLocal, Team

_TEAMS = {}


def cached_team(team_id):
    """Returns a detached copy of a team, loaded once."""
    if team_id not in _TEAMS:
        with SessionLocal() as db:
            # The cache itself is the hazard DBS006 reports.
            _TEAMS[team_id] = db.get(Team, team_id)  # DBS006
    return _TEAMS[team_id]


def bad_write_to_cached_copy():
    team = cached_team(1)
    team.name = "changed"  # DBS004


def ok_write_through_a_session():
    team = cached_team(1)
    with SessionLocal() as db:
        live = db.get(Team, team.id)
        live.name = "changed"
        db.commit()
