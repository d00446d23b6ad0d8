"""Engine, session factory and the request-scoped session dependency."""

from __future__ import annotations

import atexit
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


def _default_url() -> str:
    handle, path = tempfile.mkstemp(prefix="sample-app-", suffix=".sqlite3")
    os.close(handle)
    atexit.register(_remove, path)
    return f"sqlite:///{path}"


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


DATABASE_URL = os.environ.get("SAMPLE_APP_DATABASE_URL") or _default_url()
# A file database gets a real connection pool, so tests can watch connections being checked out.
engine = create_engine(DATABASE_URL, connect_args={"check_same_thread": False})
SessionLocal = sessionmaker(bind=engine)  # expire_on_commit=True: reads after commit reload


class Base(DeclarativeBase):
    pass


def get_db() -> Iterator[Session]:
    """Commit on success, roll back on error, always close."""
    db = SessionLocal()
    try:
        yield db
        db.commit()
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


# The short-lived scope endpoints should use instead of Depends(get_db).
fresh_db_session = contextmanager(get_db)


def reset_database() -> None:
    from . import models  # noqa: F401 - registers the tables

    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
