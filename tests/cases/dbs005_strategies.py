# config: db-session-model-modules = ../soundness/models.py, ../soundness/strategy_models.py
"""DBS005 by loader strategy, as SQLAlchemy documents them: lazy="select" raises after the
scope, "joined" is loaded with the object, "dynamic" is a query that needs the session (SQLAlchemy
warns and returns an empty result), "write_only" never loads; hybrid properties take the
strategy of the relationships they read; registry-mapped classes are models too.

Executed by tests/soundness: every bad_ example raises DetachedInstanceError (the dynamic one
SQLAlchemy's "is detached" warning, raised as an error), every ok_ example runs clean.
"""
from soundness.models import SessionLocal
from soundness.strategy_models import Crew, Port


def bad_hybrid_over_a_lazy_relationship():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
    return crew.sailor_count  # DBS005:12 "it reads lazy relationship sailors"


def bad_dynamic_after_scope():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
    return [sailor.name for sailor in crew.archive]  # DBS005:39 "dynamic relationship"


def bad_dynamic_read_inside_then_after():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
        first = crew.archive.first()
    return first.name, list(crew.archive)  # DBS005:29 "dynamic relationship"


def bad_registry_mapped_lazy_relationship():
    with SessionLocal() as db:
        port = db.get(Port, 1)
    return [ship.name for ship in port.ships]  # DBS005:35 "port.ships"


# --- negatives ---------------------------------------------------------------------------------


def ok_hybrid_over_a_joined_relationship():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
    return crew.rank_names


def ok_joined_relationship_after_scope():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
    return [rank.name for rank in crew.ranks]


def ok_write_only_after_scope():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
    statement = crew.log.select()  # a statement to run in a session later, never a load
    with SessionLocal() as db:
        return [sailor.name for sailor in db.scalars(statement)]


def ok_dynamic_inside_scope():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
        return [sailor.name for sailor in crew.archive]


def ok_hybrid_read_inside_scope():
    with SessionLocal() as db:
        crew = db.get(Crew, 1)
        count = crew.sailor_count
    return count, crew.sailor_count  # loaded inside the scope
