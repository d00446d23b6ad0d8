# module: app.routers.configured
# config: db-session-dependencies = app.db.get_db, provide_session
# config: db-session-session-decorators = require_permission
# config: db-session-discover = false
"""Configured names, discovery off: a dotted name matches only that function; a bare name matches any."""
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db
from other.db import get_db as other_get_db
from app.providers import provide_session
from app.auth import require_permission

router = APIRouter()


@router.get("/a")
@require_permission("a")
def dotted_match(db: Session = Depends(get_db)):  # DBS001
    return db


@router.get("/b")
def other_module(db: Session = Depends(other_get_db)):
    return db


@router.get("/c")
def bare_match(db: Session = Depends(provide_session)):  # DBS001
    return db
