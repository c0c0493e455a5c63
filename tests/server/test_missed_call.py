"""The missed-call rule (docs/desk.md "A missed call") on the real Dispatcher over a real
SQLite file: a called ticket not started within S seconds goes back behind exactly K
others of its field and class, at most M times, then it is a no-show; off by default
(today's behaviour). The measures of a requeued ticket (docs/measures.md). Hypothesis
properties with the rule on: no ticket is ever in progress at two counters, none is lost,
none is requeued more than M times, and with one counter a requeued ticket is called after
exactly min(K, same-class tickets waiting) others. The dispatcher's clock is injected and
starts at the project clock's time (no pinned date)."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import clock as project_clock
from protocol.events import make_event
from protocol.sites import Site
from server.desk.dispatch import Dispatcher
from server.desk.errors import DeskRefused
from server.desk.rules import NO_SHOW, REQUEUE, TOO_EARLY, missed_call, requeue_place
from server.storage.events import EventStore
from tests.support import SITE_ID, site_dict

SERVICE = "tu-phap-ho-tich"
START = project_clock.now().replace(microsecond=0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _site(max_requeues: int = 0, after_s: int = 60, behind: int = 2, counters: int = 1) -> Site:
    data = site_dict()
    if max_requeues:
        data["missed_call"] = {"max_requeues": max_requeues, "after_s": after_s, "behind": behind}
    data["counters"] = [{"id": f"quay-{n}", "number": n, "name": f"Quầy {n}", "services": [SERVICE]}
                        for n in range(1, counters + 1)]
    return Site.model_validate(data)


class Desk:
    """A dispatcher over a fresh SQLite file, a moving clock, and helpers to read rows."""

    def __init__(self, path: Path, site: Site):
        self.clock = Clock()
        self.store = EventStore(path, [site])
        self.dispatcher = Dispatcher(self.store, [site], [SITE_ID], "server-desk", lambda *a: None,
                                     clock=self.clock).launch()
        self.seq = itertools.count(1)
        self.numbers = itertools.count(1)

    def issue(self, count: int = 1, priority: str | None = None) -> list[str]:
        ids = []
        for _ in range(count):
            ticket_id = str(uuid.uuid4())
            self.clock.advance(1)  # one ticket a second: distinct times of issue
            self.store.append_local([make_event(
                "ticket.issued", site=SITE_ID, source="kiosk-1", seq=next(self.seq), ts=self.clock(),
                data={"ticket_id": ticket_id, "number": f"A{next(self.numbers):03d}", "service": SERVICE,
                      "priority": priority})])
            ids.append(ticket_id)
        return ids

    def row(self, ticket_id: str) -> dict:
        conn = self.store.reader()
        try:
            cursor = conn.execute("SELECT * FROM tickets WHERE ticket_id = ?", (ticket_id,))
            names = [d[0] for d in cursor.description]
            return dict(zip(names, cursor.fetchone()))
        finally:
            conn.close()

    def event_types(self, ticket_id: str) -> list[str]:
        conn = self.store.reader()
        try:
            return [r[0] for r in conn.execute(
                "SELECT type FROM events WHERE ticket_id = ? ORDER BY rowid", (ticket_id,))]
        finally:
            conn.close()

    def close(self) -> None:
        self.dispatcher.stop()
        self.store.close()


@pytest.fixture
def desk_for(tmp_path) -> Iterator:
    made: list[Desk] = []

    def make(site: Site) -> Desk:
        desk = Desk(tmp_path / f"{uuid.uuid4().hex}.db", site)
        made.append(desk)
        return desk

    yield make
    for desk in made:
        desk.close()


def _refused(call, code: str) -> None:
    with pytest.raises(DeskRefused) as refused:
        call()
    assert refused.value.code == code


def test_default_is_todays_behaviour_a_missed_call_is_a_no_show_at_once(desk_for):
    desk = desk_for(_site())
    first, second = desk.issue(2)
    d = desk.dispatcher
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == first
    desk.clock.advance(3600)
    # Call-next over a called ticket stays refused, however long ago it was called.
    _refused(lambda: d.call_next(SITE_ID, "quay-1", "t"), "counter_busy")
    # "Did not come" at once is a no-show, as always; nothing is requeued.
    assert d.no_show(SITE_ID, "quay-1", "t")["status"] == "no_show"
    assert desk.event_types(first) == ["ticket.issued", "ticket.called", "ticket.no_show"]
    assert desk.row(first)["requeued_count"] == 0 and desk.row(first)["queue_at"] is None
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == second


def test_requeued_behind_exactly_k_others_at_most_m_times_then_no_show(desk_for):
    desk = desk_for(_site(max_requeues=2, after_s=60, behind=2))
    tickets = desk.issue(6)
    d = desk.dispatcher
    missed = tickets[0]
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == missed
    # Within S seconds of the call the citizen still has time: refused, nothing stored.
    desk.clock.advance(59)
    _refused(lambda: d.no_show(SITE_ID, "quay-1", "t"), "call_too_recent")
    _refused(lambda: d.call_next(SITE_ID, "quay-1", "t"), "counter_busy")
    # A recall restarts the S seconds.
    d.recall(SITE_ID, "quay-1", "t")
    desk.clock.advance(59)
    _refused(lambda: d.no_show(SITE_ID, "quay-1", "t"), "call_too_recent")
    desk.clock.advance(1)
    row = d.no_show(SITE_ID, "quay-1", "t")
    assert (row["status"], row["requeued_count"], row["counter"]) == ("waiting", 1, None)
    order = []
    for _ in range(3):
        order.append(d.call_next(SITE_ID, "quay-1", "t")["ticket_id"])
        d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert order == [tickets[1], tickets[2], missed]  # behind exactly K = 2 others
    # Another ticket missed three times: requeued twice (M = 2), then a no-show.
    second = tickets[3]
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == second
    desk.clock.advance(60)
    assert d.no_show(SITE_ID, "quay-1", "t")["requeued_count"] == 1
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == tickets[4]
    d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == tickets[5]
    d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == second
    desk.clock.advance(60)
    assert d.no_show(SITE_ID, "quay-1", "t")["requeued_count"] == 2
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == second
    desk.clock.advance(60)
    # M = 2 requeues spent: now it is a no-show.
    row = d.no_show(SITE_ID, "quay-1", "t")
    assert (row["status"], row["requeued_count"]) == ("no_show", 2)
    assert desk.event_types(second) == [
        "ticket.issued", "ticket.called", "ticket.requeued", "ticket.called", "ticket.requeued", "ticket.called",
        "ticket.no_show"]
    _refused(lambda: d.call_next(SITE_ID, "quay-1", "t"), "no_ticket_waiting")


def test_call_next_over_a_missed_call_requeues_it_and_calls_the_next_in_one_action(desk_for):
    desk = desk_for(_site(max_requeues=1, after_s=60, behind=1))
    first, second, third = desk.issue(3)
    d = desk.dispatcher
    d.call_next(SITE_ID, "quay-1", "t")
    desk.clock.advance(30)
    _refused(lambda: d.call_next(SITE_ID, "quay-1", "t"), "counter_busy")  # still the citizen's time
    desk.clock.advance(30)
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == second
    assert (desk.row(first)["status"], desk.row(first)["requeued_count"]) == ("waiting", 1)
    desk.clock.advance(60)
    # Behind K = 1: the missed ticket comes before the third; the second, missed too, goes behind one.
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == first
    assert desk.row(second)["status"] == "waiting"
    desk.clock.advance(60)
    # First's requeue is spent: call-next marks it a no-show and calls the next, the second
    # (it was placed behind the first, before the third).
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == second
    assert desk.row(first)["status"] == "no_show"
    d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == third
    desk.clock.advance(60)
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == third  # requeued alone: called again
    desk.clock.advance(60)
    # Its requeue spent and nobody else waiting: call-next is refused as a whole and the
    # ticket stays called (the desk presses "did not come" to close it).
    _refused(lambda: d.call_next(SITE_ID, "quay-1", "t"), "no_ticket_waiting")
    assert desk.row(third)["status"] == "called"
    assert d.no_show(SITE_ID, "quay-1", "t")["status"] == "no_show"


def test_a_lone_requeued_ticket_is_called_again_by_the_same_press(desk_for):
    desk = desk_for(_site(max_requeues=2, after_s=60, behind=3))
    (alone,) = desk.issue(1)
    d = desk.dispatcher
    d.call_next(SITE_ID, "quay-1", "t")
    desk.clock.advance(60)
    row = d.call_next(SITE_ID, "quay-1", "t")
    assert (row["ticket_id"], row["status"], row["requeued_count"], row["called_count"]) == (alone, "called", 1, 2)
    assert desk.event_types(alone) == ["ticket.issued", "ticket.called", "ticket.requeued", "ticket.called"]


def test_a_started_ticket_is_never_requeued(desk_for):
    desk = desk_for(_site(max_requeues=2, after_s=60, behind=1))
    first, _second = desk.issue(2)
    d = desk.dispatcher
    d.call_next(SITE_ID, "quay-1", "t")
    d.start(SITE_ID, "quay-1", "t")
    desk.clock.advance(600)
    _refused(lambda: d.call_next(SITE_ID, "quay-1", "t"), "counter_busy")
    assert d.no_show(SITE_ID, "quay-1", "t")["status"] == "no_show"  # the person's call, as before
    assert "ticket.requeued" not in desk.event_types(first)


def test_a_requeued_ticket_goes_to_the_end_when_few_wait_and_stays_before_later_tickets(desk_for):
    desk = desk_for(_site(max_requeues=1, after_s=60, behind=5))
    first, second = desk.issue(2)
    d = desk.dispatcher
    d.call_next(SITE_ID, "quay-1", "t")
    desk.clock.advance(60)
    d.no_show(SITE_ID, "quay-1", "t")
    (later,) = desk.issue(1)  # issued after the requeue: behind it
    order = []
    for _ in range(3):
        order.append(d.call_next(SITE_ID, "quay-1", "t")["ticket_id"])
        d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert order == [second, first, later]


def test_priority_class_a_requeued_priority_ticket_goes_behind_k_priority_tickets_only(desk_for):
    desk = desk_for(_site(max_requeues=1, after_s=60, behind=1))
    normal = desk.issue(1)[0]
    p1, p2, p3 = desk.issue(3, priority="elderly")
    d = desk.dispatcher
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == p1
    desk.clock.advance(60)
    d.no_show(SITE_ID, "quay-1", "t")
    order = []
    for _ in range(4):
        order.append(d.call_next(SITE_ID, "quay-1", "t")["ticket_id"])
        d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert order == [p2, p1, p3, normal]  # still priority, behind one priority ticket


def test_measures_of_a_requeued_ticket_clock_from_issue_service_from_the_last_round(desk_for):
    desk = desk_for(_site(max_requeues=1, after_s=60, behind=1))
    missed, other = desk.issue(2)
    issued_at = desk.row(missed)["issued_at"]
    d = desk.dispatcher
    desk.clock.advance(100)
    d.call_next(SITE_ID, "quay-1", "t")  # first call: 101 s after issue (the second ticket came 1 s later)
    first_call = desk.row(missed)["first_called_at"]
    desk.clock.advance(60)
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == other
    desk.clock.advance(200)
    d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert d.call_next(SITE_ID, "quay-1", "t")["ticket_id"] == missed
    second_call = desk.clock().timestamp()
    desk.clock.advance(300)
    d.complete(SITE_ID, "quay-1", "returned", actor="t")
    row = desk.row(missed)
    assert row["wait_s"] == pytest.approx(first_call - issued_at)  # the first call: the office called then
    assert row["total_s"] == pytest.approx(desk.clock().timestamp() - issued_at)  # the clock ran on from issue
    assert row["service_s"] == pytest.approx(300) and row["first_called_at"] < second_call  # not since the first call
    assert (row["called_count"], row["requeued_count"]) == (2, 1)


def test_two_counters_pressing_next_over_missed_calls_together_never_share_a_ticket(desk_for):
    desk = desk_for(_site(max_requeues=2, after_s=1, behind=1, counters=2))
    tickets = desk.issue(30)
    d = desk.dispatcher
    barrier = threading.Barrier(2)
    calls: dict[str, list[str]] = {"quay-1": [], "quay-2": []}
    errors: list[BaseException] = []

    def press(counter: str) -> None:
        try:
            for _ in range(12):
                barrier.wait(timeout=10)
                try:
                    calls[counter].append(d.call_next(SITE_ID, counter, "t")["ticket_id"])
                except DeskRefused as exc:
                    assert exc.code in ("no_ticket_waiting", "counter_busy")
                barrier.wait(timeout=10)
                if counter == "quay-1":
                    desk.clock.advance(1)  # every call is missed: the next press requeues it
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=press, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    conn = desk.store.reader()
    try:
        in_progress = conn.execute(
            "SELECT counter, COUNT(*) FROM tickets WHERE status IN ('called', 'serving') GROUP BY counter").fetchall()
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM tickets GROUP BY status").fetchall())
        most = conn.execute("SELECT MAX(requeued_count) FROM tickets").fetchone()[0]
    finally:
        conn.close()
    assert all(n == 1 for _counter, n in in_progress)
    assert sum(statuses.values()) == len(tickets)
    assert most <= 2 and len(calls["quay-1"]) + len(calls["quay-2"]) == 24


# -- properties ------------------------------------------------------------------------
ACTION = st.tuples(st.sampled_from(["next", "missed", "start", "complete", "wait"]), st.integers(1, 2))
RULE = st.tuples(st.integers(1, 3), st.integers(1, 4))  # (M, K)
MIX = st.lists(st.booleans(), min_size=1, max_size=10)  # priority or not, in order of issue


def _in_progress(desk: Desk) -> dict[str, list[str]]:
    conn = desk.store.reader()
    try:
        rows = conn.execute("SELECT ticket_id, counter FROM tickets WHERE status IN ('called', 'serving')").fetchall()
    finally:
        conn.close()
    where: dict[str, list[str]] = {}
    for ticket_id, counter in rows:
        where.setdefault(counter, []).append(ticket_id)
    return where


def _drain(desk: Desk, counter: str) -> None:
    """Serve everything left: complete whatever is in progress, call until nobody waits."""
    d = desk.dispatcher
    for _ in range(200):
        try:
            d.complete(SITE_ID, counter, "returned", actor="t")
        except DeskRefused as exc:
            assert exc.code == "no_current_ticket"
        try:
            d.call_next(SITE_ID, counter, "t")
        except DeskRefused as exc:
            assert exc.code == "no_ticket_waiting"
            return
    raise AssertionError("the queue never emptied")


@given(MIX, RULE, st.lists(ACTION, max_size=40))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_with_the_rule_on_no_ticket_is_at_two_counters_and_none_is_lost(desk_for, mix, rule, actions):
    max_requeues, behind = rule
    desk = desk_for(_site(max_requeues=max_requeues, after_s=30, behind=behind, counters=2))
    tickets = [desk.issue(1, "elderly" if p else None)[0] for p in mix]
    d = desk.dispatcher
    for action, n in actions:
        counter = f"quay-{n}"
        try:
            if action == "next":
                d.call_next(SITE_ID, counter, "t")
            elif action == "missed":
                d.no_show(SITE_ID, counter, "t")
            elif action == "start":
                d.start(SITE_ID, counter, "t")
            elif action == "complete":
                d.complete(SITE_ID, counter, "returned", actor="t")
            else:
                desk.clock.advance(15 * n)
        except DeskRefused as exc:
            assert exc.code in ("no_ticket_waiting", "counter_busy", "no_current_ticket", "wrong_ticket_state",
                                "call_too_recent")
        where = _in_progress(desk)
        held = [t for ids in where.values() for t in ids]
        assert all(len(ids) == 1 for ids in where.values()), "a counter holds two tickets"
        assert len(held) == len(set(held)), "a ticket is in progress at two counters"
    for counter in ("quay-1", "quay-2"):
        _drain(desk, counter)
    rows = [desk.row(t) for t in tickets]
    assert {r["status"] for r in rows} <= {"completed", "no_show"}, "a ticket was lost on the way"
    assert all(r["requeued_count"] <= max_requeues for r in rows)
    for r in rows:  # every requeue follows a call of that ticket, and every call after one follows a requeue
        kinds = [k for k in desk.event_types(r["ticket_id"]) if k in ("ticket.called", "ticket.requeued")]
        assert all(a != b for a, b in zip(kinds, kinds[1:])) and kinds[:1] == ["ticket.called"]


@given(MIX, RULE, st.lists(st.sampled_from(["serve", "miss"]), min_size=1, max_size=30))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_one_counter_a_requeued_ticket_is_called_after_exactly_k_others_of_its_class(desk_for, mix, rule, plan):
    max_requeues, behind = rule
    desk = desk_for(_site(max_requeues=max_requeues, after_s=30, behind=behind))
    tickets = [desk.issue(1, "elderly" if p else None)[0] for p in mix]
    priority = {t for t, p in zip(tickets, mix) if p}
    d = desk.dispatcher
    waiting = set(tickets)
    pending: dict[str, tuple[int, int]] = {}  # requeued ticket -> (calls of its class so far, how many it owes)
    calls_of = {True: 0, False: 0}
    # The plan, then serving until nobody waits, so every requeued ticket is called again.
    for step in itertools.chain(plan, itertools.repeat("serve", 4 * len(tickets) + 1)):
        try:
            ticket = d.call_next(SITE_ID, "quay-1", "t")["ticket_id"]
        except DeskRefused as exc:
            assert exc.code == "no_ticket_waiting"
            break
        klass = ticket in priority
        waiting.discard(ticket)
        if ticket in pending:
            seen, owed = pending.pop(ticket)
            assert calls_of[klass] - seen == owed, "not behind exactly K others"
        calls_of[klass] += 1
        desk.clock.advance(30)
        if step == "miss":
            row = d.no_show(SITE_ID, "quay-1", "t")
            if row["status"] == "waiting":
                same = [t for t in waiting if (t in priority) == klass]
                pending[ticket] = (calls_of[klass], min(behind, len(same)))
                waiting.add(ticket)
            else:
                assert row["requeued_count"] == max_requeues
        else:
            d.complete(SITE_ID, "quay-1", "returned", actor="t")
    assert not pending and not waiting, "a requeued ticket was never called again"


# -- the pure rule ------------------------------------------------------------------------
def test_the_pure_rule_says_what_a_missed_call_does():
    assert missed_call("called", 100.0, 0, 150.0, 0, 60) == NO_SHOW  # off
    assert missed_call("called", 100.0, 0, 159.9, 2, 60) == TOO_EARLY
    assert missed_call("called", 100.0, 1, 160.0, 2, 60) == REQUEUE
    assert missed_call("called", 100.0, 2, 160.0, 2, 60) == NO_SHOW
    assert missed_call("serving", 100.0, 0, 999.0, 2, 60) == NO_SHOW


@given(st.lists(st.integers(0, 10_000), min_size=0, max_size=12, unique=True), st.integers(1, 6))
def test_the_pure_place_is_behind_exactly_k_others(offsets, behind):
    base = START.timestamp()
    now_at = base + 20_000
    others = [{"ticket_id": f"t{i}", "number": f"A{i:03d}", "issued_at": base + o, "status": "waiting"}
              for i, o in enumerate(offsets)]
    me = {"ticket_id": "me", "number": "A999", "issued_at": base - 1, "status": "called"}
    place = requeue_place(me, others, now_at, behind)
    assert sum(1 for t in others if t["issued_at"] < place) == min(behind, len(others))
    assert len(others) > behind or place > now_at  # at the end: after now, before later tickets


def test_a_requeued_ticket_folds_the_same_in_any_order_through_ingest(tmp_path):
    """`ticket.requeued` from another server arrives by MQTT like any event: late,
    duplicated, out of order; the row is the same every time."""
    import random

    from server.storage.events import Incoming

    site = _site(max_requeues=1, counters=2)
    ticket_id = str(uuid.uuid4())
    seq = itertools.count(1)

    def ev(kind: str, seconds: int, **data) -> object:
        return make_event(kind, site=SITE_ID, source="server-a", seq=next(seq), ts=START + timedelta(seconds=seconds),
                          data={"ticket_id": ticket_id, **data})

    events = [
        ev("ticket.issued", 0, number="A001", service=SERVICE, priority=None),
        ev("ticket.called", 60, number="A001", counter="quay-1"),
        ev("ticket.requeued", 180, counter="quay-1", queue_at=(START + timedelta(seconds=30)).isoformat()),
        ev("ticket.called", 400, number="A001", counter="quay-2"),
        ev("ticket.completed", 700, counter="quay-2", outcome="returned"),
    ]
    rows = []
    for attempt in range(6):
        noisy = events + random.Random(attempt).sample(events, 2)
        random.Random(100 + attempt).shuffle(noisy)
        store = EventStore(tmp_path / f"{attempt}.db", [site])
        try:
            for event in noisy:
                store.ingest([Incoming(f"xephang/v1/{SITE_ID}/events/{event.type}", event.to_json(), 0.0)])
            conn = store.reader()
            try:
                cursor = conn.execute("SELECT * FROM tickets")
                rows.append(dict(zip([d[0] for d in cursor.description], cursor.fetchone())))
            finally:
                conn.close()
        finally:
            store.close()
    assert all(row == rows[0] for row in rows)
    row = rows[0]
    assert (row["status"], row["counter"], row["called_count"], row["requeued_count"]) == ("completed", "quay-2", 2, 1)
    assert row["queue_at"] == (START + timedelta(seconds=30)).timestamp()
    assert (row["wait_s"], row["service_s"], row["total_s"]) == (60, 300, 700)


def test_the_console_lists_a_requeued_ticket_at_its_new_place_and_marks_it(desk_for):
    from server.desk.deskview import desk_view

    desk = desk_for(_site(max_requeues=1, after_s=60, behind=2))
    tickets = desk.issue(4)
    d = desk.dispatcher
    d.call_next(SITE_ID, "quay-1", "t")
    desk.clock.advance(60)
    d.no_show(SITE_ID, "quay-1", "t")
    conn = desk.store.reader()
    try:
        listed = desk_view(conn, desk.dispatcher.sites[SITE_ID], "quay-1", desk.clock())["waiting"][SERVICE]
    finally:
        conn.close()
    assert [t["ticket_id"] for t in listed] == [tickets[1], tickets[2], tickets[0], tickets[3]]  # the call order
    assert [t["requeued_count"] for t in listed] == [0, 0, 1, 0]
