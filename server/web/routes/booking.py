"""Citizens' booking page and API (docs/booking.md): pick a reception point, a field, a
day and a slot, get a code and its QR; cancel or move with the code; take today's
number remotely. No login, no personal data, no script (plain forms that post and
redirect), so it works on any phone and with a screen reader. The desk checks a citizen
in by code (`POST /api/v1/sites/{site}/check-in`, desk role) and lists today's bookings.

Abuse: changes are rate-limited per address and per code; an unknown code gets the same
answer as a malformed one, after the same lookup; a page shows one booking and nothing
about anyone else. The rules are server/booking; this module only routes.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

import qrcode
from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from protocol.errors import Refused
from protocol.i18n import translator
from protocol.sites import Site
from server.booking import codes
from server.booking.errors import BookingRefused
from server.booking.service import Bookings
from server.booking.slots import bookable_days, bookable_services
from server.stats.bookings import COLUMNS as FIGURE_COLUMNS
from server.stats.bookings import figures as booking_figures
from server.storage import audit, tickets
from server.storage.audit import Actor
from server.web.apiroute import ApiRoute
from server.web.auth import User, check_site, client_address, reader_for, require_roles
from server.web.deps import RuntimeDep, runtime_of
from server.web.errors import ApiError, as_api_error
from server.web.routes.auth import templates
from server.web.routes.ticket_page import public_view

router = APIRouter(tags=["booking"], route_class=ApiRoute)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
SLOT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"
# Refusals shown on the page, in the citizen's words.
ERROR_TEXTS = {
    "slot_full": "This slot is full. Please choose another one.",
    "slot_closed": "This slot can no longer be booked. Please choose another one.",
    "unknown_slot": "This slot does not exist. Please choose another one.",
    "past_cutoff": "This booking can no longer be changed.",
    "code_cancelled": "This booking was cancelled.",
    "code_used": "This booking has already been used.",
    "closed_now": "Numbers are given during opening hours only.",
    "too_many_requests": "Too many attempts, please try again in a few minutes.",
    "not_appointment": "An online number cannot be moved or cancelled; it lapses if unused.",
    "consent_required": "Tick the box to agree before giving your number.",
    "invalid_phone": "Please enter a Vietnamese mobile number (10 digits starting with 0).",
}
STATUS_TEXTS = {
    "booked": "Booked", "cancelled": "Cancelled", "checked_in": "Checked in", "no_show": "Not used",
    "issued": "In the queue",
}
UNKNOWN = {"code": "unknown_code", "detail": "no booking has this code"}


class BookIn(BaseModel):
    site: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="reception point")
    service: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="field (service)")
    slot: str = Field(pattern=SLOT, description="slot start, site-local YYYY-MM-DDTHH:MM")


class NumberIn(BaseModel):
    site: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="reception point")
    service: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="field (service)")


class MoveIn(BaseModel):
    slot: str = Field(pattern=SLOT, description="the new slot's start, site-local YYYY-MM-DDTHH:MM")


class CheckInIn(BaseModel):
    code: str = Field(min_length=1, max_length=200, description="the booking code, or the text of its QR")
    counter: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,40}$", description="the desk checking in")


async def _bookings(request: Request) -> Bookings:
    return runtime_of(request).bookings


BookingsDep = Annotated[Bookings, Depends(_bookings)]


def _locale(request: Request) -> str:
    wanted = request.query_params.get("lang")
    return wanted if wanted in ("vi", "en") else runtime_of(request).settings.locale


def _limit(request: Request, code: str | None = None) -> None:
    """429 past the per-address (and per-code) limits of changes."""
    if not request.app.state.booking_limiter.allow(client_address(request)):
        raise ApiError(429, "too_many_requests", "too many booking requests from this address; try later")
    if code is not None and not request.app.state.booking_code_limiter.allow(code):
        raise ApiError(429, "too_many_requests", "too many changes of this booking; try later")


def _local(site: Site, epoch_s: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(site.zone) if epoch_s is not None else None


def _hhmm(site: Site, epoch_s: float | None) -> str | None:
    moment = _local(site, epoch_s)
    return moment.strftime("%H:%M") if moment else None


def _public(bookings: Bookings, conn: Any, found: dict[str, Any], locale: str) -> dict[str, Any]:
    """The JSON view of one booking: only what its code holder needs."""
    site = bookings.sites[found["site"]]
    service = site.service(found["service"])
    start = _local(site, found["slot_start_at"])
    view: dict[str, Any] = {
        "code": codes.shown(found["code"]),
        "kind": found["kind"],
        "status": found["status"],
        "site": {"id": site.id, "name": site.name},
        "service": {"id": found["service"], "name": service.label(locale) if service else found["service"],
                    "documents": list(service.documents) if service else []},  # papers to bring (issue 20)
        "day": found["local_day"],
        "day_shown": "/".join(reversed(found["local_day"].split("-"))),  # 03/12/2026, as Vietnamese write it
        "slot": start.strftime("%H:%M") if start else None,
        "slot_end": (start + timedelta(minutes=site.booking.slot_minutes)).strftime("%H:%M") if start else None,
        "number": found["number"],
        "ticket_id": found["ticket_id"],
        "held_until": _hhmm(site, found["held_until_at"]),
        "ticket": None,
        "come_by": None,
    }
    if found["kind"] == "online" and found["ticket_id"] and found["number"]:
        ticket = tickets.page_ticket(conn, found["ticket_id"])
        if ticket is not None:
            view["ticket"] = public_view(conn, site, dict(ticket), locale, bookings.clock())
            wait_s = view["ticket"]["estimated_wait_s"]
            if view["ticket"]["status"] == "waiting" and found["status"] == "issued":
                # Come a little before the estimated call: the check-in has to happen first.
                ahead = view["ticket"]["people_ahead"] or 0
                margin_s = 10 * 60
                eta_s = max(0, (wait_s if wait_s is not None else ahead * site.booking.service_minutes * 60) - margin_s)
                view["come_by"] = _hhmm(site, bookings.clock().timestamp() + eta_s)
    return view


async def _written(bookings: Bookings, what: str, future: Future[dict[str, Any]]) -> dict[str, Any]:
    """A booking change's answer from the booking writer, awaited on the event loop: no
    worker thread waits for the store's lock or the commit (under a burst of bookings
    they held every worker thread and stalled the whole server, static files included:
    docs/booking.md, "Speed"). Shielded: a client that goes away does not cancel a change
    the writer may already have committed. The listeners (reminders) are told after the
    commit, on a worker thread, as before."""
    answer: dict[str, Any] = await asyncio.shield(asyncio.wrap_future(future))
    done = dict(answer)
    if what == "moved" and not done.pop("moved"):
        return done
    if bookings.listeners:
        await to_thread.run_sync(lambda: bookings.changed(what, done["code"]))
    return done


def _slot_rows(bookings: Bookings, conn: Any, site: str, service: str, day: str) -> list[dict[str, Any]]:
    return [
        {"slot": v.slot.key, "start": v.slot.start.isoformat(), "end": v.slot.end.isoformat(), "places": v.places,
         "free": v.free, "open": v.open} for v in bookings.slots(conn, site, service, day)
    ]


# -- JSON API -------------------------------------------------------------------------
@router.get("/api/v1/booking/sites", summary="Reception points that take bookings or give numbers online")
async def booking_sites(bookings: BookingsDep, request: Request) -> dict[str, Any]:
    locale = _locale(request)
    return {"sites": [
        {"id": s.id, "name": s.name, "appointments": s.booking.enabled, "online_numbers": s.booking.online_numbers,
         "services": [{"id": v.id, "name": v.label(locale)} for v in bookable_services(s)]}
        for s in bookings.booking_sites()
    ]}


@router.get("/api/v1/booking/{site}/{service}/slots", summary="A day's slots of one field, with free places")
async def slots(request: Request, site: str, service: str, day: str, bookings: BookingsDep) -> dict[str, Any]:
    # The rows are built on the worker thread too (their dates cost more than the query).
    rows = await to_thread.run_sync(lambda: _slot_rows(bookings, reader_for(request), site, service, day))
    return {"site": site, "service": service, "day": day, "slots": rows}


@router.post("/api/v1/bookings", status_code=201, summary="Book a slot (no login; returns the code)")
async def book(request: Request, body: BookIn, bookings: BookingsDep) -> JSONResponse:
    _limit(request)
    made = await _written(bookings, "booked", bookings.book_later(body.site, body.service, body.slot))
    return JSONResponse(status_code=201, content={**made, "code": codes.shown(made["code"])}, headers=HEADERS)


@router.get("/api/v1/bookings/{code}", summary="One booking's view (the code is the key)")
async def booking_json(request: Request, code: str, bookings: BookingsDep) -> JSONResponse:
    locale = _locale(request)

    def work() -> dict[str, Any] | None:
        conn = reader_for(request)
        found = bookings.view(conn, code)
        return _public(bookings, conn, found, locale) if found else None

    view = await to_thread.run_sync(work)
    if view is None:
        if not request.app.state.lookup_limiter.allow(client_address(request)):
            raise ApiError(429, "too_many_requests", "slow down")
        return JSONResponse(status_code=404, content=UNKNOWN, headers=HEADERS)
    return JSONResponse(content=view, headers=HEADERS)


@router.post("/api/v1/bookings/{code}/cancel", summary="Cancel a booking with its code")
async def cancel(request: Request, code: str, bookings: BookingsDep) -> JSONResponse:
    _limit(request, codes.canonical(code) or code[:32])
    done = await _written(bookings, "cancelled", bookings.cancel_later(code))
    return JSONResponse(content={**done, "code": codes.shown(done["code"])}, headers=HEADERS)


@router.post("/api/v1/bookings/{code}/move", summary="Move a booking to another slot with its code")
async def move(request: Request, code: str, body: MoveIn, bookings: BookingsDep) -> JSONResponse:
    _limit(request, codes.canonical(code) or code[:32])
    done = await _written(bookings, "moved", bookings.move_later(code, body.slot))
    return JSONResponse(content={**done, "code": codes.shown(done["code"])}, headers=HEADERS)


@router.post("/api/v1/online-numbers", status_code=201, summary="Take today's number remotely (joins the queue at once)")
async def online_number(request: Request, body: NumberIn, bookings: BookingsDep) -> JSONResponse:
    _limit(request)
    made = await to_thread.run_sync(lambda: bookings.take_number(body.site, body.service))
    return JSONResponse(status_code=201, content={**made, "code": codes.shown(made["code"])}, headers=HEADERS)


@router.post("/api/v1/sites/{site}/check-in", summary="Check a citizen in by booking code (desk)")
async def check_in(request: Request, site: str, body: CheckInIn, runtime: RuntimeDep,
                   user: Annotated[User, Depends(require_roles("desk"))]) -> dict[str, Any]:
    check_site(user, site)
    actor = Actor(user.username, user.role, getattr(request.state, "via", "api"), client_address(request))
    try:
        done = await to_thread.run_sync(lambda: runtime.bookings.check_in(body.code, site, "desk", body.counter, actor))
    except Refused as exc:
        audit.record_failure(runtime.store, actor, "check_in", exc.code, site=site, counter=body.counter)
        raise
    return {**done, "code": codes.shown(done["code"])}


@router.get("/api/v1/sites/{site}/bookings/today", summary="Today's bookings per slot, and who checked in")
async def today(request: Request, site: str, runtime: RuntimeDep,
                user: Annotated[User, Depends(require_roles("desk", "manager"))]) -> dict[str, Any]:
    check_site(user, site)
    rows = await to_thread.run_sync(lambda: runtime.bookings.day_list(reader_for(request), site))
    zone = runtime.bookings.site(site).zone
    for row in rows:
        row["code"] = codes.shown(row["code"])
        row["slot"] = datetime.fromtimestamp(row.pop("slot_start_at"), UTC).astimezone(zone).strftime("%H:%M") \
            if row["slot_start_at"] is not None else None
        row["checked_in"] = row.pop("checked_in_at") is not None
    return {"site": site, "bookings": rows}


@router.get("/api/v1/sites/{site}/bookings/figures", summary="Booking figures of a period (docs/measures.md)")
async def figures(request: Request, site: str, runtime: RuntimeDep,
                  user: Annotated[User, Depends(require_roles("manager"))],
                  day_from: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$")],
                  day_to: Annotated[str, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> dict[str, Any]:
    runtime.bookings.site(site)  # 404 for a site this server does not know
    check_site(user, site)

    def count() -> dict[str, Any]:
        found = booking_figures(reader_for(request), [site], day_from, day_to, ("site",))
        row = found[0] if found else {"site": site} | {c: 0 for c in FIGURE_COLUMNS}
        figures = {k: v for k, v in row.items() if k not in ("issued", "issued_appointment", "pct_by_booking")}
        if not found:
            figures.update(punctuality_median_s=None, punctuality_p90_s=None)
        return figures | {"from": day_from, "to": day_to}

    return await to_thread.run_sync(count)


# -- the page ---------------------------------------------------------------------------
def _page(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    locale = context["locale"]
    _ = translator("server", locale)
    response = templates.TemplateResponse(request, "booking.html", {"_": _, "status_texts": STATUS_TEXTS, **context},
                                          status_code=status)
    response.headers.update(HEADERS)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _error_page(request: Request, locale: str, exc: Refused | ApiError, back: str) -> Response:
    _ = translator("server", locale)
    code = exc.code
    error = as_api_error(exc) if isinstance(exc, Refused) else exc
    text = _(ERROR_TEXTS.get(code, "Sorry, this did not work. Please try again."))
    return _page(request, {"locale": locale, "step": "error", "message": text, "back": back}, error.status)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v)[:200] for k, v in form.items()}


def _lang(locale: str) -> str:
    return f"?lang={locale}"


@router.get("/book", response_class=HTMLResponse, include_in_schema=False)
async def pick_site(request: Request, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    sites = bookings.booking_sites()
    if len(sites) == 1:
        return RedirectResponse(f"/book/{sites[0].id}{_lang(locale)}", status_code=303)
    return _page(request, {"locale": locale, "step": "site", "sites": sites})


@router.get("/book/{site}", response_class=HTMLResponse, include_in_schema=False)
async def pick_service(request: Request, site: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    found = bookings.sites.get(site)
    if found is None or found not in bookings.booking_sites():
        return _page(request, {"locale": locale, "step": "missing"}, 404)
    services = [(s.id, s.label(locale)) for s in bookable_services(found)]
    return _page(request, {"locale": locale, "step": "service", "site": found, "services": services})


@router.get("/book/{site}/{service}", response_class=HTMLResponse, include_in_schema=False)
async def pick_slot(request: Request, site: str, service: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    found = bookings.sites.get(site)
    if found is None or found.service(service) is None or found not in bookings.booking_sites():
        return _page(request, {"locale": locale, "step": "missing"}, 404)
    now = bookings.clock()
    days = bookable_days(found, now) if found.booking.enabled else []
    day = request.query_params.get("day") or (days[0].isoformat() if days else None)
    views = []
    if day and found.booking.enabled:
        try:
            views = await to_thread.run_sync(lambda: bookings.slots(reader_for(request), site, service, day))
        except BookingRefused:
            views = []
    views = [v for v in views if v.slot.start > now]  # past slots are not offered
    return _page(request, {
        "locale": locale, "step": "slot", "site": found, "service": found.service(service),
        "service_name": found.service(service).label(locale),  # type: ignore[union-attr]
        "days": days, "day": day, "slots": views, "move": None,
        "online": found.booking.online_numbers and found.is_open_for_tickets(now),
    })


@router.post("/book/{site}/{service}", include_in_schema=False)
async def book_form(request: Request, site: str, service: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    slot = (await _form(request)).get("slot", "")
    try:
        _limit(request)
        made = await _written(bookings, "booked", bookings.book_later(site, service, slot))
    except (Refused, ApiError) as exc:
        return _error_page(request, locale, exc, f"/book/{quote(site)}/{quote(service)}{_lang(locale)}")
    return RedirectResponse(f"/b/{made['code']}{_lang(locale)}", status_code=303)


@router.post("/book/{site}/{service}/number", include_in_schema=False)
async def number_form(request: Request, site: str, service: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    try:
        _limit(request)
        made = await to_thread.run_sync(lambda: bookings.take_number(site, service))
    except (Refused, ApiError) as exc:
        return _error_page(request, locale, exc, f"/book/{quote(site)}/{quote(service)}{_lang(locale)}")
    return RedirectResponse(f"/b/{made['code']}{_lang(locale)}", status_code=303)


@router.get("/b/{code}", response_class=HTMLResponse, include_in_schema=False)
async def booking_page(request: Request, code: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)

    def work() -> dict[str, Any] | None:
        conn = reader_for(request)
        found = bookings.view(conn, code)
        return _public(bookings, conn, found, locale) if found else None

    view = await to_thread.run_sync(work)
    if view is None:
        if not request.app.state.lookup_limiter.allow(client_address(request)):
            return _page(request, {"locale": locale, "step": "error", "back": "/book",
                                   "message": translator("server", locale)(ERROR_TEXTS["too_many_requests"])}, 429)
        return _page(request, {"locale": locale, "step": "missing"}, 404)
    raw = codes.canonical(code) or ""
    view.update(await to_thread.run_sync(lambda: _reminders(request, view)))
    return _page(request, {"locale": locale, "step": "booking", "view": view, "raw": raw})


# -- reminders (issue 18): what the booking page shows, and the phone opt-in ---------------
class RemindIn(BaseModel):
    channel: Literal["zalo", "sms"]
    phone: str = Field(max_length=20, description="Vietnamese mobile number")
    consent: bool = Field(default=False, description="the citizen ticked the opt-in; required")

    def __repr__(self) -> str:  # never print a phone number
        return f"RemindIn(channel={self.channel!r})"


def _reminders(request: Request, view: dict[str, Any]) -> dict[str, Any]:
    """The reminders this booking got on the page channel, and the phone channels the
    citizen may opt in to (only where the site sends by Zalo or SMS)."""
    notifier = runtime_of(request).notifier
    if notifier is None or view["kind"] != "appointment":
        return {"reminders": [], "remind_channels": [], "reminded": False}
    key = codes.canonical(view["code"]) or ""
    channels = notifier.channels_for(view["site"]["id"])
    return {
        "reminders": notifier.page_notices(key),
        "remind_channels": [c for c in channels if c in ("zalo", "sms")],
        "reminded": bool(notifier.outbox.channels_of(key)),
    }


def _remind(request: Request, code: str, body: RemindIn) -> None:
    """Keep the citizen's phone number for this booking's reminders (encrypted, until the
    end of the slot's day, docs/privacy.md); refused without the consent box ticked."""
    from server.web.routes.notify import normalise_phone

    notifier = runtime_of(request).notifier
    if notifier is None:
        raise ApiError(404, "not_found", "this server sends no messages")
    raw = codes.canonical(code)
    found = runtime_of(request).bookings.view(reader_for(request), raw) if raw else None
    if found is None:
        raise ApiError(404, "unknown_code", "no booking has this code")
    if found["kind"] != "appointment" or found["status"] != "booked":
        raise ApiError(409, "code_used", "reminders are for a booking still to come")
    if body.channel not in notifier.channels_for(found["site"]):
        raise ApiError(409, "channel_unavailable", f"this office does not send {body.channel} messages")
    if not body.consent:
        raise ApiError(422, "consent_required", "a phone number is kept only with the citizen's explicit consent")
    notifier.add_contact(found["code"], found["site"], body.channel, normalise_phone(body.phone), found["local_day"])


@router.post("/api/v1/bookings/{code}/remind", status_code=201,
             summary="Opt in to the booking's reminders by Zalo or SMS (a phone number, with consent; no login)")
async def remind(request: Request, code: str, body: RemindIn) -> JSONResponse:
    _limit(request, codes.canonical(code) or code[:32])
    await to_thread.run_sync(lambda: _remind(request, code, body))
    return JSONResponse(status_code=201, content={"subscribed": body.channel}, headers=HEADERS)


@router.post("/b/{code}/remind", include_in_schema=False)
async def remind_form(request: Request, code: str) -> Response:
    locale = _locale(request)
    form = await _form(request)
    try:
        _limit(request, codes.canonical(code) or code[:32])
        body = RemindIn(channel=form.get("channel", ""), phone=form.get("phone", ""),  # type: ignore[arg-type]
                        consent=form.get("consent") == "yes")
        await to_thread.run_sync(lambda: _remind(request, code, body))
    except ValidationError:
        return _error_page(request, locale, ApiError(422, "invalid_phone", "invalid form"), f"/b/{quote(code)}{_lang(locale)}")
    except (Refused, ApiError) as exc:
        return _error_page(request, locale, exc, f"/b/{quote(code)}{_lang(locale)}")
    return RedirectResponse(f"/b/{quote(code)}{_lang(locale)}", status_code=303)


@router.get("/b/{code}/qr.png", include_in_schema=False)
async def booking_qr(request: Request, code: str, bookings: BookingsDep) -> Response:
    raw = codes.canonical(code)
    found = await to_thread.run_sync(lambda: bookings.view(reader_for(request), raw)) if raw else None
    if found is None:
        return JSONResponse(status_code=404, content=UNKNOWN, headers=HEADERS)
    base = runtime_of(request).settings.server.public_url or str(request.base_url)
    image = qrcode.make(f"{base.rstrip('/')}/b/{raw}", box_size=8, border=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return Response(buffer.getvalue(), media_type="image/png",
                    headers={**HEADERS, "Content-Disposition": f'inline; filename="booking-{raw}.png"'})


@router.post("/b/{code}/cancel", include_in_schema=False)
async def cancel_form(request: Request, code: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    try:
        _limit(request, codes.canonical(code) or code[:32])
        await _written(bookings, "cancelled", bookings.cancel_later(code))
    except (Refused, ApiError) as exc:
        return _error_page(request, locale, exc, f"/b/{quote(code)}{_lang(locale)}")
    return RedirectResponse(f"/b/{quote(code)}{_lang(locale)}", status_code=303)


@router.get("/b/{code}/move", response_class=HTMLResponse, include_in_schema=False)
async def move_page(request: Request, code: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    found = await to_thread.run_sync(lambda: bookings.view(reader_for(request), code))
    if found is None or found["kind"] != "appointment":
        return _page(request, {"locale": locale, "step": "missing"}, 404)
    site = bookings.sites[found["site"]]
    days = bookable_days(site, bookings.clock())
    day = request.query_params.get("day") or (days[0].isoformat() if days else None)
    views = []
    if day:
        try:
            views = await to_thread.run_sync(lambda: bookings.slots(reader_for(request), site.id, found["service"], day))
        except BookingRefused:
            views = []
    views = [v for v in views if v.slot.start > bookings.clock()]
    service = site.service(found["service"])
    return _page(request, {
        "locale": locale, "step": "slot", "site": site, "service": service,
        "service_name": service.label(locale) if service else found["service"],
        "days": days, "day": day, "slots": views, "move": found["code"], "online": False,
    })


@router.post("/b/{code}/move", include_in_schema=False)
async def move_form(request: Request, code: str, bookings: BookingsDep) -> Response:
    locale = _locale(request)
    slot = (await _form(request)).get("slot", "")
    try:
        _limit(request, codes.canonical(code) or code[:32])
        await _written(bookings, "moved", bookings.move_later(code, slot))
    except (Refused, ApiError) as exc:
        return _error_page(request, locale, exc, f"/b/{quote(code)}/move{_lang(locale)}")
    return RedirectResponse(f"/b/{quote(code)}{_lang(locale)}", status_code=303)
