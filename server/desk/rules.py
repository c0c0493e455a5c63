"""Who is called next: the dispatcher's ordering rule as a pure function over the
waiting tickets it may call, so that it can be checked on any mix (hypothesis, see
tests/server/test_dispatch_rules.py) and read in one place.

Classes, in the order they are called:
1. priority tickets (a priority category), first come first served;
2. booked tickets (channel `appointment`) from their slot start, earliest slot first;
3. everyone else (walk-ins, online numbers that checked in, booked tickets before their
   slot starts), by time of issue.
Two caps keep the lower classes moving: once a counter made `priority_cap` priority calls
in a row, a waiting non-priority ticket goes first once; once it made `booked_cap`
booked calls in a row, a waiting walk-in goes first once.

Who may be called at all: a waiting ticket; an online number only once its citizen has
checked in (until then it is held, docs/booking.md). Booked tickets are issued at their
check-in, so a booked ticket is never called before it.
A second visit's ticket ("bổ sung", docs/second-visit.md) names the counter that guided
the citizen (`preferred_counter`): while that counter is not closed, only it calls the
ticket; once it is closed, any counter of the service may (`reserved_elsewhere`).
Pure: no SQLite, no clock (the time is passed in).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

PRIORITY, BOOKED, NORMAL = 0, 1, 2


def callable_now(ticket: Mapping[str, Any]) -> bool:
    """May the dispatcher call this waiting ticket at all?"""
    if ticket.get("status", "waiting") != "waiting" or ticket.get("number") is None or ticket.get("issued_at") is None:
        return False
    return not (ticket.get("channel") == "online" and ticket.get("checked_in_at") is None)


def reserved_elsewhere(ticket: Mapping[str, Any], counter: str | None, unclosed: Collection[str]) -> bool:
    """Is this ticket kept for another counter? A ticket preferred by a counter that is
    open or paused (in `unclosed`) is called by that counter only."""
    preferred = ticket.get("preferred_counter")
    return preferred is not None and preferred != counter and preferred in unclosed


def ticket_class(ticket: Mapping[str, Any], now_at: float) -> int:
    if ticket.get("priority") is not None:
        return PRIORITY
    start = ticket.get("appointment_start_at")
    if ticket.get("channel") == "appointment" and start is not None and start <= now_at:
        return BOOKED
    return NORMAL


def _order(ticket: Mapping[str, Any], klass: int) -> tuple[Any, ...]:
    first = ticket["appointment_start_at"] if klass == BOOKED else ticket["issued_at"]
    return (first, ticket["issued_at"], ticket["ticket_id"])


def choose(
    waiting: Iterable[Mapping[str, Any]],
    now_at: float,
    priority_cap: int | None = None,
    priority_streak: int = 0,
    booked_cap: int | None = None,
    booked_streak: int = 0,
    counter: str | None = None,
    unclosed: Collection[str] = (),
) -> Mapping[str, Any] | None:
    """The ticket to call next among `waiting` (tickets of the counter's services), or None.
    `counter` is the calling counter, `unclosed` the site's counters not closed (for
    second-visit tickets, `reserved_elsewhere`)."""
    heads: dict[int, Mapping[str, Any]] = {}
    for ticket in waiting:
        if not callable_now(ticket) or reserved_elsewhere(ticket, counter, unclosed):
            continue
        klass = ticket_class(ticket, now_at)
        best = heads.get(klass)
        if best is None or _order(ticket, klass) < _order(best, klass):
            heads[klass] = ticket
    order = [PRIORITY, BOOKED, NORMAL]
    if booked_cap is not None and booked_streak >= booked_cap and NORMAL in heads:
        order = [PRIORITY, NORMAL, BOOKED]
    if priority_cap is not None and priority_streak >= priority_cap and (BOOKED in heads or NORMAL in heads):
        order = [k for k in order if k != PRIORITY] + [PRIORITY]
    for klass in order:
        if klass in heads:
            return heads[klass]
    return None


def streaks_after(ticket: Mapping[str, Any], now_at: float, priority_streak: int, booked_streak: int) -> tuple[int, int]:
    """The counter's (priority, booked) streaks after calling `ticket`: a priority call
    leaves the booked streak as it was; a walk-in call resets both."""
    klass = ticket_class(ticket, now_at)
    if klass == PRIORITY:
        return priority_streak + 1, booked_streak
    if klass == BOOKED:
        return 0, booked_streak + 1
    return 0, 0
