"""The application: routers from several modules, tables created on start."""

from __future__ import annotations

from fastapi import FastAPI

from .db import reset_database
from .routers import authors, books, reviews


def create_app() -> FastAPI:
    reset_database()
    app = FastAPI(title="sample library")
    app.include_router(authors.router)
    app.include_router(books.router)
    app.include_router(reviews.router)
    return app
