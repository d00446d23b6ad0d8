"""ORM rules beyond the eval files: model discovery across modules (the filesystem project index,
as the flake8 plugin and the standalone command use it), and identical results through real
flake8 and ``flake8-db-session check``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from evalcases import CASES, case_files, expected

from flake8_db_session.analysis import analyze
from flake8_db_session.config import Settings
from flake8_db_session.project import FileProjectIndex, context_for_path

TESTS = os.path.dirname(os.path.abspath(__file__))

PROJECT = {
    "app/__init__.py": "",
    "app/db/__init__.py": "",
    "app/db/base.py": """
        from sqlalchemy.orm import declarative_base, registry

        Base = declarative_base()
        mapper_registry = registry()
    """,
    "app/db/session.py": """
        from contextlib import contextmanager
        from sqlalchemy.orm import sessionmaker

        SessionLocal = sessionmaker(expire_on_commit=False)
        StrictSession = sessionmaker()

        def get_db():
            db = SessionLocal()
            try:
                yield db
                db.commit()
            finally:
                db.close()

        fresh_db_session = contextmanager(get_db)
    """,
    "app/models/__init__.py": """
        from .team import Team, Member
        from .extra import Note, Hero
    """,
    "app/models/mixins.py": """
        from sqlalchemy.orm import relationship

        class Audited:
            pass
    """,
    "app/models/team.py": """
        from sqlalchemy import Column, ForeignKey, Integer, String
        from sqlalchemy.orm import relationship

        from app.db.base import Base


        class Named(Base):
            __abstract__ = True
            name = Column(String)


        class Team(Named):
            __tablename__ = "team"
            id = Column(Integer, primary_key=True)
            members = relationship("Member", backref="team")
            labels = relationship("Label", lazy="selectin")

            @property
            def size(self):
                return len(self.members)

            @classmethod
            def find(cls, team_id, session) -> "Team | None":
                return session.get(cls, team_id)


        class Member(Base):
            __tablename__ = "member"
            id = Column(Integer, primary_key=True)
            team_id = Column(ForeignKey("team.id"))
    """,
    "app/models/extra.py": """
        from sqlalchemy import Column, Integer
        from sqlalchemy.orm import relationship
        from sqlmodel import Field, Relationship, SQLModel

        from app.db.base import mapper_registry


        @mapper_registry.mapped
        class Note:
            __tablename__ = "note"
            id = Column(Integer, primary_key=True)
            author = relationship("Member")


        class Hero(SQLModel, table=True):
            id: int = Field(primary_key=True)
            name: str


        class HeroRead(SQLModel):
            name: str
    """,
    "app/routes.py": """
        from app.db.session import SessionLocal, StrictSession, fresh_db_session
        from .models import Hero, HeroRead, Member, Note, Team


        def inherited_column_after_scope():
            with fresh_db_session() as db:
                team = db.get(Team, 1)
            return team.name


        def backref_after_scope():
            with fresh_db_session() as db:
                member = db.get(Member, 1)
            return member.team.name  # DBS005


        def property_after_scope():
            with SessionLocal() as db:
                team = db.get(Team, 1)
            return team.size  # DBS005


        def eager_by_mapping_after_scope():
            with SessionLocal() as db:
                team = db.get(Team, 1)
            return team.labels


        def registry_mapped_class():
            with SessionLocal() as db:
                note = db.get(Note, 1)
            return note.author  # DBS005


        def sqlmodel_table_expired():
            with StrictSession() as db:
                hero = db.get(Hero, 1)
                db.commit()
            return hero.name  # DBS005


        def sqlmodel_without_table_is_not_a_model(hero: HeroRead):
            with StrictSession() as db:
                db.commit()
            return hero.name


        def model_method_source():
            with SessionLocal() as db:
                team = Team.find(1, db)
            return len(team.members)  # DBS005


        def plain_column_after_scope():
            with SessionLocal() as db:
                hero = db.get(Hero, 1)
            hero.name = "x"  # DBS004
    """,
}


def _write_project(root) -> None:
    for relative, text in PROJECT.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def _analyze_routes(root):
    path = str(root / "app" / "routes.py")
    settings = Settings(root=str(root))
    module, is_package, index = context_for_path(path, settings)
    source = (root / "app" / "routes.py").read_text()
    return source, analyze(source, path, settings, module=module, is_package=is_package, index=index)


def test_models_are_discovered_across_modules(tmp_path):
    _write_project(tmp_path)
    source, findings = _analyze_routes(tmp_path)
    got = {(f.line, f.code) for f in findings}
    assert got == set(expected(source)), sorted(got)


def test_model_modules_are_parsed_once_and_kept_as_summaries(tmp_path):
    _write_project(tmp_path)
    index = FileProjectIndex((str(tmp_path),), Settings(root=str(tmp_path)))
    first = index.model_summary("app.models.team")
    assert first is index.model_summary("app.models.team")  # cached per process
    assert set(first.classes) == {"Named", "Team", "Member"}
    assert not any(hasattr(value, "_fields") for value in vars(first).values())  # no AST kept
    # A module without ORM markers is not parsed: only its imports are read, to follow re-exports.
    package = index.model_summary("app.models")
    assert package.classes == {} and package.imports["Team"] == "app.models.team.Team"


def test_configured_model_modules_by_path():
    source = textwrap.dedent(
        """
        from somewhere_unresolvable import SessionLocal, Team
        def f():
            with SessionLocal() as db:
                team = db.get(Team, 1)
            return team.members
        """
    ).lstrip("\n")
    plain = analyze(source, "x.py", Settings(root=TESTS), index=FileProjectIndex((TESTS,), Settings(root=TESTS)))
    settings = Settings(root=TESTS, model_modules=("soundness/models.py",))
    configured = analyze(source, "x.py", settings, index=FileProjectIndex((TESTS,), settings))
    assert plain == []  # unknown models: no guess
    assert [(f.line, f.code) for f in configured] == [(5, "DBS005")]
    # The core reads no files: without a project index, a configured path is not read.
    assert analyze(source, "x.py", settings) == []


def test_expire_on_commit_false_allows_columns_after_a_committing_scope():
    with open(os.path.join(CASES, "dbs005_reads.py"), encoding="utf-8") as handle:
        source = handle.read()
    settings = Settings(root=CASES, model_modules=("../soundness/models.py",))
    findings = analyze(source, "dbs005_reads.py", settings, index=FileProjectIndex((CASES,), settings))
    by_function = {f.function for f in findings}
    assert "ok_column_after_scope" not in by_function  # fresh_db_session commits, but expire_on_commit=False
    assert "bad_expired_by_commit" in by_function  # ExpiringSession keeps the default True


def _run(*args: str, cwd: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return sorted(line for line in result.stdout.splitlines() if line.strip())


@pytest.mark.integration
def test_flake8_and_the_standalone_check_agree_on_the_eval_files():
    files = [os.path.join("cases", name) for name in case_files() if name[:6] in {f"dbs00{n}" for n in range(3, 10)}]
    # The SQLModel cases' scopes, by qualified name, beside the default scopes.
    scopes = "fresh_db_session,SessionLocal,Session,AsyncSession," + ",".join(
        f"soundness.sqlmodel_models.{name}" for name in ("session_scope", "async_session_scope", "ScopeProvider.scope")
    )
    options = [
        "--select", "DBS", "--db-session-model-modules", "soundness/models.py", "--db-session-detached-sources", "cached_team",
        "--db-session-scopes", scopes,
    ]
    through_flake8 = _run("flake8", "--isolated", *options, *files, cwd=TESTS)
    standalone = _run("flake8_db_session", "check", *options, *files, cwd=TESTS)
    assert through_flake8 == standalone
    want = set()
    for path in files:
        with open(os.path.join(TESTS, path), encoding="utf-8") as handle:
            want.update((path, line, code) for (line, code) in expected(handle.read()))
    got = {(line.split(":")[0], int(line.split(":")[1]), line.split(" ")[1]) for line in through_flake8}
    assert got == want


@pytest.mark.integration
def test_flake8_and_the_standalone_check_agree_on_a_project(tmp_path):
    _write_project(tmp_path)
    (tmp_path / "setup.cfg").write_text("[flake8]\nselect = DBS\n")
    through_flake8 = _run("flake8", "app", cwd=str(tmp_path))
    standalone = _run("flake8_db_session", "check", "app", cwd=str(tmp_path))
    assert through_flake8 == standalone
    assert {line.split(" ")[1] for line in standalone} == {"DBS004", "DBS005"}


def test_noqa_for_another_plugins_code_does_not_hide_a_finding():
    """flake8 reads ``# noqa: ARG001`` as covering ARG001 only (codes are letters then digits)."""
    from flake8_db_session.analysis.findings import noqa_covers

    assert not noqa_covers("def f(db=Depends(get_db)):  # noqa: ARG001", "DBS001")
    assert noqa_covers("def f(db=Depends(get_db)):  # noqa: ARG001, DBS001", "DBS001")
    assert noqa_covers("def f(db=Depends(get_db)):  # noqa", "DBS001")


SERVICES = {
    "app/services/__init__.py": """
        from .teams import TeamService, team_service
    """,
    "app/services/teams.py": """
        from typing import List, Optional
        from sqlalchemy.orm import Session
        from app.models import Team

        class TeamService:
            def get(self, db: Session, team_id: int) -> Optional[Team]:
                return db.get(Team, team_id)

            def all(self, db: Session) -> List[Team]:
                return db.query(Team).all()

            def count(self, db: Session) -> int:
                return db.query(Team).count()

        team_service = TeamService()
    """,
    "app/service_routes.py": """
        from app.db.session import fresh_db_session
        from app.services import TeamService, team_service

        def through_module_instance():
            with fresh_db_session() as db:
                team = team_service.get(db, 1)
            return team  # DBS003

        def through_local_instance():
            with fresh_db_session() as db:
                teams = TeamService().all(db)
            return [len(t.members) for t in teams]  # DBS005

        def not_a_model():
            with fresh_db_session() as db:
                count = team_service.count(db)
            return count
    """,
}


def test_service_return_annotations_are_followed_across_modules(tmp_path):
    _write_project(tmp_path)
    for relative, text in SERVICES.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(textwrap.dedent(text).lstrip("\n"))
    path = str(tmp_path / "app" / "service_routes.py")
    settings = Settings(root=str(tmp_path))
    module, is_package, index = context_for_path(path, settings)
    source = (tmp_path / "app" / "service_routes.py").read_text()
    findings = analyze(source, path, settings, module=module, is_package=is_package, index=index)
    assert {(f.line, f.code) for f in findings} == set(expected(source))
    # The service module's facts are asked of the index, through the re-export.
    facts = index.service_facts("app.services.teams")
    assert facts.returns["TeamService.all"] == (True, "app.models.Team")
    assert facts.instances == {"team_service": "app.services.teams.TeamService"}
