from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from shop import deps
from shop.db import fresh_db_session, get_db
from shop.deps import DbSession
from shop.models import Customer

router = APIRouter()


@router.get("/")
def list_customers(db: Session = Depends(get_db)):
    return [{"id": c.id, "name": c.name} for c in db.query(Customer).all()]


@router.get("/{customer_id}")
async def get_customer(customer_id: int, db: DbSession):
    customer = db.get(Customer, customer_id)
    return {"id": customer.id, "name": customer.name}


@router.get("/{customer_id}/legacy")
def legacy(customer_id: int, db: deps.DbSession):  # noqa: DBS001
    return {"id": customer_id}


@router.post("/")
def create_customer(name: str):
    with fresh_db_session() as db:
        customer = Customer(name=name)
        db.add(customer)
        db.flush()
        return {"id": customer.id, "name": customer.name}
