"""Login and logout for browsers (`/login`, `/logout`).

The login form is protected by a double-submit CSRF token (cookie + hidden field);
failed logins are limited per user name and address. A successful login sets the
session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS). Both are audited.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from protocol.i18n import translator
from server.storage import audit
from server.storage.audit import Actor
from server.web.auth import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    client_address,
    end_session,
    reader_for,
    start_session,
    verify_password,
)
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.ratelimit import RateLimiter

router = APIRouter(tags=["auth"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
LOGIN_CSRF_COOKIE = "xephang_login_csrf"
LANG_COOKIE = "xephang_lang"


def locale_of(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if wanted in ("vi", "en"):
        return wanted
    return runtime_of(request).settings.locale


def remember_locale(request: Request, response: Response) -> None:
    wanted = request.query_params.get("lang")
    if wanted in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, wanted, max_age=365 * 86400, samesite="strict", httponly=True)


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/desk"


def _login_page(request: Request, error: str | None = None, status: int = 200, next_url: str = "/desk",
                username: str = "") -> HTMLResponse:
    locale = locale_of(request)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request, "login.html",
        {"_": translator("server", locale), "locale": locale, "csrf": token, "error": error, "next": next_url,
         "username": username},
        status_code=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    remember_locale(request, response)
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/desk") -> HTMLResponse:
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    username: str = Form(default="", max_length=64),
    password: str = Form(default="", max_length=256),
    csrf_token: str = Form(default=""),
    next: str = Form(default="/desk"),
) -> Response:
    _ = translator("server", locale_of(request))
    wants_json = "application/json" in request.headers.get("accept", "")
    address = client_address(request)
    store = runtime_of(request).store
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        if wants_json:
            return JSONResponse({"code": "csrf", "detail": "missing or wrong CSRF token"}, status_code=403)
        return _login_page(request, _("The form expired. Please try again."), 403, safe_next(next))
    limiter: RateLimiter = request.app.state.login_limiter
    actor = Actor(username[:64] or "-", "unknown", "web", address)
    key = (username.lower(), address)
    if limiter.exceeded(key):
        audit.record_failure(store, actor, "login", "too_many_attempts")
        if wants_json:
            detail = "too many failed logins; wait a few minutes"
            return JSONResponse({"code": "too_many_attempts", "detail": detail}, status_code=429)
        return _login_page(request, _("Too many failed attempts. Wait a few minutes."), 429, safe_next(next), username[:64])
    user = await to_thread.run_sync(lambda: verify_password(reader_for(request), username, password))
    if user is None:
        limiter.hit(key)
        audit.record_failure(store, actor, "login", "bad_credentials")
        if wants_json:
            return JSONResponse({"code": "bad_credentials", "detail": "wrong user name or password"}, status_code=401)
        return _login_page(request, _("Wrong user name or password."), 401, safe_next(next), username[:64])
    limiter.forget(key)
    token, _csrf = await to_thread.run_sync(lambda: start_session(store, user.username))
    with store.writing() as conn:
        audit.record(conn, Actor(user.username, user.role, "web", address), "login")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    from server.web.auth import current_user

    try:
        user = await current_user(request)
    except ApiError:
        return RedirectResponse("/login", status_code=303)
    store = runtime_of(request).store
    end_session(store, request.cookies.get(SESSION_COOKIE, ""))
    with store.writing() as conn:
        audit.record(conn, Actor(user.username, user.role, "web", client_address(request)), "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
