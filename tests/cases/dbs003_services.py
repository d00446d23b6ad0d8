# config: db-session-model-modules = ../soundness/models.py, ../soundness/services.py
"""DBS003 through services in another module whose return annotation names a model.

Executed by tests/soundness: each bad_ function returns an object whose relationship raises
DetachedInstanceError when the caller reads it; each ok_ function returns something readable.
"""
from soundness.models import Team, fresh_db_session
from soundness.services import TeamRepository, TeamService, team_service


def bad_module_instance_method():
    with fresh_db_session() as db:
        team = team_service.get_team(db, 1)
        return team  # DBS003


def bad_optional_after_scope():
    with fresh_db_session() as db:
        team = team_service.find_team(db=db, team_id=1)
    return team  # DBS003


def bad_list_from_service():
    with fresh_db_session() as db:
        teams = team_service.list_teams(db)
    return teams  # DBS003


def bad_constructed_with_session():
    with fresh_db_session() as db:
        teams = TeamRepository(db).all_teams()
        return {"teams": teams}  # DBS003


def bad_service_holding_the_session():
    with fresh_db_session() as db:
        repository = TeamRepository(db)
        teams = repository.all_teams()
    return teams  # DBS003


def bad_local_service_instance():
    with fresh_db_session() as db:
        service = TeamService()
        team = service.get_team(db, 1)
    return team  # DBS003


def ok_serialized_by_the_service():
    with fresh_db_session() as db:
        return team_service.read_team(db, 1)


def ok_serialized_inside_scope():
    with fresh_db_session() as db:
        team = team_service.get_team(db, 1)
        return {"name": team.name, "members": [member.name for member in team.members]}


def ok_column_after_scope():
    # expire_on_commit=False: a column read on the detached object works.
    with fresh_db_session() as db:
        team = team_service.get_team(db, 1)
    return team.name


class _Names:
    def get_team(self, db, team_id):
        return {"name": db.get(Team, team_id).name}


def ok_local_name_shadows_the_module_service():
    team_service = _Names()
    with fresh_db_session() as db:
        team = team_service.get_team(db, 1)
    return team
