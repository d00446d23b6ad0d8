"""Shared dependencies: an Annotated alias other modules import, and a helper dependency."""
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from shop.db import get_db

DbSession = Annotated[Session, Depends(get_db)]


def current_customer(x_customer: int = Header(), db: Session = Depends(get_db)):
    from shop.models import Customer

    return db.get(Customer, x_customer).id
