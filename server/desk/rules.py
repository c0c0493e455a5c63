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

A requeued ticket (the missed-call rule, below) keeps its class and takes the place it
was given (`queue_at`) instead of its time of issue or slot start.

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
    return (queue_position(ticket, klass), ticket["issued_at"], ticket["ticket_id"])


def queue_position(ticket: Mapping[str, Any], klass: int) -> float:
    """A ticket's place in its class's queue: the place a requeue gave it, else its slot
    start (booked class) or its time of issue."""
    placed = ticket.get("queue_at")
    if placed is not None:
        return float(placed)
    return float(ticket["appointment_start_at"] if klass == BOOKED else ticket["issued_at"])


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


# -- the missed-call rule (docs/desk.md "A missed call") ------------------------------------
# A called ticket not started within `after_s` seconds of its last call (or recall) may go
# back to its queue behind `behind` others, at most `max_requeues` times; then it is a
# no-show. `max_requeues = 0` (the default) is the old behaviour: a missed call is a no-show.
TOO_EARLY, REQUEUE, NO_SHOW = "too_early", "requeue", "no_show"


def missed_call(
    status: str, last_called_at: float | None, requeued_count: int, now_at: float, max_requeues: int, after_s: float,
) -> str:
    """What the desk's "did not come" (or a call-next over a missed call) does to the
    counter's ticket: NO_SHOW, REQUEUE, or TOO_EARLY (the citizen still has time).
    A ticket being served (started) is never requeued: the citizen came."""
    if max_requeues <= 0 or status != "called":
        return NO_SHOW
    if last_called_at is not None and now_at - last_called_at < after_s:
        return TOO_EARLY
    return REQUEUE if requeued_count < max_requeues else NO_SHOW


def requeue_place(ticket: Mapping[str, Any], waiting: Iterable[Mapping[str, Any]], now_at: float, behind: int) -> float:
    """The `queue_at` that puts `ticket` behind exactly `behind` others of its class in
    `waiting` (the other waiting tickets of its service), in call order: halfway between
    the `behind`-th and the next one, rounded to the microsecond (the event's precision).
    With `behind` or fewer others it goes to the end: after the last of them and after
    now, so a ticket issued later still comes after it. Two neighbours less than 2 µs
    apart (never from real clocks) leave it tied with the first of them."""
    if behind < 1:
        raise ValueError("a requeued ticket goes behind at least one other")
    klass = ticket_class(ticket, now_at)
    ahead = sorted(
        (t for t in waiting
         if t["ticket_id"] != ticket["ticket_id"] and callable_now(t) and ticket_class(t, now_at) == klass),
        key=lambda t: _order(t, klass),
    )
    if len(ahead) <= behind:
        last = queue_position(ahead[-1], klass) if ahead else now_at
        return round(max(now_at, last) + 0.001, 6)
    low, high = queue_position(ahead[behind - 1], klass), queue_position(ahead[behind], klass)
    middle = round((low + high) / 2, 6)
    return middle if low < middle < high else low
