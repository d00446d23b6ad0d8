from fastapi import APIRouter, Depends

from shop.db import get_db
from shop.routers import customers, orders

api = APIRouter()
api.include_router(customers.router, prefix="/customers")
api.include_router(orders.router, prefix="/orders", dependencies=[Depends(get_db)])
