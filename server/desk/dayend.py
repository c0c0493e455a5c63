"""The day-end job: tickets not completed by the end of the day are closed as no-show.

At each site's closing time (site hours `close`, site-local), every ticket still
waiting or called whose last event came before closing is marked `ticket.no_show`, and
counters left open or paused since before closing are closed. A citizen being served
at closing time is not: the officer finishes and completes the ticket (its counter
stays open meanwhile). Whatever is still open from an earlier day (a dossier left
"serving", or the server down at closing time) is closed at the first run of the
next day. A no-show needs a counter: the ticket's own counter if it had one, else the
first counter serving its service. The audit log names the actor `day-end`.

Its no-shows carry `"auto": true`, so the fold (server/storage/projection.py) never lets them
override what a person did (docs/measures.md). The background job runs only once the
ingest has caught up with what the broker held for the server (`Ingestor.caught_up`):
a completion still queued in the broker after a restart must be stored before the job
judges the ticket open. If ingest has not caught up within `MAX_WAIT_S` (broker down,
database failing) the job runs anyway, with a warning: the day must still close.
No FastAPI here.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime

from protocol import topics
from protocol.events import make_event
from protocol.sites import Site
from server.desk.dispatch import Dispatcher
from server.storage import audit, tickets
from server.storage.audit import Actor
from server.storage.projection import apply_counter_event

log = logging.getLogger(__name__)
ACTOR = Actor("day-end", "system", "system")
# How long a run waits for ingest to catch up before closing the day anyway. A backlog
# of a day's events (a few thousand) is stored in seconds; two minutes covers a slow
# disk, and a broker that stays away does not keep the day open for long.
MAX_WAIT_S = 120.0


def closing_moment(site: Site, now: datetime) -> tuple[str, datetime]:
    """(today's site-local date, today's closing time as an aware datetime)."""
    local = now.astimezone(site.zone)
    close_at = datetime.combine(local.date(), site.hours.close, tzinfo=site.zone)
    return local.date().isoformat(), close_at


class DayEnd:
    def __init__(self, dispatcher: Dispatcher, interval_s: float = 60.0,
                 ready: Callable[[], bool] | None = None, max_wait_s: float = MAX_WAIT_S):
        self.dispatcher = dispatcher
        self.interval_s = interval_s
        self.ready = ready
        self.max_wait_s = max_wait_s
        self.runs = 0  # background runs made (tests and /healthz-style checks read it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xephang-dayend", daemon=True)

    def start(self) -> DayEnd:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._wait_ready():
                return
            try:
                self.run_once()
                self.runs += 1
            except (sqlite3.Error, ValueError) as exc:
                log.error("day-end run failed: %s", exc)
            self._stop.wait(self.interval_s)

    def _wait_ready(self) -> bool:
        """Wait until ingest has caught up, or `max_wait_s`; False when stopping."""
        if self.ready is None:
            return True
        deadline = time.monotonic() + self.max_wait_s
        while not self._stop.is_set():
            if self.ready():
                return True
            if time.monotonic() >= deadline:
                log.warning("day-end runs before ingest caught up (waited %.0f s)", self.max_wait_s)
                return True
            self._stop.wait(0.1)
        return False

    def run_once(self) -> int:
        """Close what is due at every dispatched site; returns the number of events made."""
        return sum(self.close_site(site_id) for site_id in self.dispatcher.dispatch_sites)

    def close_site(self, site_id: str) -> int:
        dispatcher = self.dispatcher
        site: Site = dispatcher.sites[site_id]
        now = dispatcher.clock()
        today, close_at = closing_moment(site, now)
        after_close = now >= close_at
        with dispatcher.store.writing() as conn:
            rows = tickets.open_tickets(conn, site_id)
            due = [
                r for r in rows
                if r[4] < today or (after_close and r[6] != "serving" and r[5] < close_at.timestamp())
            ]
            serving = {r[3] for r in rows if r[6] == "serving" and r not in due}
            planned = [("ticket.no_show", {"ticket_id": r[0], "counter": _counter_for(site, r[3], r[2]), "auto": True})
                       for r in due]
            if after_close:
                for counter, changed_at in conn.execute(
                    "SELECT counter, changed_at FROM counters WHERE site = ? AND state != 'closed'", (site_id,)
                ).fetchall():
                    if changed_at < close_at.timestamp() and site.counter(counter) and counter not in serving:
                        planned.append(("counter.closed", {"counter": counter, "reason": "day end"}))
            if not planned:
                return 0
            events = []
            for kind, data in planned:
                events.append(make_event(kind, site=site_id, source=dispatcher.source,
                                         seq=dispatcher._next_seq(conn), data=data, ts=now))
            dispatcher.store.append_local(events, conn=conn)
            for event in events:
                apply_counter_event(conn, event)
            audit.record(conn, ACTOR, "day_end", site=site_id, at=now.timestamp(),
                         detail={"no_show": len(due), "counters_closed": len(events) - len(due), "day": today})
        for event in events:
            dispatcher.publish(topics.event(event.site, event.type), event.to_json(), False)
        dispatcher.states.request(site_id)
        log.info("day end at %s: %d tickets closed as no-show", site_id, len(due))
        return len(events)


def _counter_for(site: Site, counter: str | None, service: str | None) -> str:
    if counter and site.counter(counter):
        return counter
    serving = [c.id for c in site.counters if service in c.services]
    return (serving or [site.counters[0].id])[0]


__all__ = ["DayEnd", "closing_moment"]
