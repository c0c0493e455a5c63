"""An APIRoute whose request-validation and body-parsing errors leave as
`{"code": "invalid_request", ...}` like every other API error, instead of FastAPI's bare
422 list or 400 detail. No business logic here."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException  # FastAPI raises it, or starlette's own


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
            except HTTPException as exc:
                if exc.status_code != 400:  # FastAPI's "error parsing the body" (e.g. nested too deep)
                    raise
                return JSONResponse(status_code=400, content={"code": "invalid_request", "detail": str(exc.detail)})

        return route
