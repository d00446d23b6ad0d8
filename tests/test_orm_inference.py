"""Sources of objects no session holds and session providers, found across modules with no
configuration, through the project index (the core reads no file)."""

from __future__ import annotations

import textwrap

from flake8_db_session.analysis import analyze
from flake8_db_session.config import Settings
from flake8_db_session.project import FileProjectIndex, context_for_path

PROJECT = {
    "shop/__init__.py": "",
    "shop/db.py": """
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

        class Base(DeclarativeBase):
            pass

        class Product(Base):
            __tablename__ = "products"
            id: Mapped[int] = mapped_column(primary_key=True)
            price: Mapped[int]

        SessionLocal = sessionmaker(expire_on_commit=False)

        def provide_db():
            db = SessionLocal()
            try:
                yield db
            finally:
                db.close()
    """,
    "shop/cache.py": """
        from shop.db import Product

        def product_from_cache(data):
            return Product(**data)
    """,
    "shop/catalog.py": """
        from shop.cache import product_from_cache

        CACHE = {}

        class Catalog:
            def __init__(self, db):
                self.db = db

            def product(self, product_id):
                if product_id in CACHE:
                    return product_from_cache(CACHE[product_id])
                return self.db.get(Product, product_id)

        def lookup(db, product_id):
            return Catalog(db).product(product_id)
    """,
    "shop/jobs.py": """
        from shop.catalog import Catalog, lookup
        from shop.db import SessionLocal, provide_db


        def reprice(product_id):
            with SessionLocal() as db:
                product = lookup(db, product_id)
                product.price = 10  # DBS004
                db.commit()


        class Pricing:
            def __init__(self, db):
                self.catalog = Catalog(db)
                self.db = db

            def discount(self, product_id):
                product = self.catalog.product(product_id)
                product.price -= 1  # DBS004
                self.db.commit()

            def preview(self, product_id):
                product = self.catalog.product(product_id)
                product.price -= 1  # only shown, never committed
                return product.price


        def nightly():
            db = next(provide_db())  # DBS008
            db.execute("select 1")
    """,
}


def _project(root) -> None:
    for relative, text in PROJECT.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def _expected(source: str) -> set[tuple[int, str]]:
    return {
        (number, line.rsplit("# ", 1)[1].strip())
        for number, line in enumerate(source.splitlines(), start=1)
        if line.rstrip().endswith(("# DBS004", "# DBS008"))
    }


def test_transient_sources_and_discovered_providers_across_modules(tmp_path):
    _project(tmp_path)
    path = str(tmp_path / "shop" / "jobs.py")
    # A discovered provider reaches the rules as its dotted name.
    settings = Settings(root=str(tmp_path), dependencies=("get_db", "shop.db.provide_db"))
    module, is_package, index = context_for_path(path, settings)
    source = (tmp_path / "shop" / "jobs.py").read_text()
    findings = analyze(source, path, settings, module=module, is_package=is_package, index=index)
    assert {(f.line, f.code) for f in findings} == _expected(source), [f.message for f in findings]
    message = next(f.message for f in findings if f.code == "DBS004")
    assert "lookup()" in message and "product_from_cache()" in message


def test_service_facts_are_asked_of_the_index(tmp_path):
    _project(tmp_path)
    index = FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
    facts = index.service_facts("shop.catalog")
    assert facts is not None
    kinds = {(origin.kind, origin.target) for origin in facts.produces["Catalog.product"]}
    assert kinds == {("import", "shop.cache.product_from_cache")}
    assert index.service_facts("shop.cache").produces["product_from_cache"][0].target == "shop.db.Product"
    assert index.service_facts("shop.nowhere") is None


HISTORY_FILES = {
    "app/__init__.py": "",
    "app/models.py": """
        from typing import List
        from sqlalchemy import ForeignKey
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

        class Base(DeclarativeBase):
            pass

        class Team(Base):
            __tablename__ = "teams"
            id: Mapped[int] = mapped_column(primary_key=True)
            members: Mapped[List["Member"]] = relationship()

        class Member(Base):
            __tablename__ = "members"
            id: Mapped[int] = mapped_column(primary_key=True)
            team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))

        SessionLocal = sessionmaker(expire_on_commit=False)
    """,
    "app/services.py": """
        from app.models import Team

        def get_team(db, team_id) -> Team:
            return db.get(Team, team_id)
    """,
    "app/routes.py": """
        from app.models import SessionLocal
        from app.services import get_team

        def load(team_id):
            with SessionLocal() as db:
                team = get_team(db, team_id)
            return team
    """,
}


def _git(repo, *args: str) -> str:
    import os
    import subprocess

    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
                          check=True, capture_output=True, text=True, env=env).stdout


def test_history_follows_a_service_whose_return_changes(tmp_path):
    """Only the service module changes (``-> Team`` becomes ``-> dict``): history, with and
    without its cache, says at each commit what check says there."""
    from flake8_db_session.burndown.cache import ResultCache
    from flake8_db_session.burndown.history import GitRepository, compute_history

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _project_files(repo, HISTORY_FILES)
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "service returns a model")
    routes = (repo / "app" / "routes.py").read_text()
    settings = Settings(root=str(repo))
    module, _, index = context_for_path(str(repo / "app" / "routes.py"), settings)
    first = {f.code for f in analyze(routes, str(repo / "app/routes.py"), settings, module=module, index=index)}
    service = repo / "app" / "services.py"
    service.write_text(service.read_text().replace("-> Team:", "-> dict:").replace("return db.get(Team, team_id)", "return {'id': team_id}"))
    _git(repo, "commit", "--quiet", "-am", "service returns a dict")
    from flake8_db_session import project

    project.reset_caches()
    module, _, index = context_for_path(str(repo / "app" / "routes.py"), Settings(root=str(repo)))
    second = {f.code for f in analyze(routes, str(repo / "app/routes.py"), settings, module=module, index=index)}
    assert (first, second) == ({"DBS003"}, set())
    for cache in (ResultCache(None), ResultCache(str(tmp_path / "cache.sqlite3")), ResultCache(str(tmp_path / "cache.sqlite3"))):
        repository = GitRepository(str(repo))
        try:
            history = compute_history(repository, repository.commits(None, None, 1), settings, cache=cache)
        finally:
            repository.close()
            cache.close()
        by_commit = [point.counts.modules.get("app/routes.py") for point in history.points]
        assert [counts.codes.get("DBS003", 0) if counts else 0 for counts in by_commit] == [1, 0]


def _project_files(root, files) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
