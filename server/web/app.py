"""`create_app(settings)`: builds the FastAPI app. Nothing is created at import time.
The lifespan builds the runtime (server/runtime.py: every server part, typed) unless one
is given, starts it and stops it. The routers are listed here, in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from protocol.errors import Refused
from server.runtime import Runtime
from server.settings import ServerSettings
from server.web.errors import ApiError, as_api_error
from server.web.ratelimit import RateLimiter
from server.web.routes import api_desk, auth, booking, dashboard, demo, desk, health, home, notify, reports, stats, ticket_page

ROUTERS = (
    api_desk.router,     # /api/v1/... desk actions, board and queue states, desk view, audit
    auth.router,         # /login, /logout
    dashboard.router,    # /dashboard (managers)
    demo.router,         # /demo/board.png
    desk.router,         # /desk (the officer's console)
    health.router,       # /healthz
    stats.router,        # /api/v1/stats, /api/v1/live
    ticket_page.router,  # /t/<id> (citizens' phones)
    booking.router,      # /book, /b/<code>, /api/v1/bookings (citizens' phones), desk check-in
    notify.router,       # /api/v1/tickets/<id>/notices, subscribe; /notify-sw.js; /api/v1/notify/summary
    reports.router,      # /api/v1/reports (JSON, .xlsx, kept packs), /reports/print
    home.router,         # / (a landing page with the links)
)
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: ServerSettings, runtime: Runtime | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.build(settings)
        app.state.runtime = rt
        rt.start()
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(
        title="xephang",
        version="1",
        description="Queue and kiosk system for one-stop offices: REST API v1",
        lifespan=lifespan,
        docs_url=None,  # served below from an installed package: offices have no internet
        redoc_url=None,
    )
    # Web-only state: the rate limiters (server/web/ratelimit.py).
    app.state.login_limiter = RateLimiter(limit=5, window_s=300.0)  # failed logins per name and address
    app.state.rating_limiter = RateLimiter(limit=10, window_s=600.0)  # ratings per address
    app.state.lookup_limiter = RateLimiter(limit=60, window_s=60.0)  # ticket lookups per address
    app.state.booking_limiter = RateLimiter(limit=settings.server.booking_limit, window_s=600.0)  # per address
    app.state.booking_code_limiter = RateLimiter(limit=settings.server.booking_code_limit, window_s=600.0)  # per code
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _offline_docs(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"code": exc.code, "detail": exc.detail})

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        error = as_api_error(exc)
        return JSONResponse(status_code=error.status, content={"code": error.code, "detail": error.detail})

    for router in ROUTERS:
        app.include_router(router)
    return app


def _offline_docs(app: FastAPI) -> None:
    """OpenAPI docs at /docs with Swagger UI from the swagger-ui-bundle package, not a CDN.
    That UI reads OpenAPI 3.0 only: it gets a 3.0 rendering of the 3.1 document
    (server/web/openapi30.py); /openapi.json stays 3.1 for machine clients."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html

    from server.web.openapi30 import downgrade

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs/openapi-3.0.json", include_in_schema=False)
    def openapi_30() -> JSONResponse:
        return JSONResponse(downgrade(app.openapi()))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/docs/openapi-3.0.json",
            title="xephang API v1",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
