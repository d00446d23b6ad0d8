"""Authors: list, create, read (with their books)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import get_db
from ..deps import requires_author
from ..models import Author
from ..schemas import AuthorBrief, AuthorIn, AuthorOut
from ..services import audit

router = APIRouter(prefix="/authors", tags=["authors"])


@router.get("", response_model=list[AuthorBrief])
def list_authors(db: Session = Depends(get_db)):
    """All authors, by name."""
    return db.scalars(select(Author).order_by(Author.name)).all()


@router.post("", response_model=AuthorBrief, status_code=201)
async def create_author(payload: AuthorIn, db: Session = Depends(get_db)):
    name = payload.name.strip()
    if not name:
        raise HTTPException(status_code=422, detail="name must not be blank")
    if db.scalar(select(Author).where(Author.name == name)) is not None:
        raise HTTPException(status_code=409, detail="author exists")
    author = Author(name=name)
    db.add(author)
    db.flush()
    created = AuthorBrief.model_validate(author)
    await audit.publish("author-created", author_id=created.id)
    return created


@router.get("/{author_id}", response_model=AuthorOut)
def get_author(author_id: int, db: Session = Depends(get_db)):
    author = db.get(Author, author_id)
    if author is None:
        raise HTTPException(status_code=404, detail="author not found")
    return author


@router.get("/{author_id}/summary")
@requires_author
async def author_summary(author_id: int, db: Session = Depends(get_db)):
    author = db.get(Author, author_id)
    return {"name": author.name, "books": len(author.books)}
