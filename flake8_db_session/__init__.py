"""flake8-db-session: find request-scoped SQLAlchemy sessions in FastAPI code."""

__version__ = "0.1.0"
