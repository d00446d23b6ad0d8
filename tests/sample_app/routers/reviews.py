"""Reviews of a book, and statistics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import db as database
from ..models import Book, Review
from ..schemas import ReviewIn, ReviewOut

router = APIRouter(tags=["reviews"])


@router.post("/books/{book_id}/reviews", response_model=ReviewOut, status_code=201)
def add_review(book_id: int, payload: ReviewIn, db: Session = Depends(database.get_db)):
    if not 1 <= payload.stars <= 5:
        raise HTTPException(status_code=422, detail="stars must be between 1 and 5")
    book = db.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="book not found")
    review = Review(book=book, stars=payload.stars, text=payload.text)
    db.add(review)
    db.flush()
    return review


@router.get("/stats")
def stats(db: Session = Depends(database.get_db)):
    books = db.scalar(select(func.count(Book.id)))
    reviews = db.scalar(select(func.count(Review.id)))
    average = db.scalar(select(func.avg(Review.stars)))
    rounded = round(average, 2) if average is not None else None
    return {"books": books, "reviews": reviews, "average_stars": rounded}


@router.get("/health")
def health(db: Session = Depends(database.get_db)):
    return {"status": "ok"}
