# config: db-session-model-modules = ../soundness/models.py
"""DBS006: ORM rows kept by something that lives as long as the process, with nothing configured.

A cache class with one module-level instance (or an ``_instance`` singleton, or a
``functools.cache``d factory) that stores a row loaded through the caller's session serves it to
later callers after that session closed; so do class attributes and ``lru_cache``d lookups.

Executed by tests/soundness: after each bad_ function the stored object raises
DetachedInstanceError on a relationship read; after each ok_ function what was stored reads fine.
"""
import functools

from soundness.models import SessionLocal, Team
from sqlalchemy.orm import Session

_STORED = []  # what the harness inspects


class TeamCache:
    """One instance for the whole process (below), like a TTL cache of a settings row."""

    def __init__(self):
        self._cache = None
        self._names = []

    def get(self, db):
        if self._cache is None:
            self._cache = db.query(Team).filter(Team.id == 1).first()  # DBS006:13 "TeamCache instance"
        return self._cache

    def names(self, db):
        if not self._names:
            self._names = [team.name for team in db.query(Team)]
        return self._names


team_cache = TeamCache()


class Directory:
    _instance = None

    def __init__(self):
        self.latest = {}

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def remember(self, db: Session, team_id):
        self.latest[team_id] = db.get(Team, team_id)  # DBS006 "singleton Directory instance"


class Registry:
    by_id: dict = {}  # noqa: RUF012 - the class-level dict is the example

    @classmethod
    def register(cls, db: Session, team_id):
        cls.by_id[team_id] = db.get(Team, team_id)  # DBS006 "class attribute Registry.by_id"


class Recent:
    def __init__(self):
        self.last = None

    def keep(self, db: Session):
        self.last = db.get(Team, 2)  # DBS006 "cached Recent instance"


@functools.cache
def recent():
    return Recent()


@functools.lru_cache(maxsize=64)
def team_named(db: Session, name):
    return db.query(Team).filter(Team.name == name).first()  # DBS006 "lru_cache of team_named()"


class RequestState:
    """Built per request: its attributes die with it."""

    def __init__(self, db: Session):
        self.db = db
        self.team = None

    def load(self, db: Session):
        self.team = db.get(Team, 1)
        return len(self.team.members)


def bad_module_level_cache_instance():
    with SessionLocal() as db:
        team_cache.get(db)
    _STORED.append(team_cache._cache)


def bad_instance_singleton():
    with SessionLocal() as db:
        Directory.instance().remember(db, 1)
    _STORED.append(Directory.instance().latest)


def bad_class_attribute():
    with SessionLocal() as db:
        Registry.register(db, 1)
    _STORED.append(Registry.by_id)


def bad_cached_factory_instance():
    with SessionLocal() as db:
        recent().keep(db)
    _STORED.append(recent().last)


def bad_lru_cached_lookup():
    with SessionLocal() as db:
        team_named(db, "core")
        _STORED.append(team_named(db, "core"))


# --- negatives ---------------------------------------------------------------------------------


def ok_singleton_keeps_names():
    with SessionLocal() as db:
        _STORED.append(team_cache.names(db))


def ok_per_request_object():
    with SessionLocal() as db:
        state = RequestState(db)
        state.load(db)
        _STORED.append(state.team.name)
