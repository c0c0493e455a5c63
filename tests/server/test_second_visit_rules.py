"""The second visit's counter preference (server/desk/rules.py `reserved_elsewhere`,
docs/second-visit.md), checked with hypothesis: on the pure rule for any mix of
walk-ins, priority and "bổ sung" tickets preferred by either counter, with either counter
open, paused or closed; and on the real Dispatcher over a real SQLite file, whose SQL
pre-filter must call exactly what the pure rule calls."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.events import make_event
from protocol.sites import Site
from server.desk.dispatch import Dispatcher
from server.desk.errors import DeskRefused
from server.desk.rules import choose, reserved_elsewhere, streaks_after
from server.storage.events import EventStore
from tests.support import SITE_ID, office_clock, site_dict

NOW = office_clock()()  # 10:00 in Hanoi on the project clock's date; fixed for the dispatcher
SERVICE = "tu-phap-ho-tich"
COUNTERS = ("quay-1", "quay-2")
STATES = st.sampled_from(["open", "paused", "closed"])
# One ticket: (kind, preferred counter or None, minutes before NOW it was issued)
TICKET = st.tuples(st.sampled_from(["walk-in", "priority", "return"]), st.sampled_from([None, *COUNTERS]),
                   st.integers(0, 120))
MIX = st.lists(TICKET, min_size=1, max_size=12)


def _facts(mix: list[tuple[str, str | None, int]]) -> dict[str, dict]:
    facts = {}
    for index, (kind, preferred, minutes_ago) in enumerate(mix):
        ticket_id = str(uuid.uuid4())
        facts[ticket_id] = {
            "ticket_id": ticket_id, "number": f"A{index + 1:03d}", "service": SERVICE, "status": "waiting",
            "priority": "elderly" if kind == "priority" else None,
            "issued_at": (NOW - timedelta(minutes=minutes_ago, seconds=index)).timestamp(),
            "channel": "return" if kind == "return" else None,
            "preferred_counter": preferred if kind == "return" else None,
            "appointment_start_at": None, "checked_in_at": None,
        }
    return facts


def _drain(facts: dict[str, dict], counter: str, unclosed: set[str], cap: int | None) -> list[str]:
    """The pure rule's calls at `counter` until it has nothing it may call."""
    waiting, called, streak = dict(facts), [], 0
    while (ticket := choose(waiting.values(), NOW.timestamp(), cap, streak, counter=counter, unclosed=unclosed)):
        called.append(ticket["ticket_id"])
        streak, _booked = streaks_after(ticket, NOW.timestamp(), streak, 0)
        del waiting[ticket["ticket_id"]]
    return called


@given(MIX, STATES, STATES, st.sampled_from(COUNTERS), st.one_of(st.none(), st.integers(1, 3)))
@settings(max_examples=400, deadline=None)
def test_a_ticket_kept_for_an_unclosed_counter_is_called_there_only(mix, state_1, state_2, counter, cap):
    facts = _facts(mix)
    unclosed = {c for c, s in zip(COUNTERS, (state_1, state_2)) if s != "closed"}
    called = _drain(facts, counter, unclosed, cap)
    for ticket_id in called:
        assert not reserved_elsewhere(facts[ticket_id], counter, unclosed)
    # What is left is exactly what another unclosed counter keeps for itself.
    left = set(facts) - set(called)
    assert left == {t for t, f in facts.items() if f["preferred_counter"] not in (None, counter)
                    and f["preferred_counter"] in unclosed}
    # The preference is a filter only: the order among the rest is the rule's.
    others = {t: f for t, f in facts.items() if t not in left}
    assert called == _drain({t: {**f, "preferred_counter": None} for t, f in others.items()}, counter, set(), cap)


@given(MIX, STATES, st.one_of(st.none(), st.integers(1, 3)))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_dispatcher_calls_what_the_rule_calls(tmp_path, mix, other_state, cap):
    data = site_dict()
    data["max_consecutive_priority"] = cap
    data["counters"] = [{"id": c, "number": n, "name": f"Quầy {n}", "services": [SERVICE]}
                        for n, c in enumerate(COUNTERS, 1)]
    site = Site.model_validate(data)
    store = EventStore(tmp_path / f"{uuid.uuid4().hex}.db", [site])
    dispatcher = Dispatcher(store, [site], [SITE_ID], "server-desk", lambda *a: None, clock=lambda: NOW).launch()
    try:
        facts = _facts(mix)
        events = []
        for seq, fact in enumerate(facts.values(), 1):
            payload = {k: fact[k] for k in ("ticket_id", "number", "service", "priority")}
            if fact["channel"]:
                payload.update(channel="return", dossier_code=f"HS-{seq}")
                if fact["preferred_counter"]:
                    payload["preferred_counter"] = fact["preferred_counter"]
            events.append(make_event("ticket.issued", site=SITE_ID, source="kiosk-1", seq=seq, data=payload,
                                     ts=NOW - timedelta(seconds=NOW.timestamp() - fact["issued_at"])))
        store.append_local(events)
        if other_state != "closed":
            dispatcher.submit("open", SITE_ID, "quay-2", "test").result()
            if other_state == "paused":
                dispatcher.submit("pause", SITE_ID, "quay-2", "test", reason="Đi họp").result()
        called = []
        while True:
            try:
                row = dispatcher.call_next(SITE_ID, "quay-1", "test")
            except DeskRefused as exc:
                assert exc.code == "no_ticket_waiting"
                break
            called.append(row["ticket_id"])
            dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
        unclosed = {"quay-1"} | ({"quay-2"} if other_state != "closed" else set())
        assert called == _drain(facts, "quay-1", unclosed, cap)
    finally:
        dispatcher.stop()
        store.close()


def test_a_transferred_return_ticket_is_free_for_its_new_service(tmp_path):
    data = site_dict()  # quay-1 and quay-2 serve the civil-status field, quay-3 land only
    site = Site.model_validate(data)
    store = EventStore(tmp_path / "server.db", [site])
    ticks = itertools.count(1)  # each action a second later: a call and a transfer never share a timestamp
    dispatcher = Dispatcher(store, [site], [SITE_ID], "server-desk", lambda *a: None,
                            clock=lambda: NOW + timedelta(seconds=next(ticks))).launch()
    try:
        ticket_id = str(uuid.uuid4())
        store.append_local([make_event("ticket.issued", site=SITE_ID, source="server-1", seq=1, ts=NOW, data={
            "ticket_id": ticket_id, "number": "BS001", "service": SERVICE, "priority": None, "channel": "return",
            "preferred_counter": "quay-1", "dossier_code": "HS-1"})])
        for counter in ("quay-1", "quay-2"):
            dispatcher.submit("open", SITE_ID, counter, "test").result()
        with pytest.raises(DeskRefused) as refused:
            dispatcher.call_next(SITE_ID, "quay-2", "test")
        assert refused.value.code == "no_ticket_waiting"  # kept for quay-1, which is open
        assert dispatcher.call_next(SITE_ID, "quay-1", "test")["ticket_id"] == ticket_id
        dispatcher.submit("transfer", SITE_ID, "quay-1", "test", to_service="dat-dai").result()
        # quay-1 stays open, yet quay-3 (land) may call the ticket now in its queue.
        assert dispatcher.call_next(SITE_ID, "quay-3", "test")["ticket_id"] == ticket_id
    finally:
        dispatcher.stop()
        store.close()
