"""Services in their own module, shaped like the real target's: methods that take the session
and are annotated to return models (``-> Team``, ``-> Optional[Team]``, ``-> List[Team]``), a
module-level instance, a service constructed with the session, and one whose return is
serialized already (a Pydantic read model). The eval files call them from another module.
"""
from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from soundness.models import Team


class TeamRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class TeamService:
    def get_team(self, db: Session, team_id: int) -> Team:
        return db.get(Team, team_id)

    def find_team(self, db: Session, team_id: int) -> Optional[Team]:
        return db.get(Team, team_id)

    def list_teams(self, db: Session) -> List[Team]:
        return list(db.query(Team).order_by(Team.id))

    def read_team(self, db: Session, team_id: int) -> TeamRead:
        return TeamRead.model_validate(db.get(Team, team_id))


class TeamRepository:
    """Holds the session it was built with (``TeamRepository(db).all_teams()``)."""

    def __init__(self, db: Session) -> None:
        self.db = db

    def all_teams(self) -> list[Team]:
        return list(self.db.query(Team).order_by(Team.id))


def load_team(db: Session, team_id: int) -> Team:
    return db.get(Team, team_id)


team_service = TeamService()
