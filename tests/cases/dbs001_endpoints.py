# module: app.routers.tools
"""DBS001: session dependencies on endpoints, in every spelling a real codebase uses."""
from typing import Annotated, Optional

import fastapi as fa
from fastapi import APIRouter, Depends, FastAPI, Security, WebSocket
from fastapi import Depends as D
from fastapi.params import Depends as ParamsDepends
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.db import get_db
from app.db import get_db as database
from app.deps import require_permission, rate_limit
from app import db as db_module

router = APIRouter()
app = FastAPI()


@router.get("/plain")
def plain(db: Session = Depends(get_db)):  # DBS001
    return db.query(1).all()


@router.post("/security")
async def security(db: Session = Security(get_db)):  # DBS001
    return db


@router.put("/keyword")
def keyword(db: Session = Depends(dependency=get_db)):  # DBS001
    return db


@router.delete("/no-cache")
def no_cache(db: Session = Depends(get_db, use_cache=False)):  # DBS001
    return db


@router.patch("/function-scope")
def function_scope(db: Session = Depends(get_db, scope="function")):  # DBS001
    return db


@router.get("/annotated")
def annotated(db: Annotated[Session, Depends(get_db)]):  # DBS001
    return db


@router.get("/alias-d")
def alias_d(db: Session = D(database)):  # DBS001
    return db


@router.get("/module-attr")
def module_attr(db: Session = fa.Depends(db_module.get_db)):  # DBS001
    return db


@router.get("/params")
def params(db: Session = ParamsDepends(get_db)):  # DBS001
    return db


@router.get("/param-functions")
def param_functions(db: Session = fa.param_functions.Depends(get_db)):  # DBS001
    return db


@router.get("/kwonly")
async def kwonly(*, item_id: int, db: Session = Depends(get_db)):  # DBS001
    return item_id


@router.get("/two")
def two(
    a: Session = Depends(get_db),  # DBS001
    b: Session = Depends(get_db),  # DBS001
):
    return a, b


@router.get("/stacked")
@require_permission("tools.read")
@rate_limit(10)
async def stacked(request, db: Session = Depends(get_db)):  # DBS001
    return db


@router.api_route("/any", methods=["GET", "POST"])
def api_route(db: Session = Depends(get_db)):  # DBS001
    return db


@router.websocket("/ws")
async def websocket(ws: WebSocket, db: Session = Depends(get_db)):  # DBS001
    await ws.accept()


@router.get("/stream")
async def stream(db: Session = Depends(get_db)):  # DBS001
    return StreamingResponse(iter([db]))


@app.head("/head")
def head(db: Session = Depends(get_db)):  # DBS001
    return None


@app.options("/options")
def options(db: Session = Depends(get_db)):  # DBS001
    return None


@app.trace("/trace")
def trace(db: Session = Depends(get_db)):  # DBS001
    return None


@app.route("/route")
def route(db: Session = Depends(get_db)):  # DBS001
    return None


@router.get("/route-level", dependencies=[Depends(get_db)])  # DBS001
def route_level():
    return {}


other_router = APIRouter(prefix="/x", dependencies=[Depends(get_db)])  # DBS001
app.include_router(other_router, dependencies=[Security(get_db)])  # DBS001
second_app = FastAPI(dependencies=[Depends(get_db)])  # DBS001


def registered(db: Session = Depends(get_db)):  # DBS001
    return db


def registered_ws(ws: WebSocket, db: Session = Depends(get_db)):  # DBS001
    return db


def routed(db: Session = Depends(get_db)):  # DBS001
    return db


router.add_api_route("/registered", registered, methods=["GET"])
router.add_api_websocket_route("/registered-ws", registered_ws)
route_object = fa.routing.APIRoute("/routed", endpoint=routed)


def create_app() -> FastAPI:
    inner = APIRouter()

    @inner.get("/nested")
    def nested(db: Session = Depends(get_db)):  # DBS001
        return db

    inner_app = FastAPI(dependencies=[Depends(get_db)])  # DBS001
    return inner_app


class Views:
    @router.get("/method")
    def method(self, db: Session = Depends(get_db)):  # DBS001
        return db


# Negatives on endpoints: other dependencies, no dependency at all.
def get_settings():
    return {}


@router.get("/settings")
def settings(conf: dict = Depends(get_settings), user: Optional[str] = None):
    return conf


@router.get("/no-deps")
def no_deps():
    return {}


# A string that only looks like code is not code.
DOC = """
@router.get("/doc")
def doc(db: Session = Depends(get_db)):
    ...
"""
