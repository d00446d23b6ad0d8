"""Books: create (with an audit event after the database work), read, list, export as CSV."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from ..deps import DbSession
from ..models import Author, Book
from ..schemas import BookIn, BookOut
from ..services import audit

router = APIRouter(prefix="/books", tags=["books"])


@router.post("", response_model=BookOut, status_code=201)
async def create_book(payload: BookIn, db: DbSession):
    title = " ".join(payload.title.split())
    author = db.get(Author, payload.author_id)
    if author is None:
        raise HTTPException(status_code=404, detail="author not found")
    book = Book(title=title, author=author)
    db.add(book)
    db.commit()
    db.refresh(book)
    created = BookOut.model_validate(book)
    # The slow step: nothing here needs the database.
    await audit.publish("book-created", book_id=created.id, title=created.title)
    return created


@router.get("/export.csv")
def export_books(db: DbSession):
    def rows():
        yield "id,title,author\n"
        for book in db.scalars(select(Book).order_by(Book.id)):
            yield f"{book.id},{book.title},{book.author.name}\n"

    return StreamingResponse(rows(), media_type="text/csv")


@router.get("/{book_id}", response_model=BookOut)
def get_book(book_id: int, db: DbSession):
    book = db.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="book not found")
    return book


@router.get("", response_model=list[BookOut])
def list_books(db: DbSession, author_id: Optional[int] = None):
    query = select(Book).order_by(Book.id)
    if author_id is not None:
        query = query.where(Book.author_id == author_id)
    books = db.scalars(query).all()
    return books
