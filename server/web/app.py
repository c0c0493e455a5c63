"""`create_app(settings)`: builds the FastAPI app. Nothing is created at import time;
the lifespan starts and stops the runtime (store, MQTT ingest). Every module in
`server/web/routes/` with a `router` is included, so adding a route file needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from server.web import routes
from server.web.errors import ApiError
from server.runtime import Runtime
from server.settings import ServerSettings


def create_app(settings: ServerSettings, runtime: Runtime | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.build(settings)
        app.state.runtime = rt
        for module in _route_modules():
            setup = getattr(module, "on_startup", None)
            if setup:
                setup(app, rt)
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
    app.state.settings = settings
    _offline_docs(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"code": exc.code, "detail": exc.detail})

    for module in _route_modules():
        app.include_router(module.router)
    return app


def _offline_docs(app: FastAPI) -> None:
    """OpenAPI docs at /docs with Swagger UI from the swagger-ui-bundle package, not a CDN."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="xephang API v1",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _route_modules() -> list:
    found = []
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        if hasattr(module, "router"):
            found.append(module)
    return found
