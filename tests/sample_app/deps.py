"""Shared dependencies: the session as an Annotated alias, and a decorator reading it from kwargs."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import Depends, HTTPException
from sqlalchemy.orm import Session

from .db import get_db
from .models import Author

DbSession = Annotated[Session, Depends(get_db)]


def requires_author(endpoint):
    """Reject requests for unknown authors before the endpoint runs (reads kwargs["db"])."""

    @functools.wraps(endpoint)
    async def wrapper(*args, **kwargs):
        if kwargs["db"].get(Author, kwargs["author_id"]) is None:
            raise HTTPException(status_code=404, detail="author not found")
        return await endpoint(*args, **kwargs)

    return wrapper
