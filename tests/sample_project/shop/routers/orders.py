from fastapi import APIRouter, Depends

from shop.db import get_db
from shop.deps import current_customer
from shop.services.orders import list_orders

router = APIRouter()


@router.get("/mine")
def my_orders(customer_id: int = Depends(current_customer), db=Depends(get_db)):
    return list_orders(db, customer_id)
