"""The two ORM-lifetime bug shapes found in mcp-contextforge-gateway 1.0.7, rebuilt small and
executed against real SQLAlchemy + SQLite, and the findings the tool reports on the same code
with no configuration.

1. A user lookup that returns the database row on a cache miss but ``EmailUser(...)`` rebuilt
   from the cached dict (through a helper) on a cache hit; callers set attributes and commit
   (``admin_force_password_change``, ``create_platform_admin``): on the hit path nothing is saved.
2. A settings cache with one module-level instance that keeps the row loaded through the
   caller's session (``GlobalConfigCache.get(db)``); after that request rolled back, the next
   request reads an expired, detached row: DetachedInstanceError.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import types

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import DetachedInstanceError

from flake8_db_session.analysis import analyze
from flake8_db_session.config import Settings

SOURCE = textwrap.dedent(
    '''
    from sqlalchemy import select
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class EmailUser(Base):
        __tablename__ = "email_users"
        email: Mapped[str] = mapped_column(primary_key=True)
        full_name: Mapped[str]
        password_change_required: Mapped[bool] = mapped_column(default=False)


    class GlobalConfig(Base):
        __tablename__ = "global_config"
        id: Mapped[int] = mapped_column(primary_key=True)
        passthrough_headers: Mapped[str]


    AUTH_CACHE = {}  # email -> the user's columns (Redis in the real code)


    def _user_dict_to_obj(d):
        """Reconstruct a detached EmailUser from a cached dict."""
        return EmailUser(email=d["email"], full_name=d["full_name"], password_change_required=d["password_change_required"])


    class EmailAuthService:
        def __init__(self, db):
            self.db = db

        async def get_user_by_email(self, email):
            cached = AUTH_CACHE.get(email)
            if cached is not None:
                return _user_dict_to_obj(cached)
            user = self.db.execute(select(EmailUser).where(EmailUser.email == email)).scalar_one_or_none()
            if user is not None:
                AUTH_CACHE[email] = {"email": user.email, "full_name": user.full_name, "password_change_required": user.password_change_required}
            return user

        async def create_platform_admin(self, email, full_name):
            existing_admin = await self.get_user_by_email(email)
            if existing_admin:
                existing_admin.full_name = full_name
                self.db.commit()
                return existing_admin
            return None


    async def admin_force_password_change(user_email, db):
        auth_service = EmailAuthService(db)
        user_obj = await auth_service.get_user_by_email(user_email)
        if not user_obj:
            return None
        user_obj.password_change_required = True
        db.commit()
        return user_obj.email


    class GlobalConfigCache:
        def __init__(self):
            self._cache = None

        def get(self, db):
            if self._cache is None:
                self._cache = db.query(GlobalConfig).first()
            return self._cache

        def get_passthrough_headers(self, db):
            config = self.get(db)
            return config.passthrough_headers


    global_config_cache = GlobalConfigCache()
    '''
)


def _line(text: str) -> int:
    return next(number for number, line in enumerate(SOURCE.splitlines(), start=1) if text in line)


def test_the_tool_reports_both_shapes_with_no_configuration():
    findings = analyze(SOURCE, "gateway.py", Settings(), module="gateway")
    found = {(f.line, f.code) for f in findings}
    assert found == {
        (_line("user_obj.password_change_required = True"), "DBS004"),
        (_line("existing_admin.full_name = full_name"), "DBS004"),
        (_line("self._cache = db.query(GlobalConfig).first()"), "DBS006"),
    }, [f.message for f in findings]


@pytest.fixture()
def gateway():
    """The source above as a module, over a fresh SQLite database with one user and one config."""
    module = types.ModuleType("dbs_real_shapes_gateway")
    sys.modules[module.__name__] = module  # SQLAlchemy resolves ``Mapped[...]`` in the class's module
    exec(compile(SOURCE, "gateway.py", "exec"), module.__dict__)  # noqa: S102 - our own test source
    engine = create_engine("sqlite://")
    module.Base.metadata.create_all(engine)
    # As the real target configures it: objects stay readable after commit.
    module.SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)
    with module.SessionLocal() as db:
        db.add(module.EmailUser(email="a@example.com", full_name="Ann", password_change_required=False))
        db.add(module.GlobalConfig(id=1, passthrough_headers="X-Tenant"))
        db.commit()
    yield module
    del sys.modules[module.__name__]


def _stored_user(gateway):
    with gateway.SessionLocal() as db:
        return db.get(gateway.EmailUser, "a@example.com")


def _run(coroutine):
    return asyncio.run(coroutine)


def test_cache_miss_saves_the_write(gateway):
    with gateway.SessionLocal() as db:
        _run(gateway.admin_force_password_change("a@example.com", db))
    assert _stored_user(gateway).password_change_required is True


def test_cache_hit_loses_the_write(gateway):
    with gateway.SessionLocal() as db:  # a first request fills the cache
        _run(gateway.EmailAuthService(db).get_user_by_email("a@example.com"))
    with gateway.SessionLocal() as db:
        email = _run(gateway.admin_force_password_change("a@example.com", db))  # reads the object again
    assert email == "a@example.com"
    assert _stored_user(gateway).password_change_required is False  # the commit saved nothing


def test_cache_hit_loses_the_admin_update(gateway):
    with gateway.SessionLocal() as db:
        _run(gateway.EmailAuthService(db).get_user_by_email("a@example.com"))
    with gateway.SessionLocal() as db:
        _run(gateway.EmailAuthService(db).create_platform_admin("a@example.com", "Platform Admin"))
    assert _stored_user(gateway).full_name == "Ann"


def test_singleton_cache_serves_a_row_of_a_rolled_back_session(gateway):
    cache = gateway.global_config_cache
    db = gateway.SessionLocal()
    try:
        assert cache.get_passthrough_headers(db) == "X-Tenant"
        db.rollback()  # the request that filled the cache failed: its objects are expired
    finally:
        db.close()
    with gateway.SessionLocal() as later, pytest.raises(DetachedInstanceError):
        cache.get_passthrough_headers(later)  # a later request, another session
