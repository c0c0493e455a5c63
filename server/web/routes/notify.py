"""Messages to citizens, the web side: what the ticket page alerts on, opting in to a
channel (Web Push, or a phone number for Zalo/SMS: only with an explicit consent), opting
out, the service worker that shows pushed messages, and the manager's summary.

The ticket id (a random UUID printed as a QR code) is the only key of the citizen's
routes, as on the ticket page: an unknown or malformed id gets the ticket page's 404. A
phone number is validated, handed to the notifier (which encrypts it and deletes it at day
end) and never logged, echoed or exported. Imports the web layer and server.notify.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from server.notify.notifier import Notifier
from server.storage import tickets
from server.web.apiroute import ApiRoute
from server.web.auth import User, check_site, client_address, reader_for, require_roles
from server.web.deps import runtime_of
from server.web.errors import ApiError
from server.web.routes.ticket_page import CANONICAL_ID, HEADERS

router = APIRouter(tags=["notifications"], route_class=ApiRoute)
PHONE = re.compile(r"^(?:\+?84|0)(\d{9})$")
NOT_FOUND = {"code": "not_found", "detail": "no such ticket"}
SW_PATH = "/notify-sw.js"  # at the root, so it may take the scope /t/ (not under /t/{id})


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=20, max_length=200)
    auth: str = Field(min_length=8, max_length=64)


class PushSubscription(BaseModel):
    endpoint: str = Field(pattern=r"^https?://", max_length=1000)
    keys: PushKeys


class SubscribeIn(BaseModel):
    channel: Literal["webpush", "zalo", "sms"]
    subscription: PushSubscription | None = Field(default=None, description="the browser's push subscription (webpush)")
    phone: str | None = Field(default=None, max_length=20, description="Vietnamese mobile number (zalo, sms)")
    consent: bool = Field(default=False, description="the citizen ticked the opt-in: required with a phone number")

    def __repr__(self) -> str:  # never print a phone number
        return f"SubscribeIn(channel={self.channel!r})"


class UnsubscribeIn(BaseModel):
    channel: Literal["webpush", "zalo", "sms"] | None = Field(default=None, description="one channel, or all when absent")


async def _notifier(request: Request) -> Notifier:
    notifier = runtime_of(request).notifier
    if notifier is None:
        raise ApiError(404, "not_found", "this server sends no messages")
    return notifier


NotifierDep = Annotated[Notifier, Depends(_notifier)]


def normalise_phone(raw: str) -> str:
    """'0912 345 678', '+84912345678' → '84912345678' (ZNS and SMS gateways take 84…)."""
    digits = re.sub(r"[\s.\-()]", "", raw)
    match = PHONE.match(digits)
    if match is None:
        raise ApiError(422, "invalid_phone", "a Vietnamese mobile number: 10 digits starting with 0")
    return "84" + match.group(1)


def _ticket(request: Request, ticket_id: str) -> dict[str, Any] | None:
    """The ticket's row, or None; one indexed lookup whatever the input (as the ticket page)."""
    key = ticket_id[:64].lower()
    row = tickets.notice_ticket(reader_for(request), key)
    if row is None or not CANONICAL_ID.match(key):
        return None
    return dict(row)


def _throttled(request: Request) -> bool:
    return not request.app.state.lookup_limiter.allow(client_address(request))


@router.get("/api/v1/tickets/{ticket_id}/notices", summary="Messages the ticket page alerts on (no login; the id is the key)")
async def notices(request: Request, ticket_id: str, notifier: NotifierDep) -> Response:
    ticket = await to_thread.run_sync(lambda: _ticket(request, ticket_id))
    if ticket is None:
        if _throttled(request):
            return JSONResponse(status_code=429, content={"code": "too_many_requests", "detail": "slow down"}, headers=HEADERS)
        return JSONResponse(status_code=404, content=NOT_FOUND, headers=HEADERS)
    site = ticket["site"]
    channels = notifier.channels_for(site)
    body = {
        "notices": [{"kind": n["kind"], "text": n["text"]} for n in notifier.page_notices(ticket["ticket_id"])],
        "push_key": notifier.push_key() if "webpush" in channels else None,
        "phone_channels": [c for c in channels if c in ("zalo", "sms")],
        "subscribed": sorted(notifier.outbox.channels_of(ticket["ticket_id"])),
    }
    return JSONResponse(content=body, headers=HEADERS)


@router.post("/api/v1/tickets/{ticket_id}/subscribe", status_code=201,
             summary="Opt in to messages for this ticket: a push subscription, or a phone number with consent")
async def subscribe(request: Request, ticket_id: str, body: SubscribeIn, notifier: NotifierDep) -> Response:
    if _throttled(request):
        return JSONResponse(status_code=429, content={"code": "too_many_requests", "detail": "slow down"}, headers=HEADERS)
    ticket = await to_thread.run_sync(lambda: _ticket(request, ticket_id))
    if ticket is None:
        return JSONResponse(status_code=404, content=NOT_FOUND, headers=HEADERS)
    if body.channel not in notifier.channels_for(ticket["site"]):
        raise ApiError(409, "channel_unavailable", f"this office does not send {body.channel} messages")
    if ticket["status"] not in ("waiting", "called"):
        raise ApiError(409, "ticket_done", "messages are only for a ticket still waiting")
    if body.channel == "webpush":
        if body.subscription is None:
            raise ApiError(422, "missing_subscription", "a webpush opt-in carries the browser's subscription")
        address = json.dumps(body.subscription.model_dump(), separators=(",", ":"))
    else:
        if not body.consent:
            raise ApiError(422, "consent_required", "a phone number is kept only with the citizen's explicit consent")
        if not body.phone:
            raise ApiError(422, "invalid_phone", "a Vietnamese mobile number: 10 digits starting with 0")
        address = normalise_phone(body.phone)
    await to_thread.run_sync(lambda: notifier.add_contact(ticket["ticket_id"], ticket["site"], body.channel, address,
                                                          ticket["local_day"]))
    return JSONResponse(status_code=201, content={"subscribed": body.channel}, headers=HEADERS)


@router.post("/api/v1/tickets/{ticket_id}/unsubscribe", summary="Withdraw consent: the contact is deleted at once")
async def unsubscribe(request: Request, ticket_id: str, body: UnsubscribeIn, notifier: NotifierDep) -> Response:
    ticket = await to_thread.run_sync(lambda: _ticket(request, ticket_id))
    if ticket is None:
        return JSONResponse(status_code=404, content=NOT_FOUND, headers=HEADERS)
    removed = await to_thread.run_sync(lambda: notifier.outbox.remove_contact(ticket["ticket_id"], body.channel))
    return JSONResponse(content={"removed": removed}, headers=HEADERS)


@router.get(SW_PATH, include_in_schema=False)
async def service_worker() -> Response:
    """The service worker of the ticket pages (scope /t/): shows what Web Push brings."""
    from server.web.routes.ticket_page import STATIC

    script = (STATIC / "notify-sw.js").read_text(encoding="utf-8")
    return Response(script, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get("/api/v1/notify/summary", summary="Messages sent and failed by channel and kind; who was told in time")
async def summary(request: Request, notifier: NotifierDep, site: str,
                  user: Annotated[User, Depends(require_roles("manager"))],
                  day: Annotated[str | None, Query(description="one site-local day, YYYY-MM-DD")] = None,
                  from_: Annotated[str | None, Query(alias="from", description="first day of a period (with to)")] = None,
                  to: Annotated[str | None, Query(description="last day of a period, included")] = None) -> dict[str, Any]:
    check_site(user, site)
    first, last = (day, day) if day else (from_ or "", to or "")
    if not all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) for value in (first, last)):
        raise ApiError(422, "invalid_day", "give day, or from and to, as YYYY-MM-DD")
    if last < first:
        raise ApiError(422, "invalid_period", "to is before from")
    return await to_thread.run_sync(lambda: notifier.summary(site, first, last))
