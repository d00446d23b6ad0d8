"""A small FastAPI + SQLAlchemy app (authors, books, reviews on SQLite) in the pre-migration style.

The codemod's proof runs on a copy of it: its API tests pass before and after ``migrate --write``
with identical responses. Set SAMPLE_APP_DATABASE_URL to choose the database.
"""
