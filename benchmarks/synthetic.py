"""A generated FastAPI + SQLAlchemy project, sized as a multiple of the real corpus.

Scale 1 is about the size of mcp-contextforge-gateway 1.0.7 (~380 files, ~240k lines); scale N
has N times as many domains, each a package slice of the same shape (models, schemas, service,
router, helpers), so cost per line stays comparable and any super-linear growth shows. The mix
follows the real codebase: endpoints with ``Depends(get_db)`` and ``Annotated`` aliases, helper
dependencies, services with short ``fresh_db_session()`` scopes (most serialize inside, some
leak ORM objects), lazy relationships, docstrings, and a good share of code that never touches
a database. Deterministic: the same scale gives byte-identical files.
"""

from __future__ import annotations

import os
import random
import shutil

GENERATOR_VERSION = "1"  # bump when the output changes, so cached projects are rebuilt
DOMAINS_PER_SCALE = 83  # 83 domains ~ the real corpus's 238k lines (in ~420 files)
PACKAGE = "app"

CORE_DB = '''"""Engine, session factory and the request-scoped dependency."""

from contextlib import contextmanager
from typing import Annotated, Iterator

from fastapi import Depends
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    """Declarative base of every model."""


def get_db() -> Iterator[Session]:
    """Yield a session for one request; commit on success, roll back on error."""
    db = SessionLocal()
    try:
        yield db
        db.commit()
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


fresh_db_session = contextmanager(get_db)
DbSession = Annotated[Session, Depends(get_db)]
'''

CORE_DEPS = '''"""Dependencies shared by the routers."""

from typing import Any, Dict

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from {pkg}.db import get_db


async def get_current_user(request: Request, db: Session = Depends(get_db)) -> Dict[str, Any]:
    """Resolve the caller from the request's token."""
    token = request.headers.get("authorization", "")
    if not token:
        raise HTTPException(status_code=401, detail="missing token")
    return {{"email": token.removeprefix("Bearer "), "teams": []}}


def require_permission(permission: str):
    """Decorator factory: check a permission, reading the session from the endpoint's kwargs."""

    def decorator(func):
        async def wrapper(*args, **kwargs):
            db = kwargs.get("db")
            if db is None:
                raise HTTPException(status_code=500, detail=f"no session for {{permission}}")
            return await func(*args, **kwargs)

        return wrapper

    return decorator
'''


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _models(d: str, rng: random.Random) -> str:
    D = _title(d)
    columns = "\n".join(
        f'    field_{i}: Mapped[Optional[str]] = mapped_column(String(255), nullable=True, doc="Field {i} of {d}.")'
        for i in range(rng.randint(8, 20))
    )
    return f'''"""ORM models of the {d} domain."""

from __future__ import annotations

from datetime import datetime
from typing import List, Optional

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from {PACKAGE}.db import Base


class {D}Owner(Base):
    """Who owns {d} items."""

    __tablename__ = "{d}_owners"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    items: Mapped[List["{D}Item"]] = relationship(back_populates="owner")


class {D}Item(Base):
    """One {d} item."""

    __tablename__ = "{d}_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.utcnow)
    owner_id: Mapped[int] = mapped_column(ForeignKey("{d}_owners.id"))
    owner: Mapped[{D}Owner] = relationship(back_populates="items")
{columns}

    @property
    def owner_name(self) -> str:
        """The owner's name (loads the relationship)."""
        return self.owner.name if self.owner else ""
'''


def _schemas(d: str, rng: random.Random) -> str:
    D = _title(d)
    blocks = []
    for i in range(rng.randint(10, 22)):
        fields = "\n".join(f"    value_{j}: Optional[str] = Field(None, max_length=255)" for j in range(rng.randint(3, 9)))
        blocks.append(
            f'''class {D}Payload{i}(BaseModel):
    """Request or response body number {i} of the {d} API.

    Every field is optional so partial updates validate.
    """

    model_config = ConfigDict(from_attributes=True)
    name: str = Field(..., min_length=1, max_length=255)
{fields}

    @field_validator("name")
    @classmethod
    def strip_name(cls, value: str) -> str:
        """Names never keep surrounding blanks."""
        return value.strip()
'''
        )
    return f'''"""Pydantic schemas of the {d} domain."""

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator


class {D}Read(BaseModel):
    """An item as the API returns it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: Optional[str] = None


''' + "\n\n".join(blocks)


def _service_method(d: str, i: int, rng: random.Random) -> str:
    D = _title(d)
    kind = rng.choice(("serialized", "serialized", "serialized", "leaks", "session_arg", "session_arg", "pure", "pure"))
    doc = f'''        """Operation {i} on {d} items.

        Args:
            item_id: The item's primary key.

        Returns:
            The result of operation {i}.
        """'''
    if kind == "serialized":
        return f'''    def op_{i}(self, item_id: int) -> Optional[{D}Read]:
{doc}
        with fresh_db_session() as db:
            item = db.get({D}Item, item_id)
            if item is None:
                return None
            return {D}Read.model_validate(item)
'''
    if kind == "leaks":
        return f'''    def op_{i}(self, item_id: int) -> Optional[{D}Item]:
{doc}
        with fresh_db_session() as db:
            item = db.get({D}Item, item_id)
        return item
'''
    if kind == "session_arg":
        return f'''    def op_{i}(self, db: Session, item_id: int, limit: int = 100) -> List[{D}Item]:
{doc}
        query = select({D}Item).where({D}Item.owner_id == item_id).limit(limit)
        items = db.execute(query).scalars().all()
        for item in items:
            if not item.enabled:
                logger.debug("skipping disabled item %s", item.id)
        return [item for item in items if item.enabled]
'''
    return f'''    def op_{i}(self, values: Dict[str, Any], threshold: int = {i}) -> Dict[str, Any]:
{doc}
        result: Dict[str, Any] = {{}}
        for key, value in sorted(values.items()):
            if isinstance(value, str) and len(value) > threshold:
                result[key] = value[:threshold] + "..."
            elif isinstance(value, (list, tuple)):
                result[key] = [v for v in value if v is not None][:threshold]
            else:
                result[key] = value
        try:
            result["checksum"] = hash(tuple(sorted(result)))
        except TypeError as exc:
            logger.warning("cannot hash %s: %s", values, exc)
        return result
'''


def _service(d: str, rng: random.Random) -> str:
    D = _title(d)
    methods = "\n".join(_service_method(d, i, rng) for i in range(rng.randint(30, 80)))
    return f'''"""Business logic of the {d} domain."""

import logging
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from {PACKAGE}.db import fresh_db_session
from {PACKAGE}.models.{d} import {D}Item
from {PACKAGE}.schemas.{d} import {D}Read

logger = logging.getLogger(__name__)


class {D}Service:
    """Operations on {d} items."""

{methods}
'''


def _endpoint(d: str, i: int, rng: random.Random) -> str:
    D = _title(d)
    kind = rng.choice(("depends", "depends", "depends", "annotated", "scoped", "scoped", "plain"))
    method = rng.choice(("get", "get", "post", "put", "delete"))
    doc = f'''    """Endpoint {i} of the {d} API.

    Args:
        item_id: The item's primary key.

    Returns:
        The item, serialized.
    """'''
    if kind == "depends":
        return f'''@router.{method}("/items/{{item_id}}/op{i}", response_model={D}Read)
@require_permission("{d}.op{i}")
async def op_{i}(
    item_id: int,
    limit: int = Query(100, ge=1, le=1000),
    user: Dict[str, Any] = Depends(get_current_user),
    db: Session = Depends(get_db),
) -> {D}Read:
{doc}
    items = service.op_{i}(db, item_id, limit) if hasattr(service, "op_{i}") else []
    if not items:
        raise HTTPException(status_code=404, detail="not found")
    return {D}Read.model_validate(items[0])
'''
    if kind == "annotated":
        return f'''@router.{method}("/items/{{item_id}}/op{i}")
async def op_{i}(item_id: int, db: DbSession) -> Dict[str, Any]:
{doc}
    item = db.get({D}Item, item_id)
    return {{"id": item.id, "name": item.name}} if item else {{}}
'''
    if kind == "scoped":
        return f'''@router.{method}("/items/{{item_id}}/op{i}", response_model={D}Read)
async def op_{i}(item_id: int, user: Dict[str, Any] = Depends(get_current_user)) -> {D}Read:
{doc}
    with fresh_db_session() as db:
        item = db.get({D}Item, item_id)
        if item is None:
            raise HTTPException(status_code=404, detail="not found")
        return {D}Read.model_validate(item)
'''
    return f'''@router.{method}("/status/op{i}")
async def op_{i}(request: Request) -> Dict[str, Any]:
{doc}
    return {{"status": "ok", "path": str(request.url), "op": {i}}}
'''


def _router(d: str, rng: random.Random) -> str:
    D = _title(d)
    endpoints = "\n\n".join(_endpoint(d, i, rng) for i in range(rng.randint(18, 46)))
    return f'''"""HTTP API of the {d} domain."""

from typing import Any, Dict

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session

from {PACKAGE}.db import DbSession, fresh_db_session, get_db
from {PACKAGE}.deps import get_current_user, require_permission
from {PACKAGE}.models.{d} import {D}Item
from {PACKAGE}.schemas.{d} import {D}Read
from {PACKAGE}.services.{d}_service import {D}Service

router = APIRouter(prefix="/{d}", tags=["{d}"])
service = {D}Service()


{endpoints}
'''


def _helpers(d: str, rng: random.Random) -> str:
    blocks = []
    for i in range(rng.randint(14, 40)):
        blocks.append(
            f'''@dataclass
class Record{i}:
    """A plain record, no database involved."""

    key: str
    values: List[int] = field(default_factory=list)
    labels: Dict[str, str] = field(default_factory=dict)

    def total(self) -> int:
        """Sum of the values above the mean."""
        if not self.values:
            return 0
        mean = sum(self.values) / len(self.values)
        return sum(v for v in self.values if v > mean)

    def render(self, width: int = {40 + i}) -> str:
        """One line, padded."""
        text = f"{{self.key}}: " + ", ".join(f"{{k}}={{v}}" for k, v in sorted(self.labels.items()))
        return text.ljust(width)[:width]


def parse_record_{i}(raw: str) -> Optional[Record{i}]:
    """Parse ``key:1,2,3`` into a record; None when malformed."""
    key, _, rest = raw.partition(":")
    if not key:
        return None
    try:
        values = [int(part) for part in rest.split(",") if part.strip()]
    except ValueError:
        return None
    return Record{i}(key=key.strip(), values=values)
'''
        )
    return f'''"""Helpers of the {d} domain that never touch a database."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional


''' + "\n\n".join(blocks)


def _main(domains: list[str]) -> str:
    imports = "\n".join(f"from {PACKAGE}.routers import {d} as {d}_router" for d in domains)
    includes = "\n".join(f"app.include_router({d}_router.router)" for d in domains)
    return f'''"""The application: every domain's router."""

from fastapi import FastAPI

{imports}

app = FastAPI(title="synthetic")
{includes}
'''


def domain_names(count: int) -> list[str]:
    return [f"domain_{i:04d}" for i in range(count)]


def generate(directory: str, scale: int, *, domains_per_scale: int = DOMAINS_PER_SCALE) -> str:
    """Write the project under ``directory`` (replacing it); return the package path."""
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    package = os.path.join(directory, PACKAGE)
    domains = domain_names(scale * domains_per_scale)
    files: dict[str, str] = {
        "__init__.py": '"""A synthetic FastAPI application (benchmark corpus)."""\n',
        "db.py": CORE_DB,
        "deps.py": CORE_DEPS.format(pkg=PACKAGE),
        "main.py": _main(domains),
    }
    for sub in ("models", "schemas", "services", "routers", "helpers"):
        files[f"{sub}/__init__.py"] = ""
    for index, d in enumerate(domains):
        rng = random.Random(f"{GENERATOR_VERSION}:{index}")  # a domain's files do not depend on the scale
        files[f"models/{d}.py"] = _models(d, rng)
        files[f"schemas/{d}.py"] = _schemas(d, rng)
        files[f"services/{d}_service.py"] = _service(d, rng)
        files[f"routers/{d}.py"] = _router(d, rng)
        files[f"helpers/{d}.py"] = _helpers(d, rng)
    for relative, text in files.items():
        path = os.path.join(package, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n" if text else "")
    return package


def ensure_project(cache_root: str, scale: int) -> str:
    """The generated project for ``scale`` in the cache, rebuilt when the generator changed."""
    directory = os.path.join(cache_root, "synthetic", f"{scale}x")
    stamp = os.path.join(directory, ".generator")
    package = os.path.join(directory, PACKAGE)
    if os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read().strip() == GENERATOR_VERSION and os.path.isdir(package):
                return package
    package = generate(directory, scale)
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(GENERATOR_VERSION + "\n")
    return package
