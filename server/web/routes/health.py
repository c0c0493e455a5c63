"""`GET /healthz`: database and broker state, counts of stored, duplicate, rejected events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/healthz", tags=["health"], summary="Database and broker state, event counts")
def healthz(request: Request) -> JSONResponse:
    health = request.app.state.runtime.health()
    return JSONResponse(health, status_code=200 if health["ok"] else 503)
