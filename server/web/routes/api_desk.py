"""REST API v1 for desks: counter actions, the retained states, the desk view, audit.

Every action is a POST that needs a desk account for that counter (admin passes), is
refused with a JSON error code, and is written to the audit log. The dispatcher comes
from the runtime (server/runtime.py) through `DispatcherDep`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from protocol import topics
from protocol.errors import Refused
from protocol.sites import Site
from server.booking import codes
from server.desk.deskview import desk_view
from server.desk.dispatch import Answer, Dispatcher
from server.settings import ServerSettings
from server.storage import audit, tickets
from server.storage.audit import Actor
from server.web.apiroute import ApiRoute
from server.web.auth import CurrentUser, User, check_counter, check_site, client_address, reader_for, require_roles
from server.web.deps import DispatcherDep, SettingsDep, runtime_of
from server.web.errors import ApiError

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
router = APIRouter(prefix="/api/v1", tags=["desk"], route_class=ApiRoute)


class Outcome(BaseModel):
    outcome: Literal["returned", "appointment", "guided", "info"] = Field(description="how the visit ended")
    dossier_code: str | None = Field(default=None, max_length=64, description="dossier code, optional")
    return_code: bool = Field(
        default=False, description="with outcome 'guided': hand the citizen a return code for the second visit "
        "(docs/second-visit.md); the answer carries it as `return_code`",
    )


class ReturnFor(BaseModel):
    ticket_id: str = Field(max_length=64, description="a ticket this counter completed as 'guided' today")


class Transfer(BaseModel):
    to_service: str = Field(pattern=r"^[a-z0-9-]{1,40}$", description="service id to move the ticket to")


class Pause(BaseModel):
    # Required (issue 22): a pause without a reason tells the manager nothing. Keypads,
    # which cannot type, pause over MQTT without one (server/mqtt/keypad.py).
    reason: str | None = Field(default=None, max_length=200, description="why, e.g. 'Đi họp' (required)")


class CallTicket(BaseModel):
    ticket_id: str = Field(max_length=64, description="the waiting ticket to call out of turn")


def _actor(request: Request, user: User) -> Actor:
    return Actor(user.username, user.role, getattr(request.state, "via", "api"), client_address(request))


def _desk(request: Request, dispatcher: Dispatcher, user: User, site: str, counter: str, action: str,
          roles: tuple[str, ...] = ("desk",)) -> Actor:
    actor = _actor(request, user)
    try:
        if user.role not in roles and user.role != "admin":
            raise ApiError(403, "forbidden", f"needs role {' or '.join(roles)}")
        check_counter(user, site, counter)
    except ApiError as exc:
        audit.record_failure(dispatcher.store, actor, action, exc.code, site=site, counter=counter)
        raise
    return actor


async def _run(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await to_thread.run_sync(lambda: fn(*args, **kwargs))


async def _act(dispatcher: Dispatcher, action: str, site: str, counter: str, actor: Actor, **params: Any) -> Answer:
    """Queue the action for the dispatcher's writer and wait for it without a worker thread.

    Shielded: a client that goes away must not cancel the writer's future (the writer
    would then fail to answer it, and the other actions of its batch with it)."""
    answer: Answer = await asyncio.shield(asyncio.wrap_future(dispatcher.submit(action, site, counter, actor, **params)))
    return answer


COUNTER = "/sites/{site}/counters/{counter}"


@router.get("/me", summary="Who am I")
async def me(user: CurrentUser) -> User:
    return user


@router.post(COUNTER + "/next", summary="Call the next ticket (the dispatcher chooses)")
async def call_next(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "call_next")
    return await _act(dispatcher, "call_next", site, counter, actor)


@router.post(COUNTER + "/recall", summary="Call the current ticket again")
async def recall(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "recall")
    return await _act(dispatcher, "recall", site, counter, actor)


@router.post(COUNTER + "/start", summary="Dossier reception begins")
async def start(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "start")
    return await _act(dispatcher, "start", site, counter, actor)


@router.post(COUNTER + "/complete", summary="Complete the current ticket with an outcome")
async def complete(request: Request, site: str, counter: str, body: Outcome, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "complete")
    if body.return_code and body.outcome != "guided":
        raise ApiError(422, "return_needs_guided", "a return code goes with the outcome 'guided'")
    dossier_code = body.dossier_code
    if body.return_code and not (dossier_code or "").strip() and not await _run(_current_dossier, request, site, counter):
        # Visits are counted per dossier code: a dossier without a one-stop number yet gets a
        # key of xephang's own, on this completion and on the second visit's ticket. (A
        # second visit's ticket already carries its dossier's code: kept.)
        dossier_code = f"XP-{codes.new_code()}"
    done = await _act(dispatcher, "complete", site, counter, actor, outcome=body.outcome, dossier_code=dossier_code)
    if body.return_code:
        # A second transaction: should it fail, the ticket stays completed and the desk asks
        # again with POST .../return-code (the same code comes back if it was made).
        done = {**done, "return_code": await _hand_out(request, dispatcher, site, counter, str(done["ticket_id"]), actor)}
    return done


@router.post(COUNTER + "/return-code", summary="Hand the citizen of a 'guided' ticket a return code (second visit)")
async def return_code(request: Request, site: str, counter: str, body: ReturnFor, user: CurrentUser,
                      dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "return_code")
    return await _hand_out(request, dispatcher, site, counter, body.ticket_id, actor)


def _current_dossier(request: Request, site: str, counter: str) -> str | None:
    """The dossier code the counter's ticket in progress already carries (a second visit's)."""
    return tickets.counter_dossier(reader_for(request), site, counter)


async def _hand_out(request: Request, dispatcher: Dispatcher, site: str, counter: str, ticket_id: str,
                    actor: Actor) -> dict[str, Any]:
    try:
        found = await _run(runtime_of(request).bookings.hand_out_return, site, counter, ticket_id, actor)
    except Refused as exc:
        audit.record_failure(dispatcher.store, actor, "return_code", exc.code, site=site, counter=counter)
        raise
    return _return_view(found)


def _return_view(found: dict[str, Any]) -> dict[str, Any]:
    return {"code": codes.shown(found["code"]), "ticket_id": found["ticket_id"], "service": found["service"],
            "dossier_code": found["dossier_code"], "expires_at": found["expires_at"], "status": found["status"]}


@router.post(COUNTER + "/no-show", summary="The citizen did not come")
async def no_show(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "no_show")
    return await _act(dispatcher, "no_show", site, counter, actor)


@router.post(COUNTER + "/transfer", summary="Move the current ticket to another service (keeps its arrival time)")
async def transfer(request: Request, site: str, counter: str, body: Transfer, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "transfer")
    return await _act(dispatcher, "transfer", site, counter, actor, to_service=body.to_service)


@router.post(COUNTER + "/pause", summary="Pause the counter with a reason")
async def pause(request: Request, site: str, counter: str, body: Pause, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "pause")  # who may, before what they sent
    if not (body.reason or "").strip():
        raise ApiError(422, "reason_required", "a pause needs a reason, e.g. 'Đi họp'")
    return await _act(dispatcher, "pause", site, counter, actor, reason=body.reason)


@router.post(COUNTER + "/resume", summary="Resume a paused counter")
async def resume(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "resume")
    return await _act(dispatcher, "resume", site, counter, actor)


@router.post(COUNTER + "/open", summary="Open the counter")
async def open_counter(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "open")
    return await _act(dispatcher, "open", site, counter, actor)


@router.post(COUNTER + "/close", summary="Close the counter")
async def close_counter(request: Request, site: str, counter: str, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "close")
    return await _act(dispatcher, "close", site, counter, actor)


@router.post(COUNTER + "/call", summary="Supervisor (admin): call one waiting ticket out of turn")
async def call_ticket(request: Request, site: str, counter: str, body: CallTicket, user: CurrentUser, dispatcher: DispatcherDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "call_ticket", roles=("admin",))
    return await _act(dispatcher, "call_ticket", site, counter, actor, ticket_id=body.ticket_id)


class Reprint(BaseModel):
    ticket_id: str = Field(max_length=64, description="the ticket whose slip the citizen lost")


@router.post(COUNTER + "/reprint", summary="Ask the kiosk that printed a ticket to print it again (same number)")
async def reprint(request: Request, site: str, counter: str, body: Reprint, user: CurrentUser,
                  dispatcher: DispatcherDep, settings: SettingsDep) -> dict:
    actor = _desk(request, dispatcher, user, site, counter, "reprint")
    row = tickets.reprint_facts(reader_for(request), body.ticket_id, site)
    kiosks = {d.id for d in settings.devices if d.role == "kiosk" and d.site == site}
    code = None
    if row is None:
        code, status, detail = "unknown_ticket", 404, "no such ticket at this site"
    elif row["source"] not in kiosks:
        code, status, detail = "not_printed_by_a_kiosk", 409, "this ticket was not printed by a kiosk of this site"
    elif row["status"] not in ("waiting", "called", "serving"):
        code, status, detail = "ticket_not_open", 409, f"the ticket is {row['status']}"
    if code is not None:
        audit.record_failure(dispatcher.store, actor, "reprint", code, site=site, counter=counter, target=body.ticket_id)
        raise ApiError(status, code, detail)
    assert row is not None and row["source"] is not None  # refused above otherwise
    number, kiosk = row["number"], row["source"]
    payload = json.dumps({"ticket_id": body.ticket_id, "by": user.username}).encode()
    await _run(lambda: runtime_of(request).publish(topics.reprint(site, kiosk), payload))
    with dispatcher.store.writing() as conn:
        audit.record(conn, actor, "reprint", site=site, counter=counter, target=body.ticket_id,
                     detail={"number": number, "kiosk": kiosk})
    return {"reprint": "sent", "ticket_id": body.ticket_id, "number": number, "kiosk": kiosk}


def _site_of(settings: ServerSettings, user: User, site: str) -> Site:
    check_site(user, site)
    found = settings.site(site)
    if found is None:
        raise ApiError(404, "unknown_site", f"no site {site!r}")
    return found


@router.get("/sites/{site}/board", summary="The board state (as retained on state/board)")
async def board(request: Request, site: str, user: CurrentUser, settings: SettingsDep, dispatcher: DispatcherDep) -> Any:
    _site_of(settings, user, site)
    if site not in dispatcher.dispatch_sites:
        raise ApiError(409, "not_dispatcher", f"this server does not dispatch site {site!r}")
    board_state, _ = await _run(dispatcher.states.publish_now, site)
    return board_state


@router.get("/sites/{site}/queue", summary="Waiting count and estimated wait per service")
async def queue(request: Request, site: str, user: CurrentUser, settings: SettingsDep, dispatcher: DispatcherDep) -> Any:
    _site_of(settings, user, site)
    if site not in dispatcher.dispatch_sites:
        raise ApiError(409, "not_dispatcher", f"this server does not dispatch site {site!r}")
    _, queue_state = await _run(dispatcher.states.publish_now, site)
    return queue_state


@router.get(COUNTER + "/view", summary="Everything the desk console shows for a counter")
async def view(
    request: Request, site: str, counter: str, user: CurrentUser, settings: SettingsDep, dispatcher: DispatcherDep, lang: str = "vi"
) -> dict:
    found = _site_of(settings, user, site)
    if found.counter(counter) is None:
        raise ApiError(404, "unknown_counter", f"no counter {counter!r} at site {site!r}")
    locale = "en" if lang == "en" else "vi"
    return await _run(lambda: desk_view(reader_for(request), found, counter, dispatcher.clock(), locale,
                                           runtime_of(request).clock_rate))


@router.get("/sites/{site}/audit", summary="Recent audit log of a site (manager, admin)")
async def audit_log(
    request: Request, site: str, user: Annotated[User, Depends(require_roles("manager"))], limit: int = 100
) -> list[dict]:
    check_site(user, site)
    conn = reader_for(request)
    return audit.recent(conn, site, max(1, min(limit, 1000)))
