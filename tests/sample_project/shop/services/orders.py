from sqlalchemy import select
from sqlalchemy.orm import Session

from shop.models import Order


def list_orders(db: Session, customer_id: int) -> list[dict]:
    rows = db.scalars(select(Order).where(Order.customer_id == customer_id)).all()
    return [{"id": row.id} for row in rows]
