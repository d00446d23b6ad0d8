# config: db-session-model-modules = ../soundness/models.py, ../soundness/services.py
"""DBS005 on objects from a function in another module annotated to return a model.

Executed by tests/soundness: each bad_ function raises DetachedInstanceError; each ok_ function
runs fine.
"""
from soundness.models import fresh_db_session
from soundness.services import load_team, team_service


def bad_imported_function_relationship_read():
    with fresh_db_session() as db:
        team = load_team(db, 1)
    return [member.name for member in team.members]  # DBS005


def bad_service_list_relationship_read():
    with fresh_db_session() as db:
        teams = team_service.list_teams(db)
    return [len(team.members) for team in teams]  # DBS005


def ok_relationship_read_inside_scope():
    with fresh_db_session() as db:
        team = load_team(db, 1)
        names = [member.name for member in team.members]
    return names


def ok_eager_relationship_after_scope():
    # Team.tags is lazy="selectin": loaded with the team.
    with fresh_db_session() as db:
        team = team_service.get_team(db, 1)
    return [tag.name for tag in team.tags]
