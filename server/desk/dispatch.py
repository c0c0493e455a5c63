"""The dispatcher: one per server, deciding for each dispatched site who is called next.

Every action runs on one writer thread (server/storage/groupcommit.py), one after another: read the
counter and its ticket, decide, store the v1 event (the tickets projection follows) and
the audit row; then publish the event and ask for the retained state to be rebuilt. So
two counters pressing "next" together can never get the same ticket. Actions that queue
up while the writer is busy run together in one write transaction, each inside its own
savepoint (a refused action rolls back alone and leaves its audit row), with one commit
for all of them: fifty desks pressing at once cost one disk flush, not fifty, and no
request waits behind a chain of lock hand-overs between threads. Nobody is answered
before the commit that holds their action.

Who is next for a counter: among waiting tickets of the services the counter serves,
priority tickets first, then booked ones from their slot start, then the others, first
come first served (time of issue, kept across transfers) within each class; caps on
consecutive priority and booked calls let the next class go first once. The rule itself
is server/desk/rules.py. An online number whose turn comes before its citizen checked
in is held (`ticket_holds`), and after the site's grace period marked a no-show by the
next call at a counter of its service (docs/booking.md). A called ticket nobody came for
may go back to its queue (`ticket.requeued`) instead of becoming a no-show, when the
site's missed-call rule is on (docs/desk.md "A missed call"; `_missed_call` below).
Officers cannot choose; an admin (supervisor) may call one ticket by id.
No FastAPI, no paho here (publishing goes through the callable it is given).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from protocol import clock as project_clock
from protocol import topics
from protocol.errors import Refused
from protocol.events import OUTCOMES, Event, InvalidEvent, make_event
from protocol.sites import Counter, Site
from protocol.state import BoardState, QueueState
from server.desk import waits
from server.desk.boardstate import in_progress
from server.desk.errors import DeskRefused
from server.desk.rules import NORMAL, REQUEUE, TOO_EARLY, choose, missed_call, requeue_place, streaks_after, ticket_class
from server.desk.statefeed import StateFeed
from server.storage import audit, tickets
from server.storage.audit import Actor
from server.storage.events import BatchResult, EventStore, next_seq
from server.storage.groupcommit import Done, GroupCommit, Job
from server.storage.projection import apply_counter_event

if TYPE_CHECKING:
    from protocol.link import Publish  # type only: no paho at run time here

log = logging.getLogger(__name__)
TICKET_COLUMNS = tickets.QUEUE_COLUMNS
HOLD_SCAN = 50  # held online numbers looked at per service and call
ACTIONS = ("call_next", "call_ticket", "recall", "start", "complete", "no_show", "transfer", "pause", "resume",
           "open", "close")
Answer = dict[str, Any]  # an action's answer: the ticket's row after it, or the counter's state
Planned = tuple[list[tuple[str, dict[str, Any]]], Answer | None]  # (events to store: type and data, the ticket)
Work = Callable[["_Turn"], Planned]


@dataclass
class _Turn:
    """What one action sees inside its transaction."""

    conn: sqlite3.Connection
    site: Site
    counter: Counter
    now: datetime
    state: str
    reason: str | None
    streak: int
    current: dict[str, Any] | None
    booked_streak: int = 0


class Dispatcher:
    def __init__(
        self,
        store: EventStore,
        sites: list[Site],
        dispatch_sites: list[str],
        source: str,
        publish: Publish,
        clock: Callable[[], datetime] = project_clock.now,
        state_interval_s: float = 0.2,
    ):
        self.store = store
        self.sites = {s.id: s for s in sites}
        self.dispatch_sites = [s for s in dispatch_sites if s in self.sites]
        self.source = source
        self.publish = publish
        self.clock = clock
        # The feed reads the clock through the dispatcher, so replacing `dispatcher.clock`
        # (a simulator's clock) moves both.
        self.states = StateFeed(
            {s: self.sites[s] for s in self.dispatch_sites}, store.reader, publish, lambda: self.clock(),
            state_interval_s,
        )
        self.writer = GroupCommit(store, self._answer, "xephang-dispatch")

    # -- life cycle -------------------------------------------------------------------
    def launch(self) -> Dispatcher:
        """Start the writer and the state feed (`start` is the desk action "dossier
        reception begins")."""
        self.writer.start()
        self.states.start()
        return self

    def stop(self) -> None:
        """Finish the actions already queued, then stop; later actions are refused."""
        self.writer.stop()
        self.states.stop()
        # The estimate helper process (server/desk/waits.py) goes with the server; it is
        # started again on the next need. Without this a stopped server left it running.
        waits.HELPER.close()

    def publish_state(self, site: str) -> tuple[BoardState, QueueState]:
        """Build and publish the retained board and queue state of `site` now."""
        self._site(site)
        return self.states.publish_now(site)

    def on_ingested(self, result: BatchResult) -> None:
        """Ingest listener: refresh the state of the dispatched sites a batch touched (the
        counters projection was folded inside the ingest transaction)."""
        touched = {e.site for e in result.stored} | {u["site"] for u in result.device_updates}
        for site in touched:
            self.states.request(site)

    # -- desk actions -----------------------------------------------------------------
    # Each method waits for its answer; `submit` queues the same action by name without
    # waiting (the web routes await its future without tying up a worker thread each).
    def submit(
        self, action: str, site: str, counter: str, actor: Actor | str | None = None, **params: Any
    ) -> Future[Answer]:
        """Queue one desk action by name (ACTIONS) for the writer; returns its future.

        Invalid parameters raise DeskRefused at once; refusals (counter paused, nobody
        waiting...) come back through the future as DeskRefused, like every other result.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown desk action {action!r}")
        submit_action: Callable[..., Future[Answer]] = getattr(self, f"_submit_{action}")
        return submit_action(site, counter, actor=actor, **params)

    def call_next(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_call_next(site, counter, actor).result()

    def call_ticket(self, site: str, counter: str, ticket_id: str = "", actor: Actor | str | None = None) -> Answer:
        """Supervisor call of one waiting ticket (any service), out of turn."""
        return self._submit_call_ticket(site, counter, ticket_id, actor).result()

    def recall(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_recall(site, counter, actor).result()

    def start(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_start(site, counter, actor).result()

    def complete(self, site: str, counter: str, outcome: str = "", dossier_code: str | None = None,
                 actor: Actor | str | None = None) -> Answer:
        return self._submit_complete(site, counter, outcome, dossier_code, actor).result()

    def no_show(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_no_show(site, counter, actor).result()

    def transfer(self, site: str, counter: str, to_service: str = "", actor: Actor | str | None = None) -> Answer:
        return self._submit_transfer(site, counter, to_service, actor).result()

    def pause(self, site: str, counter: str, reason: str | None = None, actor: Actor | str | None = None) -> Answer:
        return self._submit_pause(site, counter, reason, actor).result()

    def resume(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_resume(site, counter, actor).result()

    def open(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_open(site, counter, actor).result()

    def close(self, site: str, counter: str, actor: Actor | str | None = None) -> Answer:
        return self._submit_close(site, counter, actor).result()

    # -- what each action does, queued without waiting -------------------------------
    def _submit_call_next(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            if turn.state == "paused":
                raise DeskRefused("counter_paused", "resume the counter first")
            missed, requeued = self._missed_before_next(turn)
            self._free(turn)
            ticket = self._pick(turn, [requeued] if requeued is not None else [])
            if ticket is None:
                raise DeskRefused("no_ticket_waiting", "no ticket is waiting for this counter's services")
            events = [] if turn.state == "open" else [("counter.opened", {"counter": turn.counter.id})]
            return missed + self._expired_holds(turn, ticket) + events + [self._called(turn, ticket)], ticket

        return self._act("call_next", site, counter, actor, work)

    def _submit_call_ticket(
        self, site: str, counter: str, ticket_id: str = "", actor: Actor | str | None = None,
    ) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            if turn.state == "paused":
                raise DeskRefused("counter_paused", "resume the counter first")
            self._free(turn)
            row = tickets.waiting_ticket(turn.conn, str(ticket_id), turn.site.id)
            if row is None:
                raise DeskRefused("ticket_not_waiting", "that ticket is not waiting at this site")
            ticket = dict(row)
            events = [] if turn.state == "open" else [("counter.opened", {"counter": turn.counter.id})]
            return events + [self._called(turn, ticket)], ticket

        return self._act("call_ticket", site, counter, actor, work, target=str(ticket_id))

    def _submit_recall(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            ticket = self._current(turn, ("called", "serving"))
            data = {"ticket_id": ticket["ticket_id"], "number": ticket["number"], "counter": turn.counter.id}
            return [("ticket.recalled", data)], ticket

        return self._act("recall", site, counter, actor, work)

    def _submit_start(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            ticket = self._current(turn, ("called",))
            return [("ticket.started", {"ticket_id": ticket["ticket_id"], "counter": turn.counter.id})], ticket

        return self._act("start", site, counter, actor, work)

    def _submit_complete(
        self, site: str, counter: str, outcome: str = "", dossier_code: str | None = None,
        actor: Actor | str | None = None,
    ) -> Future[Answer]:
        if outcome not in OUTCOMES:
            raise DeskRefused("invalid_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        code = (dossier_code or "").strip() or None
        if code is not None and len(code) > 64:
            raise DeskRefused("invalid_dossier_code", "a dossier code has at most 64 characters")

        def work(turn: _Turn) -> Planned:
            ticket = self._current(turn, ("called", "serving"))
            data = {"ticket_id": ticket["ticket_id"], "counter": turn.counter.id, "outcome": outcome}
            if code:
                data["dossier_code"] = code
            return [("ticket.completed", data)], ticket

        return self._act("complete", site, counter, actor, work, detail={"outcome": outcome, "dossier_code": code})

    def _submit_no_show(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            ticket = self._current(turn, ("called", "serving"))
            requeue, _placed = self._missed_call(turn, ticket)
            if requeue is not None:
                return [requeue], ticket
            return [("ticket.no_show", {"ticket_id": ticket["ticket_id"], "counter": turn.counter.id})], ticket

        return self._act("no_show", site, counter, actor, work)

    def _submit_transfer(
        self, site: str, counter: str, to_service: str = "", actor: Actor | str | None = None,
    ) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            if turn.site.service(to_service) is None:
                raise DeskRefused("unknown_service", f"no service {to_service!r} at this site")
            ticket = self._current(turn, ("called", "serving"))
            if ticket["service"] == to_service:
                raise DeskRefused("same_service", "the ticket is already in that service")
            data = {"ticket_id": ticket["ticket_id"], "counter": turn.counter.id, "to_service": to_service}
            return [("ticket.transferred", data)], ticket

        return self._act("transfer", site, counter, actor, work, detail={"to_service": to_service})

    def _submit_pause(
        self, site: str, counter: str, reason: str | None = None, actor: Actor | str | None = None,
    ) -> Future[Answer]:
        reason = (reason or "").strip()[:200] or None

        def work(turn: _Turn) -> Planned:
            if turn.state == "paused" and turn.reason == reason:
                return [], None
            data = {"counter": turn.counter.id, **({"reason": reason} if reason else {})}
            return [("counter.paused", data)], None

        return self._act("pause", site, counter, actor, work, detail={"reason": reason})

    def _submit_resume(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        return self._open_action("resume", site, counter, actor)

    def _submit_open(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        return self._open_action("open", site, counter, actor)

    def _submit_close(self, site: str, counter: str, actor: Actor | str | None = None) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            self._free(turn)
            return ([] if turn.state == "closed" else [("counter.closed", {"counter": turn.counter.id})]), None

        return self._act("close", site, counter, actor, work)

    # -- internals --------------------------------------------------------------------
    def _open_action(self, action: str, site: str, counter: str, actor: Actor | str | None) -> Future[Answer]:
        def work(turn: _Turn) -> Planned:
            return ([] if turn.state == "open" else [("counter.opened", {"counter": turn.counter.id})]), None

        return self._act(action, site, counter, actor, work)

    def _site(self, site_id: str) -> Site:
        site = self.sites.get(site_id)
        if site is None:
            raise DeskRefused("unknown_site", f"no site {site_id!r}")
        if site_id not in self.dispatch_sites:
            raise DeskRefused("not_dispatcher", f"this server does not dispatch site {site_id!r}")
        return site

    def _free(self, turn: _Turn) -> None:
        if turn.current is not None:
            raise DeskRefused("counter_busy", f"finish ticket {turn.current['number']} first")

    def _current(self, turn: _Turn, statuses: tuple[str, ...]) -> Answer:
        if turn.current is None:
            raise DeskRefused("no_current_ticket", "this counter has no ticket in progress")
        if turn.current["status"] not in statuses:
            raise DeskRefused("wrong_ticket_state", f"the ticket is {turn.current['status']}")
        return turn.current

    def _pick(self, turn: _Turn, extra: list[Answer] | None = None) -> Answer | None:
        # A few indexed lookups per service: the oldest waiting ticket of each class
        # (priority, booked from its slot start, the others), and the requeued ones at
        # their own places (with `extra`: one requeued in this very action);
        # server/desk/rules.py decides.
        # "(priority IS NULL) = 0/1" is written as the index's own expression: with
        # "priority IS NOT NULL" SQLite could not use it and sorted every waiting ticket
        # of the service on each call (docs/desk.md, "busy p99").
        now_at = turn.now.timestamp()
        unclosed = _unclosed_counters(turn)
        heads: list[Mapping[str, Any]] = []
        for service in turn.counter.services:
            heads.extend(tickets.class_heads(turn.conn, turn.site.id, service, now_at, turn.counter.id, unclosed))
            heads.extend(self._requeued_heads(turn, service))
        heads.extend(extra or [])
        booked_cap = turn.site.booking.max_consecutive
        chosen = choose(heads, now_at, turn.site.max_consecutive_priority, turn.streak, booked_cap, turn.booked_streak,
                        counter=turn.counter.id, unclosed=unclosed)
        return dict(chosen) if chosen is not None else None

    def _expired_holds(self, turn: _Turn, called: dict) -> list[tuple[str, dict]]:
        """Online numbers not checked in whose turn came (a walk-in issued after them is
        being called instead) are held from that call; a hold past the grace period
        becomes an automatic no-show at the next call of a counter of that service
        (docs/booking.md)."""
        now_at = turn.now.timestamp()
        grace_s = turn.site.booking.grace_minutes * 60
        services = list(turn.counter.services)
        marks = ", ".join("?" for _ in services)
        if ticket_class(called, now_at) == NORMAL:
            passed = tickets.unheld_online_before(turn.conn, turn.site.id, services, called["issued_at"], HOLD_SCAN)
            turn.conn.executemany(
                "INSERT INTO ticket_holds (ticket_id, site, counter, held_at) VALUES (?, ?, ?, ?)",
                [(ticket_id, turn.site.id, turn.counter.id, now_at) for ticket_id in passed],
            )
        expired = turn.conn.execute(
            f"SELECT t.ticket_id FROM ticket_holds h JOIN tickets t ON t.ticket_id = h.ticket_id "
            f"WHERE h.site = ? AND t.service IN ({marks}) AND t.status = 'waiting' AND t.checked_in_at IS NULL "
            "AND h.held_at <= ? ORDER BY h.held_at LIMIT ?",
            (turn.site.id, *services, now_at - grace_s, HOLD_SCAN),
        ).fetchall()
        return [("ticket.no_show", {"ticket_id": row[0], "counter": turn.counter.id, "auto": True}) for row in expired]

    # -- the missed-call rule (docs/desk.md "A missed call") ------------------------
    def _missed_call(self, turn: _Turn, ticket: Answer) -> tuple[tuple[str, dict[str, Any]] | None, Answer | None]:
        """The counter's ticket was missed (the desk pressed "did not come", or called next
        over it): under the site's rule, its `ticket.requeued` event and the ticket at its
        new place (a candidate for a call in the same action); (None, None) when it is a
        no-show as before. Refuses while the citizen still has time (`call_too_recent`)."""
        rule = turn.site.missed_call
        if rule.max_requeues <= 0:
            return None, None  # the rule is off: today's behaviour, nothing read
        row = tickets.missed_call_ticket(turn.conn, ticket["ticket_id"])
        assert row is not None  # the counter's own ticket: read in the same transaction
        current: Answer = dict(row)
        now_at = turn.now.timestamp()
        verdict = missed_call(current["status"], current["last_called_at"], current["requeued_count"], now_at,
                              rule.max_requeues, rule.after_s)
        if verdict == TOO_EARLY:
            left_s = max(1, int(current["last_called_at"] + rule.after_s - now_at + 0.999))
            raise DeskRefused("call_too_recent", f"the citizen has {rule.after_s} s after a call: wait {left_s} s more")
        if verdict != REQUEUE:
            return None, None
        others = tickets.waiting_of_service(turn.conn, turn.site.id, current["service"])
        waiting = [{**r, "status": "waiting"} for r in others]
        place_at = datetime.fromtimestamp(requeue_place(current, waiting, now_at, rule.behind), UTC)
        placed = {name: current[name] for name in TICKET_COLUMNS} | {"queue_at": place_at.timestamp(),
                                                                      "status": "waiting"}
        data = {"ticket_id": ticket["ticket_id"], "counter": turn.counter.id, "queue_at": place_at.isoformat()}
        return ("ticket.requeued", data), placed

    def _missed_before_next(self, turn: _Turn) -> tuple[list[tuple[str, dict[str, Any]]], Answer | None]:
        """Call-next over a called ticket nobody came for (past the rule's seconds): the
        ticket is requeued (or, its requeues spent, a no-show) in the same action, and the
        counter goes on to call. Without the rule, or too early: nothing (counter_busy)."""
        current = turn.current
        if turn.site.missed_call.max_requeues <= 0 or current is None or current["status"] != "called":
            return [], None
        try:
            requeue, placed = self._missed_call(turn, current)
        except DeskRefused:
            return [], None  # still the citizen's time: the counter is busy, as before
        turn.current = None
        if requeue is None:
            return [("ticket.no_show", {"ticket_id": current["ticket_id"], "counter": turn.counter.id})], None
        if placed is not None and placed["service"] not in turn.counter.services:
            placed = None  # called here out of turn by a supervisor: not this counter's to call again
        return [requeue], placed

    def _requeued_heads(self, turn: _Turn, service: str) -> list[Answer]:
        """Waiting requeued tickets of a service, first places first (few: each waits for
        a handful of calls)."""
        return [dict(row) for row in tickets.requeued(turn.conn, turn.site.id, service, HOLD_SCAN)]

    def _called(self, turn: _Turn, ticket: Answer) -> tuple[str, dict[str, Any]]:
        streak, booked = streaks_after(ticket, turn.now.timestamp(), turn.streak, turn.booked_streak)
        turn.conn.execute(
            "UPDATE counters SET priority_streak = ?, booked_streak = ? WHERE site = ? AND counter = ?",
            (streak, booked, turn.site.id, turn.counter.id),
        )
        turn.streak, turn.booked_streak = streak, booked
        return "ticket.called", {"ticket_id": ticket["ticket_id"], "number": ticket["number"], "counter": turn.counter.id}

    def _next_seq(self, conn: sqlite3.Connection) -> int:
        return next_seq(conn, self.source)

    def _turn(self, conn: sqlite3.Connection, site: Site, counter: Counter) -> _Turn:
        row = conn.execute(
            "SELECT state, reason, priority_streak, booked_streak FROM counters WHERE site = ? AND counter = ?",
            (site.id, counter.id),
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO counters (site, counter, state, reason, changed_at, priority_streak) "
                "VALUES (?, ?, 'closed', NULL, 0, 0)",
                (site.id, counter.id),
            )
            row = ("closed", None, 0, 0)
        current = in_progress_one(conn, site.id, counter.id)
        return _Turn(conn, site, counter, self.clock(), row[0], row[1], row[2], current, row[3])

    def _act(
        self,
        action: str,
        site_id: str,
        counter_id: str,
        actor: Actor | str | None,
        work: Work,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Future[Answer]:
        """Queue one action for the writer; its future holds the answer or the refusal."""
        who = audit.as_actor(actor)

        def refused(conn: sqlite3.Connection, exc: Refused) -> None:
            if site_id in self.sites:
                audit.record(conn, who, action, ok=False, code=exc.code, site=site_id, counter=counter_id,
                             target=target)

        job = Job(
            f"{action} at {site_id}/{counter_id}",
            lambda conn: self._apply(conn, action, site_id, counter_id, who, work, target, detail),
            refused,
        )
        return self.writer.submit(job)

    def _answer(self, done: Done) -> None:
        """After each commit, before answering: publish the events in order, ask for new state."""
        touched = set()
        for _job, _answer, events in done:
            for event in events:
                self.publish(topics.event(event.site, event.type), event.to_json(), False)
                touched.add(event.site)
        for site_id in touched:
            self.states.request(site_id)

    def _apply(
        self, conn: sqlite3.Connection, action: str, site_id: str, counter_id: str, who: Actor, work: Work,
        target: str | None, detail: dict[str, Any] | None,
    ) -> tuple[Answer, list[Event]]:
        """One action inside the writer's transaction: (response, events stored)."""
        site = self._site(site_id)
        counter = site.counter(counter_id)
        if counter is None:
            raise DeskRefused("unknown_counter", f"no counter {counter_id!r} at site {site_id!r}")
        turn = self._turn(conn, site, counter)
        planned, ticket = work(turn)
        events = [self._event(conn, turn, kind, data) for kind, data in planned]
        result = self.store.append_local(events, conn=conn) if events else BatchResult()
        for event in events:
            apply_counter_event(conn, event)
        target = target or (ticket["ticket_id"] if ticket else None)
        audit.record(
            conn, who, action, site=site_id, counter=counter_id, target=target,
            detail={**(detail or {}), "events": [e.type for e in events],
                    **({"number": ticket["number"]} if ticket else {})},
            at=turn.now.timestamp(),
        )
        if ticket is not None:
            rows = {row["ticket_id"]: row for row in result.tickets}
            return rows.get(ticket["ticket_id"], ticket), events
        state = conn.execute(
            "SELECT state, reason FROM counters WHERE site = ? AND counter = ?", (site_id, counter_id)
        ).fetchone()
        return {"site": site_id, "counter": counter_id, "state": state[0], "reason": state[1]}, events

    def _event(self, conn: sqlite3.Connection, turn: _Turn, kind: str, data: dict[str, Any]) -> Event:
        try:
            return make_event(kind, site=turn.site.id, source=self.source, seq=self._next_seq(conn), data=data, ts=turn.now)
        except InvalidEvent as exc:
            raise DeskRefused("invalid_event", exc.reason) from None


def _unclosed_counters(turn: _Turn) -> frozenset[str]:
    """The site's counters that are open or paused (a second visit's ticket waits for
    its counter while it is not closed; server/desk/rules.py `reserved_elsewhere`)."""
    rows = turn.conn.execute("SELECT counter FROM counters WHERE site = ? AND state != 'closed'", (turn.site.id,))
    return frozenset(str(r[0]) for r in rows)


def in_progress_one(conn: sqlite3.Connection, site_id: str, counter_id: str) -> Answer | None:
    row = tickets.counter_ticket(conn, site_id, counter_id)
    return dict(row) if row else None


__all__ = ["Dispatcher", "in_progress", "in_progress_one"]
