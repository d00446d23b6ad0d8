"""Models whose relationships use each loader strategy SQLAlchemy documents, for the eval file
``tests/cases/dbs005_strategies.py``; the same SQLite file as ``models.py``.

``Crew`` maps one relationship per strategy and hybrid properties over a lazy and a joined one;
``Port`` is mapped through ``registry().mapped`` rather than a declarative base.
"""

from typing import List

from sqlalchemy import ForeignKey
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import (
    DeclarativeBase,
    DynamicMapped,
    Mapped,
    WriteOnlyMapped,
    mapped_column,
    registry,
    relationship,
)

from soundness.models import SessionLocal, engine


class StrategyBase(DeclarativeBase):
    pass


class Crew(StrategyBase):
    __tablename__ = "crew"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    sailors: Mapped[List["Sailor"]] = relationship(order_by="Sailor.id", viewonly=True)  # lazy="select"
    ranks: Mapped[List["Rank"]] = relationship(lazy="joined", order_by="Rank.id")
    archive: DynamicMapped["Sailor"] = relationship(order_by="Sailor.id", viewonly=True)
    log: WriteOnlyMapped["Sailor"] = relationship(viewonly=True)

    @hybrid_property
    def sailor_count(self) -> int:
        return len(self.sailors)

    @hybrid_property
    def rank_names(self) -> list:
        return [rank.name for rank in self.ranks]


class Sailor(StrategyBase):
    __tablename__ = "sailor"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    crew_id: Mapped[int] = mapped_column(ForeignKey("crew.id"))


class Rank(StrategyBase):
    __tablename__ = "rank"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    crew_id: Mapped[int] = mapped_column(ForeignKey("crew.id"))


port_registry = registry()


@port_registry.mapped
class Port:
    __tablename__ = "port"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    ships: Mapped[List["Ship"]] = relationship(order_by="Ship.id")


@port_registry.mapped
class Ship:
    __tablename__ = "ship"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    port_id: Mapped[int] = mapped_column(ForeignKey("port.id"))


_created = False


def reset() -> None:
    """Crew 1 "deck" (sailors ann and bob, rank "mate"); port 1 "north" (ship "swift")."""
    global _created
    if not _created:
        StrategyBase.metadata.create_all(engine)
        port_registry.metadata.create_all(engine)
        _created = True
    with engine.begin() as connection:
        for metadata in (StrategyBase.metadata, port_registry.metadata):
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
    with SessionLocal() as db:
        db.add_all([Crew(id=1, name="deck"), Port(id=1, name="north")])
        db.flush()
        db.add_all([Sailor(name="ann", crew_id=1), Sailor(name="bob", crew_id=1), Rank(name="mate", crew_id=1)])
        db.add(Ship(name="swift", port_id=1))
        db.commit()
