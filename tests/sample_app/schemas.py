"""Response and request schemas (read from ORM attributes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AuthorIn(BaseModel):
    name: str


class BookIn(BaseModel):
    title: str
    author_id: int


class ReviewIn(BaseModel):
    stars: int
    text: str = ""


class AuthorBrief(Orm):
    id: int
    name: str


class BookBrief(Orm):
    id: int
    title: str


class AuthorOut(AuthorBrief):
    books: list[BookBrief]  # a lazy relationship: needs the session while serializing


class ReviewOut(Orm):
    id: int
    stars: int
    text: str


class BookOut(BookBrief):
    author: AuthorBrief
    reviews: list[ReviewOut]
