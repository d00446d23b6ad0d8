from fastapi import FastAPI

from shop.routers import api

app = FastAPI()
app.include_router(api)
