"""The national aggregator: roll-ups from the province servers (over the Mosquitto
bridges) into the national store, acknowledged after the commit.

    paho thread: message -> queue (nothing else on paho's thread)
    worker thread: take up to batch_max messages (waiting at most batch_window_s for
        more), parse each (a bad one is recorded in rejected_rollups and never
        acknowledged), store the good ones in one transaction, then publish one ack per
        roll-up (QoS 1) saying the revision it holds now for that day.

A message lost anywhere before the commit is sent again by its province (it re-sends
until acknowledged); a repeat after the commit changes nothing and is acknowledged
again. Imports protocol and national.store.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import psycopg

from national.store import NationalStore
from protocol import topics
from protocol.link import MqttLink
from protocol.rollup import DayRollup, InvalidRollup, RollupAck, parse_rollup
from protocol.settings import BrokerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes


class Aggregator:
    def __init__(self, dsn: str, broker: BrokerSettings, client_id: str = "national", batch_max: int = 2000,
                 batch_window_s: float = 0.05):
        self.dsn = dsn
        self.batch_max = batch_max
        self.batch_window_s = batch_window_s
        self.stored = 0  # roll-ups that changed the store
        self.ignored = 0  # repeats or older revisions
        self.rejected = 0
        self.commit_failures = 0
        self.last_commit_at: float | None = None
        self._inbox: queue.SimpleQueue[Received | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="xephang-national", daemon=True)
        self.link = MqttLink(client_id, broker, subscriptions=[(topics.ALL_ROLLUPS, 1)], on_message=self._on_message)

    def start(self) -> Aggregator:
        self._thread.start()
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()
        self._inbox.put(None)
        self._thread.join(30)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(Received(message.topic, bytes(message.payload)))

    # -- the worker -------------------------------------------------------------------
    def _run(self) -> None:
        store: NationalStore | None = None
        pending: list[Received] = []
        while True:
            if not pending:
                first = self._inbox.get()
                if first is None:
                    break
                pending.append(first)
            deadline = time.monotonic() + self.batch_window_s
            stopping = False
            while len(pending) < self.batch_max:
                try:
                    item = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                pending.append(item)
            try:
                if store is None:
                    store = NationalStore(self.dsn)
                self.handle(store, pending)
                pending = []
            except psycopg.Error as exc:
                # Keep the batch and try again: nothing was acknowledged.
                self.commit_failures += 1
                log.error("national store: commit failed (%s); retrying", exc)
                if store is not None:
                    store.close()
                store = None
                time.sleep(min(5.0, 0.2 * self.commit_failures))
            if stopping:
                break
        if store is not None:
            store.close()

    def handle(self, store: NationalStore, batch: list[Received]) -> None:
        good: list[DayRollup] = []
        for item in batch:
            try:
                rollup = parse_rollup(item.payload)
                where = topics.parse(item.topic)
                if (where.kind, where.site, where.name) != ("rollups", rollup.site, rollup.day.isoformat()):
                    raise InvalidRollup(f"topic {item.topic} does not match site {rollup.site} day {rollup.day}")
            except (InvalidRollup, topics.InvalidTopic) as exc:
                self.rejected += 1
                log.warning("roll-up refused on %s: %s", item.topic[:120], exc)
                store.reject(item.topic, str(exc))
                continue
            good.append(rollup)
        if not good:
            return
        accepted = store.ingest(good)
        self.stored += accepted.stored
        self.ignored += accepted.ignored
        self.last_commit_at = time.time()
        for rollup in good:
            # The revision held (never lower than the one received): a province whose
            # own count restarted lower (a restored backup) learns to go above it.
            held = accepted.held.get((rollup.site, rollup.day), rollup.revision)
            ack = RollupAck(site=rollup.site, day=rollup.day, revision=max(held, rollup.revision))
            self.link.publish(topics.rollup_ack(rollup.site, rollup.day.isoformat()), ack.payload(), qos=1)
