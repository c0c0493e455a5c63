"""Dispatcher properties for any mix of walk-ins, priority tickets, online numbers (checked
in or not) and booked tickets (before or after their slot start), checked with hypothesis
on the real Dispatcher over a real SQLite file (the pure rule, server/desk/rules.py, is
checked alone too):
- no ticket is called twice;
- an online number is never called before its check-in; a booked ticket is never called
  before check-in (it has no ticket before);
- a priority ticket goes first unless the priority cap says a non-priority goes first once;
- never more booked calls in a row than the booked cap while a walk-in waits, nor more
  priority calls in a row than the priority cap while a non-priority ticket waits;
- within a class, first come first served (booked: earliest slot first).
And the grace rule of an online number whose turn came before its check-in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.events import make_event
from protocol.sites import Site
from server.desk.dispatch import Dispatcher
from server.desk.errors import DeskRefused
from server.desk.rules import BOOKED, NORMAL, PRIORITY, callable_now, choose, streaks_after, ticket_class
from server.storage.events import EventStore
from tests.support import SITE_ID, site_dict

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi; the dispatcher's clock is fixed
SERVICE = "tu-phap-ho-tich"

# One ticket of the mix: (kind, minutes before NOW it was issued, slot offset in minutes, checked in)
KINDS = st.sampled_from(["walk-in", "priority", "online", "appointment"])
TICKET = st.tuples(KINDS, st.integers(0, 120), st.integers(-60, 60), st.booleans())
MIX = st.lists(TICKET, min_size=1, max_size=14)
CAPS = st.one_of(st.none(), st.integers(1, 3))


def _site(priority_cap: int | None, booked_cap: int | None) -> Site:
    data = site_dict()
    data["max_consecutive_priority"] = priority_cap
    data["booking"] = {"enabled": True, "online_numbers": True, "max_consecutive": booked_cap, "grace_minutes": 10}
    # One counter serving the one service: the caps are per counter.
    data["counters"] = [{"id": "quay-1", "number": 1, "name": "Quầy 1", "services": [SERVICE]}]
    return Site.model_validate(data)


def _events(mix: list[tuple[str, int, int, bool]]) -> tuple[list, dict[str, dict]]:
    events, facts, seq = [], {}, 0
    for index, (kind, minutes_ago, slot_offset, checked_in) in enumerate(mix):
        ticket_id = str(uuid.uuid4())
        issued_at = NOW - timedelta(minutes=minutes_ago, seconds=index)
        data = {"ticket_id": ticket_id, "number": f"A{index + 1:03d}", "service": SERVICE,
                "priority": "elderly" if kind == "priority" else None}
        if kind in ("online", "appointment"):
            data["channel"] = kind
        if kind == "appointment":
            data["appointment_start"] = (NOW + timedelta(minutes=slot_offset)).isoformat()
        seq += 1
        events.append(make_event("ticket.issued", site=SITE_ID, source="server", seq=seq, ts=issued_at, data=data))
        if kind == "online" and checked_in:
            seq += 1
            events.append(make_event("ticket.checked_in", site=SITE_ID, source="server", seq=seq,
                                     ts=issued_at + timedelta(seconds=30), data={"ticket_id": ticket_id}))
        facts[ticket_id] = {
            "ticket_id": ticket_id, "kind": kind, "issued_at": issued_at.timestamp(), "number": data["number"],
            "priority": data["priority"], "channel": data.get("channel"),
            "appointment_start_at": (NOW + timedelta(minutes=slot_offset)).timestamp() if kind == "appointment" else None,
            "checked_in_at": (issued_at.timestamp() + 30) if kind == "online" and checked_in else None,
            "status": "waiting",
        }
    return events, facts


def _check_sequence(called: list[dict], facts: dict[str, dict], priority_cap: int | None, booked_cap: int | None) -> None:
    now_at = NOW.timestamp()
    ids = [t["ticket_id"] for t in called]
    assert len(ids) == len(set(ids)), "a ticket was called twice"
    callable_ids = {i for i, t in facts.items() if callable_now(t)}
    assert set(ids) == callable_ids, "every callable ticket is called once, no other"
    waiting = dict(facts)
    p_streak = b_streak = 0
    for ticket in called:
        options = [t for t in waiting.values() if callable_now(t)]
        classes = {ticket_class(t, now_at) for t in options}
        klass = ticket_class(ticket, now_at)
        if PRIORITY in classes and klass != PRIORITY:
            assert priority_cap is not None and p_streak >= priority_cap, "a priority ticket waited without the cap"
        if klass == PRIORITY and classes - {PRIORITY}:
            assert priority_cap is None or p_streak < priority_cap, "priority cap exceeded"
        if klass == BOOKED and NORMAL in classes:
            assert booked_cap is None or b_streak < booked_cap, "booked cap exceeded while a walk-in waited"
        same = [t for t in options if ticket_class(t, now_at) == klass]
        key = (lambda t: (t["appointment_start_at"], t["issued_at"])) if klass == BOOKED else (lambda t: (t["issued_at"],))
        assert key(ticket) == min(key(t) for t in same), "not first come first served within the class"
        p_streak, b_streak = streaks_after(ticket, now_at, p_streak, b_streak)
        del waiting[ticket["ticket_id"]]


@given(MIX, CAPS, CAPS)
@settings(max_examples=300, deadline=None)
def test_the_pure_rule_holds_for_any_mix(mix, priority_cap, booked_cap):
    _events_unused, facts = _events(mix)
    waiting, called = dict(facts), []
    p_streak = b_streak = 0
    while (ticket := choose(waiting.values(), NOW.timestamp(), priority_cap, p_streak, booked_cap, b_streak)) is not None:
        called.append(dict(ticket))
        p_streak, b_streak = streaks_after(ticket, NOW.timestamp(), p_streak, b_streak)
        del waiting[ticket["ticket_id"]]
    _check_sequence(called, facts, priority_cap, booked_cap)


@given(MIX, CAPS, CAPS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_dispatcher_holds_the_rules_for_any_mix(tmp_path, mix, priority_cap, booked_cap):
    site = _site(priority_cap, booked_cap)
    store = EventStore(tmp_path / f"{uuid.uuid4().hex}.db", [site])
    published: list[tuple[str, bytes]] = []
    dispatcher = Dispatcher(store, [site], [SITE_ID], "server-desk", lambda t, p, r=False: published.append((t, p)),
                            clock=lambda: NOW).launch()
    try:
        events, facts = _events(mix)
        store.append_local(events)
        called = []
        while True:
            try:
                row = dispatcher.call_next(SITE_ID, "quay-1", "test")
            except DeskRefused as exc:
                assert exc.code == "no_ticket_waiting"
                break
            called.append(facts[row["ticket_id"]])
            dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
        _check_sequence(called, facts, priority_cap, booked_cap)
        conn = store.reader()
        try:
            calls = conn.execute("SELECT ticket_id FROM events WHERE type = 'ticket.called'").fetchall()
        finally:
            conn.close()
        assert len(calls) == len({c[0] for c in calls}) == len(called)
    finally:
        dispatcher.stop()
        store.close()


def test_an_online_number_whose_turn_came_is_held_for_the_grace_period_then_a_no_show(tmp_path):
    site = _site(None, None)
    store = EventStore(tmp_path / "server.db", [site])
    now = [NOW]
    dispatcher = Dispatcher(store, [site], [SITE_ID], "server-desk", lambda *a: None, clock=lambda: now[0]).launch()
    try:
        events, facts = _events([("online", 30, 0, False), ("walk-in", 20, 0, False), ("walk-in", 10, 0, False),
                                 ("walk-in", 5, 0, False)])
        store.append_local(events)
        online = next(i for i, f in facts.items() if f["kind"] == "online")
        # The first call passes the online number (not checked in): it is held from now.
        dispatcher.call_next(SITE_ID, "quay-1", "test")
        dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
        conn = store.reader()
        assert conn.execute("SELECT held_at FROM ticket_holds WHERE ticket_id = ?", (online,)).fetchone()[0] == NOW.timestamp()
        # Within the grace period it is still waiting.
        now[0] = NOW + timedelta(minutes=9)
        dispatcher.call_next(SITE_ID, "quay-1", "test")
        dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
        assert conn.execute("SELECT status FROM tickets WHERE ticket_id = ?", (online,)).fetchone()[0] == "waiting"
        # Past it, the next call marks it a no-show (automatic), in the same transaction.
        now[0] = NOW + timedelta(minutes=10)
        dispatcher.call_next(SITE_ID, "quay-1", "test")
        row = conn.execute("SELECT status, called_count FROM tickets WHERE ticket_id = ?", (online,)).fetchone()
        assert tuple(row) == ("no_show", 0)
        conn.close()
    finally:
        dispatcher.stop()
        store.close()
