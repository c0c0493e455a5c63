"""MQTT ingest: messages from paho's thread, through a queue, into the store in batches.

A message is acknowledged to the broker (paho `manual_ack`) only after the batch that
holds it is committed, so a crash at any point loses nothing: the broker redelivers
what was not acknowledged, and the store ignores what it already has. If the database
cannot commit (disk full, read-only), the batch is kept and retried and nothing is
acknowledged meanwhile; `/healthz` shows the fault.

`caught_up()` says when what the broker held for us has been stored: the link is
connected (after SUBACK), every message received is committed, and nothing has arrived
for `quiet_s` since the later of the connection and the last commit. The broker sends
the next held message as soon as the previous ones are acknowledged, so a quiet period
after the last acknowledgement means its queue for this session is empty. The day-end
job waits for it (server/desk/dayend.py). No FastAPI here.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.link import MqttLink
from protocol.settings import BrokerSettings
from server.storage.events import BatchResult, EventStore, Incoming

log = logging.getLogger(__name__)

BatchListener = Callable[[BatchResult], None]
DEVICE_STATUS = f"{topics.PREFIX}/+/devices/+/status"


class Ingestor:
    """Owns the MQTT subscription and the writer thread that commits batches."""

    def __init__(
        self,
        store: EventStore,
        broker: BrokerSettings,
        client_id: str = "server",
        batch_max: int = 500,
        batch_window_s: float = 0.02,
        quiet_s: float = 1.0,
    ):
        self.store = store
        self.batch_max = batch_max
        self.batch_window_s = batch_window_s
        self.listeners: list[BatchListener] = []
        # The hand-off from paho's thread: a deque (append and popleft are atomic), and an
        # event paho's thread sets only when the inbox reaches `_want` messages, the count
        # the writer waits for (1 when idle, a full batch while it gathers one), so that a
        # message costs no lock on either side (docs/ingest.md).
        self.inbox: deque[Incoming] = deque()
        self._want = sys.maxsize
        self._wake = threading.Event()
        self.last_commit_at: float | None = None
        self.commit_failures = 0
        self.quiet_s = quiet_s
        # Written by one thread each: paho's (_received) and the writer's (_settled).
        self._received = 0
        self._settled = 0
        self._last_activity = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xephang-ingest", daemon=True)
        self.link = MqttLink(
            client_id,
            broker,
            subscriptions=[(topics.ALL_EVENTS, 1), (DEVICE_STATUS, 1)],
            on_message=self._receive,
            manual_ack=True,
            on_connection_change=self._connection_changed,
        )

    def start(self) -> Ingestor:
        self._thread.start()
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()  # a planned disconnect: not logged as a lost link
        self._stop.set()
        self._thread.join(10)

    @property
    def pending(self) -> int:
        return len(self.inbox)

    def caught_up(self) -> bool:
        """Connected, everything received committed, and quiet for `quiet_s` (see above)."""
        return (
            self.link.connected.is_set()
            and self._received == self._settled
            and time.monotonic() - self._last_activity >= self.quiet_s
        )

    def _connection_changed(self, connected: bool) -> None:
        self._last_activity = time.monotonic()

    def _receive(self, message: mqtt.MQTTMessage) -> None:
        # paho's thread: hand over and return at once.
        self._last_activity = time.monotonic()
        self._received += 1
        inbox = self.inbox
        inbox.append(
            Incoming(message.topic, bytes(message.payload), time.time(), bool(message.retain), message.mid, message.qos)
        )
        if len(inbox) >= self._want:
            self._wake.set()

    def _collect(self) -> list[Incoming]:
        """The next batch: what arrives within `batch_window_s` of the first message
        (or `batch_max` messages), or [] after 0.2 s without any."""
        inbox = self.inbox
        if not inbox:
            self._wait_for(1, 0.2)
            if not inbox:
                return []
        self._wait_for(self.batch_max, self.batch_window_s)
        return [inbox.popleft() for _ in range(min(len(inbox), self.batch_max))]

    def _wait_for(self, count: int, timeout_s: float) -> None:
        """Wait until the inbox holds `count` messages, at most `timeout_s`. A message
        appended before `_want` is set is seen by the length check; one after, by paho's
        thread, which then sets the event."""
        self._wake.clear()
        self._want = count
        if len(self.inbox) < count:
            self._wake.wait(timeout_s)
        self._want = sys.maxsize

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                self._commit_with_retry(batch)

    def _commit_with_retry(self, batch: list[Incoming]) -> None:
        delay_s = 0.2
        while not self._stop.is_set():
            try:
                result = self.store.ingest(batch)
            except Exception as exc:  # noqa: BLE001 - this thread must outlive any one batch
                # sqlite3.Error is the expected case (disk full, read-only); anything else
                # is a bug, but a dead ingest thread would stop the office silently.
                self.commit_failures += 1
                what = "database write failed" if isinstance(exc, sqlite3.Error) else "ingest failed"
                self.store.last_error = f"{what}: {exc}"[:300]
                log.error("ingest batch of %d not committed (%s); retrying, nothing acknowledged", len(batch), exc,
                          exc_info=not isinstance(exc, sqlite3.Error))
                self._stop.wait(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            self.last_commit_at = time.time()
            for message in batch:
                if message.qos > 0:
                    self.link.ack(message.mid, message.qos)
            self._settled += len(batch)
            self._last_activity = time.monotonic()
            for listener in self.listeners:
                try:
                    listener(result)
                except Exception:  # noqa: BLE001 - one listener must not stop ingest
                    log.exception("batch listener %r failed", listener)
            return
