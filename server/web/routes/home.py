"""`GET /`: a small landing page with the links a person needs (desk console, dashboard,
API docs, the demo's board when there is one), instead of a bare JSON 404."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from protocol.i18n import translator
from server.web.deps import runtime_of
from server.web.routes.auth import locale_of, remember_locale

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> Response:
    locale = locale_of(request)
    _ = translator("server", locale)
    settings = runtime_of(request).settings
    links = [
        ("/desk", _("Desk console"), _("for officers at a counter")),
        ("/dashboard", _("Dashboard"), _("for managers: live load and statistics")),
        ("/docs", _("API documentation"), _("the REST API v1, for integrators")),
    ]
    if settings.server.board_snapshot:
        links.append(("/demo/board", _("Display board"), _("the board's latest picture")))
    names = [s.name for s in settings.sites]
    response = templates.TemplateResponse(request, "home.html", {"_": _, "locale": locale, "links": links, "sites": names})
    remember_locale(request, response)
    return response
