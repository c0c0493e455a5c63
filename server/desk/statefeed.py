"""Publishes the retained `state/board` and `state/queue` of dispatched sites.

Changes are coalesced: `request(site)` marks the site dirty and returns at once; one
worker thread builds both payloads from one read and publishes them, at most once per
`min_interval_s` per burst, so fifty desks pressing "next" cause a few builds, not fifty.
Each publish bumps the site's version, which live desk consoles (SSE) watch. A site
whose state has not changed for `heartbeat_s` is published again anyway, so boards and
kiosks in a quiet office can tell "nothing happened" from "the server is gone" (their
staleness limits are minutes) and the estimated waits stay current.
No FastAPI here; publishing goes through the callable it is given.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from protocol import topics
from protocol.sites import Site
from protocol.state import BoardState, QueueState
from server.desk.boardstate import board_state, counter_states, queue_state, waiting_counts

if TYPE_CHECKING:
    from protocol.link import Publish  # type only: no paho at run time here

log = logging.getLogger(__name__)


class StateFeed:
    def __init__(
        self,
        sites: dict[str, Site],
        reader: Callable[[], sqlite3.Connection],
        publish: Publish,
        clock: Callable[[], datetime],
        min_interval_s: float = 0.2,
        heartbeat_s: float = 60.0,
    ):
        self.sites = sites
        self.reader = reader
        self.publish = publish
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.heartbeat_s = heartbeat_s
        self._published_at: dict[str, float] = {}
        self.versions: dict[str, int] = {site: 0 for site in sites}
        self.last: dict[str, tuple[BoardState, QueueState]] = {}
        self.errors = 0
        self._dirty: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._build_lock = threading.Lock()

    def start(self) -> StateFeed:
        self._thread = threading.Thread(target=self._run, name="xephang-state", daemon=True)
        self._thread.start()
        with self._cond:
            self._dirty.update(self.sites)
            self._cond.notify()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread:
            self._thread.join(5)
        if self._conn is not None:
            self._conn.close()

    def request(self, site_id: str) -> None:
        if site_id not in self.sites:
            return
        with self._cond:
            self._dirty.add(site_id)
            self._cond.notify()

    def publish_now(self, site_id: str) -> tuple[BoardState, QueueState]:
        """Build and publish at once (callers that need the retained state now)."""
        with self._build_lock:
            if self._conn is None:
                self._conn = self.reader()
            site, now = self.sites[site_id], self.clock()
            counters = counter_states(self._conn, site)
            counts = waiting_counts(self._conn, site.id)
            # The board first: a call must not wait for the wait estimates (seconds for a
            # queue of thousands, server/desk/waits.py).
            board = board_state(self._conn, site, now, counters, counts)
            self.publish(topics.board_state(site_id), board.model_dump_json().encode("utf-8"), True)
            queue = queue_state(self._conn, site, now, counters, counts)
            self.publish(topics.queue_state(site_id), queue.model_dump_json().encode("utf-8"), True)
            self.last[site_id] = (board, queue)
            self._published_at[site_id] = time.monotonic()
        with self._cond:
            self.versions[site_id] = self.versions.get(site_id, 0) + 1
            self._cond.notify_all()
        return board, queue

    def wait_version(self, site_id: str, seen: int, timeout_s: float) -> int:
        """Block (a worker thread, not the event loop) until the site's version passes `seen`."""
        with self._cond:
            self._cond.wait_for(lambda: self.versions.get(site_id, 0) != seen or self._stop.is_set(), timeout_s)
            return self.versions.get(site_id, 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: bool(self._dirty) or self._stop.is_set(), 1.0)
                now = time.monotonic()
                quiet = {s for s in self.sites if now - self._published_at.get(s, now) >= self.heartbeat_s}
                dirty, self._dirty = self._dirty | quiet, set()
            for site_id in sorted(dirty):
                try:
                    self.publish_now(site_id)
                except (sqlite3.Error, ValueError, RuntimeError) as exc:
                    self.errors += 1
                    log.error("state of %s not published: %s", site_id, exc)
                    with self._cond:
                        self._dirty.add(site_id)
            self._stop.wait(self.min_interval_s)
