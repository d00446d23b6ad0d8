"""What is an endpoint: route decorators on any receiver, add_api_route, APIRoute."""

from __future__ import annotations

import ast

# Decorator methods that register a path operation (routers are often imported from other
# modules, so the receiver is not checked).
ROUTE_METHODS = frozenset(
    {"get", "post", "put", "delete", "patch", "options", "head", "trace", "api_route", "websocket", "route"}
)
WEBSOCKET_METHODS = frozenset({"websocket"})
# Calls that register a function given as argument 1 or ``endpoint=``.
REGISTER_CALLS = frozenset({"add_api_route", "add_api_websocket_route", "APIRoute", "APIWebSocketRoute"})
WEBSOCKET_REGISTER_CALLS = frozenset({"add_api_websocket_route", "APIWebSocketRoute"})
# Calls whose ``dependencies=[...]`` apply to routes.
DEPENDENCY_CARRIERS = ROUTE_METHODS | REGISTER_CALLS | {"APIRouter", "FastAPI", "include_router"}
STREAMING_RESPONSES = ("StreamingResponse", "EventSourceResponse")


def callee_name(call: ast.Call) -> str | None:
    """The last name of the called expression: ``router.get`` -> ``get``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def route_decorator(decorator: ast.expr) -> str | None:
    """``@router.get("/x")`` -> ``get``; anything else -> None."""
    if (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ROUTE_METHODS
    ):
        return decorator.func.attr
    return None


def registered_function(call: ast.Call) -> ast.expr | None:
    """The endpoint a registering call names (``add_api_route(path, fn)``, ``APIRoute(path, endpoint=fn)``)."""
    for keyword in call.keywords:
        if keyword.arg == "endpoint":
            return keyword.value
    if len(call.args) >= 2:
        return call.args[1]
    return None


def is_streaming_name(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.endswith(STREAMING_RESPONSES)
