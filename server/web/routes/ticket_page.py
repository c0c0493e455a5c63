"""The citizen's ticket page: `/t/{ticket_id}` (HTML), its public JSON
`/api/v1/tickets/{ticket_id}`, and the one rating a completed ticket may get
(`POST /api/v1/tickets/{ticket_id}/rating`).

No login: the ticket id (a random UUID printed as a QR code) is the only key, so the
answers reveal that ticket and nothing else: no other ticket's number or id, no list of
waiting numbers, no counter's other tickets. A malformed id and an unknown one get the
same 404 body after the same database lookup, so ids cannot be probed. Ratings are
anonymous: the server itself emits `feedback.given` (its own source and seq) into the
store, then publishes it on the site's events topic, like a desk action.

People ahead of a waiting ticket: waiting tickets of the same service that the
dispatcher calls first: priority ones when this ticket is not priority, and those of
the same class issued earlier. Estimated wait: the estimator's median and P10-P90 range
for this very ticket (server/desk/waits.py, docs/estimate.md), in words ("khoảng 25–40
phút", "dưới 5 phút", "chưa ước tính được (3 người phía trước)") in the page's language.
No paho here (publishing goes through runtime.publish).
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import qrcode
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from protocol import topics
from protocol.events import Event, InvalidEvent, make_event
from protocol.i18n import translator
from protocol.sites import Site
from protocol.speech import DEFAULT_TEMPLATE, SpeechError, call_sentence, ticket_words
from server.booking import codes, returns
from server.desk.boardstate import counter_states, in_progress
from server.desk.estimate import WaitEstimate
from server.desk.waits import site_waits, wait_words
from server.runtime import Runtime
from server.storage import tickets
from server.storage.events import next_seq
from server.web.apiroute import ApiRoute
from server.web.auth import client_address, reader_for
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.routes.auth import templates

router = APIRouter(tags=["ticket page"], route_class=ApiRoute)
STATIC = Path(__file__).resolve().parent.parent / "static"
CANONICAL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SCALE_MAX = {"3-level": 3, "4-level": 4, "5-star": 5}
PAGE_SCALE: Final = "4-level"
POLL_S = 5
NOT_FOUND = {"code": "not_found", "detail": "no such ticket"}
# Security headers of every answer: nothing cached, the id never leaks in a Referer.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Strings ticket.js shows; they go through the catalog like every other text.
JS_TEXTS = (
    "Waiting", "Your number is being called", "Being served", "Completed", "Not present when called",
    "Closed at the end of the day",
    "Unknown", "You are next", "about {minutes} min", "Please go to counter {counter}",
    "Thank you for your rating!", "This ticket has already been rated.", "Rating is possible once the service is completed.",
    "Too many attempts, please try again in a few minutes.", "Could not send, please try again.",
    "Connection lost, retrying…", "Updated {time}", "Valid until {day}",
)
RATING_LABELS = ("Very satisfied", "Satisfied", "Neutral", "Not satisfied")


class RatingIn(BaseModel):
    rating: int = Field(ge=1, le=5, description="1 = best on the 3- and 4-level scales; 5 = best of 5 stars")
    scale: Literal["3-level", "4-level", "5-star"] = Field(default=PAGE_SCALE, description="the rating scale")


# -- reading one ticket ---------------------------------------------------------------
def _find(conn: sqlite3.Connection, ticket_id: str) -> dict[str, Any] | None:
    """The ticket's row, or None. Always one indexed lookup, whatever the input, so a
    malformed id costs the same as an unknown one."""
    key = ticket_id[:64].lower()
    row = tickets.page_ticket(conn, key)
    if row is None or not CANONICAL_ID.match(key):
        return None
    found: dict[str, Any] = dict(row)
    if found["number"] is None or found["issued_at"] is None:
        return None  # events about a ticket whose issue never arrived: nothing to show
    return found


def rated(conn: sqlite3.Connection, ticket_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM events WHERE ticket_id = ? AND type = 'feedback.given' LIMIT 1", (ticket_id,)
    ).fetchone() is not None


def public_view(conn: sqlite3.Connection, site: Site, ticket: dict[str, Any], locale: str, now: datetime) -> dict[str, Any]:
    """Everything the citizen may see about their ticket, and nothing else."""
    service = site.service(ticket["service"])
    status = ticket["status"] if ticket["status"] in ("waiting", "called", "serving", "completed", "no_show", "closed") else "unknown"
    ahead = None
    estimate: WaitEstimate | None = None
    if status == "waiting":
        ahead = tickets.people_ahead(conn, ticket)
        waits = site_waits(conn, site, now, counter_states(conn, site), in_progress(conn, site.id))
        estimate = waits.estimates.tickets.get(ticket["ticket_id"])
    counter = site.counter(ticket["counter"]) if ticket["counter"] and status in ("called", "serving", "completed") else None
    try:
        spoken = ticket_words(ticket["number"])
        call = call_sentence(ticket["number"], counter.number, DEFAULT_TEMPLATE) if counter and status == "called" else None
    except SpeechError:
        spoken, call = None, None
    return {
        "number": ticket["number"],
        "service": service.label(locale) if service else None,
        "documents": list(service.documents) if service else [],
        "status": status,
        "people_ahead": ahead,
        "estimated_wait_s": estimate.point_s if estimate else None,
        "wait_low_s": estimate.low_s if estimate else None,
        "wait_high_s": estimate.high_s if estimate else None,
        "wait_text": wait_words(ahead, estimate, translator("server", locale)) if status == "waiting" else None,
        "counter": {"number": counter.number, "name": counter.name} if counter else None,
        "rated": rated(conn, ticket["ticket_id"]),
        "spoken": {"number": spoken, "call": call},
        **second_visit(conn, site, ticket, now),
    }


def second_visit(conn: sqlite3.Connection, site: Site, ticket: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The second visit on the ticket page (docs/second-visit.md): `second_visit` marks a
    "bổ sung" ticket; `return_code` is the code the desk handed out for this ticket,
    while it can still be used (the page is the citizen's own: the id is the key)."""
    channel = tickets.channel_of(conn, ticket["ticket_id"])
    found = returns.of_ticket(conn, ticket["ticket_id"]) if ticket["status"] == "completed" else None
    usable = found is not None and found["status"] == "issued" and found["expires_at"] >= now.timestamp()
    until = datetime.fromtimestamp(found["expires_at"], site.zone).strftime("%d/%m/%Y") if usable and found else None
    return {
        "second_visit": channel == "return",
        "return_code": {"code": codes.shown(found["code"]), "valid_until": until} if usable and found else None,
    }


def _locale(request: Request) -> str:
    wanted = request.query_params.get("lang")
    return wanted if wanted in ("vi", "en") else runtime_of(request).settings.locale


def _lookup(request: Request, ticket_id: str) -> tuple[Site, dict[str, Any]] | None:
    ticket = _find(reader_for(request), ticket_id)
    if ticket is None:
        return None
    site = next((s for s in runtime_of(request).settings.sites if s.id == ticket["site"]), None)
    return (site, ticket) if site is not None else None


def _stamped(request: Request, site: Site, view: dict[str, Any]) -> dict[str, Any]:
    """The view with the server's time of reading it, site-local: the page's "updated at"
    shows this, not the phone's clock (a demo's sped-up day is hours off the real one)."""
    view["updated_at"] = runtime_of(request).clock().astimezone(site.zone).isoformat(timespec="seconds")
    return view


def _not_found_json() -> JSONResponse:
    return JSONResponse(status_code=404, content=NOT_FOUND, headers=HEADERS)


def _throttled(request: Request, limiter_name: str) -> bool:
    return not getattr(request.app.state, limiter_name).allow(client_address(request))


# -- routes ---------------------------------------------------------------------------
@router.get("/api/v1/tickets/{ticket_id}", summary="One ticket's public view (no login; the id is the key)")
async def ticket_json(request: Request, ticket_id: str) -> Response:
    locale = _locale(request)

    def work() -> dict[str, Any] | None:
        found = _lookup(request, ticket_id)
        return _stamped(request, found[0], public_view(reader_for(request), *found, locale, runtime_of(request).clock())) if found else None

    view = await to_thread.run_sync(work)
    if view is None:
        if _throttled(request, "lookup_limiter"):
            return JSONResponse(status_code=429, content={"code": "too_many_requests", "detail": "slow down"}, headers=HEADERS)
        return _not_found_json()
    return JSONResponse(content=view, headers=HEADERS)


@router.post("/api/v1/tickets/{ticket_id}/rating", status_code=201,
             summary="Rate a completed ticket once (anonymous; no login)")
async def rate_ticket(request: Request, ticket_id: str, body: RatingIn) -> Response:
    if _throttled(request, "rating_limiter"):
        refusal = {"code": "too_many_requests", "detail": "too many ratings from this address; try later"}
        return JSONResponse(status_code=429, content=refusal, headers=HEADERS)
    if body.rating > SCALE_MAX[body.scale]:
        raise ApiError(422, "invalid_rating", f"a {body.scale} rating is 1..{SCALE_MAX[body.scale]}")
    runtime = runtime_of(request)
    event = await to_thread.run_sync(lambda: record_rating(runtime, ticket_id, body.rating, body.scale))
    if event is None:
        return _not_found_json()
    runtime.publish(topics.event(event.site, event.type), event.to_json())
    return JSONResponse(status_code=201, content={"rated": True}, headers=HEADERS)


def record_rating(runtime: Runtime, ticket_id: str, rating: int, scale: str) -> Event | None:
    """Store the ticket's one feedback.given (None when there is no such ticket).
    Check and write happen in one store transaction, so two rating requests at once
    cannot both pass."""
    clock = runtime.clock
    source = runtime.settings.server.client_id
    with runtime.store.writing() as conn:
        ticket = _find(conn, ticket_id)
        if ticket is None or runtime.store.sites.get(ticket["site"]) is None:
            return None
        if ticket["status"] != "completed" or not ticket["counter"]:
            raise ApiError(409, "not_completed", "a ticket can be rated once its service is completed")
        if rated(conn, ticket["ticket_id"]):
            raise ApiError(409, "already_rated", "this ticket has already been rated")
        data = {"ticket_id": ticket["ticket_id"], "counter": ticket["counter"], "rating": rating, "scale": scale}
        try:
            event = make_event("feedback.given", site=ticket["site"], source=source, seq=next_seq(conn, source),
                               data=data, ts=clock())
        except InvalidEvent as exc:
            raise ApiError(422, "invalid_event", exc.reason) from None
        runtime.store.append_local([event], conn=conn)
    return event


@router.get("/t/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
async def ticket_page(request: Request, ticket_id: str) -> Response:
    locale = _locale(request)
    _ = translator("server", locale)

    def work() -> dict[str, Any] | None:
        found = _lookup(request, ticket_id)
        return _stamped(request, found[0], public_view(reader_for(request), *found, locale, runtime_of(request).clock())) if found else None

    view = await to_thread.run_sync(work)
    texts = {t: _(t) for t in JS_TEXTS} | {f"rating:{i}": _(label) for i, label in enumerate(RATING_LABELS, 1)}
    context = {
        "_": _,
        "locale": locale,
        "view": view,
        "ticket_id": ticket_id if view else "",
        "status_text": _(STATUS_TEXTS.get(view["status"], "Unknown")) if view else "",
        "wait_text": wait_text(view, _) if view else "",
        "ratings": [(i, _(label)) for i, label in enumerate(RATING_LABELS, 1)],
        "poll_s": POLL_S,
        "initial": json.dumps(view or {}, ensure_ascii=False).replace("<", "\\u003c"),
        "texts": json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c"),
    }
    if view is None and _throttled(request, "lookup_limiter"):
        return Response(status_code=429, content=_("Too many attempts, please try again in a few minutes."),
                        headers=HEADERS, media_type="text/plain; charset=utf-8")
    response = templates.TemplateResponse(request, "ticket.html", context, status_code=200 if view else 404)
    response.headers.update(HEADERS)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


@router.get("/t/{ticket_id}/return.png", include_in_schema=False)
async def return_qr(request: Request, ticket_id: str) -> Response:
    """The return code of this ticket as a QR (the code only: the kiosk's scanner reads it)."""

    def work() -> str | None:
        found = _lookup(request, ticket_id)
        if found is None:
            return None
        view = second_visit(reader_for(request), found[0], found[1], runtime_of(request).clock())
        return str(view["return_code"]["code"]) if view["return_code"] else None

    code = await to_thread.run_sync(work)
    if code is None:
        return _not_found_json()
    image = qrcode.make(code, box_size=8, border=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return Response(buffer.getvalue(), media_type="image/png", headers=HEADERS)


STATUS_TEXTS = {
    "waiting": "Waiting", "called": "Your number is being called", "serving": "Being served",
    "completed": "Completed", "no_show": "Not present when called",
    "closed": "Closed at the end of the day",
}


def wait_text(view: dict[str, Any], _: Callable[[str], str]) -> str:
    """The wait line of the server-side first paint (the same words as the JSON's)."""
    if view["status"] != "waiting":
        return ""
    return str(view.get("wait_text") or "")

