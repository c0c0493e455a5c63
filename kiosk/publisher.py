"""Publishing the outbox: in order of issue, marked sent only on the broker's PUBACK.

paho reports each acknowledged QoS 1 message through `on_publish(mid)` on its own
thread; that thread only drops the mid into a queue. The kiosk loop thread (the owner
of the SQLite file) calls `pump()`, which marks acknowledged rows sent and hands the
next ready rows to paho while connected. Rows in flight when the link drops stay in
paho's session and are resent on reconnect (clean_session=False); rows never handed
over are picked up by the cursor. After a restart everything not marked sent goes out
again: the server ignores duplicate event ids.

A broker acknowledges a message before it has written it to disk (Mosquitto saves
every `autosave_interval`), so a broker killed right after acknowledging loses it. On
every reconnect the rows marked sent within the last `resend_window_s` are therefore
published again, in order; duplicates cost nothing at the server.
No GPIO or printer imports here.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta

from kiosk import outbox
from kiosk.store import transaction
from protocol import clock as project_clock
from protocol.link import Link

log = logging.getLogger(__name__)


class OutboxPublisher:
    def __init__(
        self,
        db: sqlite3.Connection,
        link: Link,
        *,
        window: int = 500,
        resend_window_s: float = 30.0,
        clock: Callable[[], datetime] = project_clock.now,
        on_activity: Callable[[], None] | None = None,
    ):
        self.db = db
        self.link = link
        self.window = window
        self._clock = clock
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._cursor = 0  # highest row id handed to paho
        self._on_activity = on_activity
        self._resending = False  # rows were in flight when the link dropped
        self._reconnected = False  # resend what the broker may have lost
        self.resend_window_s = resend_window_s
        self.resent = 0
        self.sent = 0

    def on_published(self, mid: int) -> None:
        """paho's thread: remember the ack; the owner thread writes it."""
        self._acks.put(mid)
        if self._on_activity:
            self._on_activity()

    def on_connection(self, up: bool) -> None:
        """paho's thread. paho resends its in-flight rows after the CONNACK, which comes
        after on_connect; until they are acknowledged no new row is handed over, so the
        server still receives events in order of issue."""
        if self._inflight:  # on the way down, and again on the way up (a publish may race the drop)
            self._resending = True
        if up:
            self._reconnected = True

    def pump(self) -> int:
        """Record acks, then hand more rows to paho. Returns rows newly handed over."""
        self._record_acks()
        if not self.link.connected.is_set():
            return 0
        if self._resending:
            if self._inflight:
                return 0
            self._resending = False
        if self._reconnected:
            self._reconnected = False
            cutoff = self._clock() - timedelta(seconds=self.resend_window_s)
            with transaction(self.db):
                first = outbox.reopen_sent_since(self.db, cutoff)
            if first is not None:
                self._cursor = min(self._cursor, first - 1)
                self.resent += 1
        handed = 0
        while len(self._inflight) < self.window:
            rows = outbox.ready_after(self.db, self._cursor, min(100, self.window - len(self._inflight)))
            if not rows:
                break
            for row in rows:
                info = self.link.publish(row.topic, row.payload, qos=1)
                self._inflight[info.mid] = row.id
                self._cursor = row.id
                handed += 1
        return handed

    def _record_acks(self) -> None:
        done: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            row_id = self._inflight.pop(mid, None)
            if row_id is not None:
                done.append(row_id)
        if done:
            with transaction(self.db):
                outbox.mark_sent(self.db, done, self._clock())
            self.sent += len(done)

    @property
    def inflight(self) -> int:
        return len(self._inflight)
