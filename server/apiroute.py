"""An APIRoute whose request-validation errors leave as `{"code": "invalid_request", ...}`
like every other API error, instead of FastAPI's bare 422 list. No business logic here."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                parts = []
                for error in exc.errors()[:3]:
                    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
                    parts.append(f"{where}: {error.get('msg')}")
                return JSONResponse(status_code=422, content={"code": "invalid_request", "detail": "; ".join(parts)})

        return route
