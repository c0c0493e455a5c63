"""Daily roll-ups for the national aggregator: computed from the tickets, published over
MQTT until acknowledged (docs/national.md, the wire format in protocol/rollup.py).

The state of every site-day lives in `rollup_outbox` (server/storage/db.py):

    (new events touch a site-day) -> dirty
    dirty, and the site-local day is over -> computed; if its rows differ from the
        last revision's: revision + 1, payload kept, not yet sent
    revision > acked, not sent for `resend_s` (or the link came back) -> published (QoS 1)
    ack for revision r arrives (after the aggregator's commit) -> acked = max(acked, r);
        if r is above our own revision (our count restarted, e.g. a restored backup),
        the day is recomputed and sent as r + 1

So a late event (after the day ended) makes the day dirty again and, when its figures
change, a new revision; a re-sent or duplicated roll-up is harmless because the
aggregator keeps the highest revision of a day. Today's figures are never sent: a day
goes out once it is over in the site's time zone.

One thread does all of this; acknowledgements arrive on paho's thread and are handed
over through a queue. Imports protocol, server.storage and server.stats only.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.link import MqttLink
from protocol.rollup import DayRollup, InvalidRollup, RollupRow, parse_ack, row_of
from protocol.settings import BrokerSettings
from protocol.sites import Site
from server.stats import measures
from server.stats.measures import Accumulator, Rules
from server.stats.store import dirty_site_days, load_tickets, local_day_of, ratings_in
from server.storage.events import EventStore

log = logging.getLogger(__name__)

COMPUTE_CHUNK = 50  # site-days computed per write, so a backlog never holds the lock long


def day_rows(conn: sqlite3.Connection, rules: Mapping[str, Rules], site: str, day: str) -> list[RollupRow]:
    """The roll-up rows of one site-day, one per (service, counter), from the tickets
    rows and ratings with the same functions as the province's own measures."""
    groups: dict[tuple[str, str], Accumulator] = {}
    for row in load_tickets(conn, [site], day, day):
        facts = measures.ticket_facts(row, rules)
        if facts is not None and facts.day == day:
            groups.setdefault((facts.service, facts.counter), Accumulator()).add_ticket(facts)
    for rating in ratings_in(conn, [site], day, day, rules):
        groups.setdefault((rating.service, rating.counter), Accumulator()).add_rating(rating.satisfied)
    return [row_of(service, counter, acc.counts, acc.histograms) for (service, counter), acc in sorted(groups.items())]


def site_today(site: Site, now: datetime) -> str:
    return now.astimezone(site.zone).date().isoformat()


class RollupPublisher:
    """Keeps `rollup_outbox` in step and publishes what the aggregator has not acknowledged."""

    def __init__(self, store: EventStore, sites: Iterable[Site], rules: Mapping[str, Rules], province: str, broker: BrokerSettings,
                 client_id: str, clock: Callable[[], datetime], interval_s: float = 30.0, resend_s: float = 300.0):
        self.store = store
        self.sites = {s.id: s for s in sites}
        self.rules = dict(rules)
        self.province = province
        self.clock = clock
        self.interval_s = interval_s
        self.resend_s = resend_s
        self.published = 0  # roll-up messages handed to the link (for health and tests)
        self.acks = 0  # acknowledgements applied
        self.revisions = 0  # new revisions made
        self.failures = 0
        self._acks: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._resend_all = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xephang-rollups", daemon=True)
        self.link = MqttLink(
            f"{client_id}-rollups", broker,
            subscriptions=[(f"{topics.PREFIX}/{site}/rollups/+/ack", 1) for site in sorted(self.sites)],
            on_message=self._on_message,
            on_connection_change=self._on_connection,
        )

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        self.link.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.link.stop()

    def poke(self, *_: object) -> None:
        self._wake.set()

    # -- paho's thread: hand over only ----------------------------------------------
    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self._acks.put(bytes(message.payload))
        self._wake.set()

    def _on_connection(self, up: bool) -> None:
        if up:  # whatever was in flight when the link broke goes again now
            self._resend_all.set()
            self._wake.set()

    # -- the publisher's thread -------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except sqlite3.Error as exc:
                self.failures += 1
                log.error("national roll-ups not updated: %s", exc)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def step(self) -> None:
        """One round: apply acknowledgements, note changed days, compute finished days,
        publish what is due."""
        self._apply_acks()
        self._mark_dirty()
        while self._compute_some():
            if self._stop.is_set():
                return
        self._publish_due()

    def _apply_acks(self) -> None:
        acks = []
        while True:
            try:
                raw = self._acks.get_nowait()
            except queue.Empty:
                break
            try:
                ack = parse_ack(raw)
            except InvalidRollup as exc:
                log.warning("national roll-up ack refused: %s", exc.reason)
                continue
            if ack.site in self.sites:
                acks.append((ack.revision, ack.site, ack.day.isoformat()))
        if acks:
            with self.store.writing() as conn:
                conn.executemany("UPDATE rollup_outbox SET acked = MAX(acked, ?) WHERE site = ? AND day = ?", acks)
                # The aggregator holds a higher revision than ours (our count restarted,
                # e.g. a restored backup): recompute and send above it, or it would be ignored.
                conn.executemany(
                    "UPDATE rollup_outbox SET revision = ?, digest = NULL, dirty = 1 WHERE site = ? AND day = ? AND revision < ?",
                    [(revision, site, day, revision) for revision, site, day in acks],
                )
            self.acks += len(acks)

    def _mark_dirty(self) -> None:
        reader = self.store.reader()
        try:
            reader.execute("BEGIN")
            row = reader.execute("SELECT value FROM rollup_meta WHERE name = 'watermark'").fetchone()
            if row is None:
                # First start: every day with tickets or ratings, read from the tickets
                # (walking a year of events one ticket at a time would take far longer).
                dirty = {(site, day) for site, day in reader.execute(
                    "SELECT DISTINCT site, local_day FROM tickets WHERE local_day IS NOT NULL")}
                for site, ts_at in reader.execute("SELECT site, ts_at FROM events WHERE type = 'feedback.given'"):
                    dirty.add((site, local_day_of(ts_at, self.rules.get(site))))
                watermark = reader.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0]
            else:
                dirty, watermark = dirty_site_days(reader, self.rules, int(row[0]))
        finally:
            reader.rollback()
            reader.close()
        dirty = {(site, day) for site, day in dirty if site in self.sites}
        with self.store.writing() as conn:
            conn.executemany(
                "INSERT INTO rollup_outbox (site, day, dirty) VALUES (?, ?, 1) ON CONFLICT (site, day) DO UPDATE SET dirty = 1",
                sorted(dirty),
            )
            conn.execute("INSERT OR REPLACE INTO rollup_meta (name, value) VALUES ('watermark', ?)", (str(watermark),))

    def _compute_some(self) -> bool:
        """Compute up to COMPUTE_CHUNK finished dirty days; True when more may wait."""
        now = self.clock()
        reader = self.store.reader()
        try:
            reader.execute("BEGIN")  # one snapshot: the rows and the digests agree
            candidates = reader.execute(
                "SELECT site, day, revision, digest FROM rollup_outbox WHERE dirty = 1 ORDER BY day, site"
            ).fetchall()
            due = [c for c in candidates if c[1] < site_today(self.sites[c[0]], now)][:COMPUTE_CHUNK]
            results: list[tuple[str, str, int, str | None, bytes | None]] = []
            for site, day, revision, digest in due:
                rows = day_rows(reader, self.rules, site, day)
                rollup = DayRollup(site=site, day=date.fromisoformat(day), revision=max(1, revision), province=self.province,
                                   site_name=self.sites[site].name, rows=rows)
                new_digest = hashlib.sha256(rollup.content().encode()).hexdigest()
                if new_digest == digest:
                    results.append((site, day, revision, digest, None))
                else:
                    revised = rollup.model_copy(update={"revision": revision + 1})
                    results.append((site, day, revision + 1, new_digest, revised.payload()))
        finally:
            reader.rollback()
            reader.close()
        if not results:
            return False
        with self.store.writing() as conn:
            for site, day, revision, digest, payload in results:
                if payload is None:
                    conn.execute("UPDATE rollup_outbox SET dirty = 0 WHERE site = ? AND day = ?", (site, day))
                else:
                    conn.execute(
                        "UPDATE rollup_outbox SET dirty = 0, revision = ?, digest = ?, payload = ?, sent_at = NULL "
                        "WHERE site = ? AND day = ?", (revision, digest, payload, site, day),
                    )
                    self.revisions += 1
        return len(due) == COMPUTE_CHUNK

    def _publish_due(self) -> None:
        wall = time.time()
        if self._resend_all.is_set():
            self._resend_all.clear()
            cutoff = float("inf")
        else:
            cutoff = wall - self.resend_s
        reader = self.store.reader()
        try:
            due = reader.execute(
                "SELECT site, day, payload FROM rollup_outbox WHERE revision > acked AND payload IS NOT NULL "
                "AND (sent_at IS NULL OR sent_at <= ?) ORDER BY day, site", (cutoff,),
            ).fetchall()
        finally:
            reader.close()
        if not due:
            return
        for site, day, payload in due:
            self.link.publish(topics.rollup(site, day), payload, qos=1)
        self.published += len(due)
        with self.store.writing() as conn:
            conn.executemany("UPDATE rollup_outbox SET sent_at = ? WHERE site = ? AND day = ?",
                             [(wall, site, day) for site, day, _ in due])

    def backlog(self) -> dict[str, int]:
        """Days not yet acknowledged and days still to compute (for /healthz)."""
        reader = self.store.reader()
        try:
            unacked, dirty = reader.execute(
                "SELECT COALESCE(SUM(revision > acked AND payload IS NOT NULL), 0), COALESCE(SUM(dirty), 0) FROM rollup_outbox"
            ).fetchone()
        finally:
            reader.close()
        return {"unacknowledged_days": int(unacked), "days_to_compute": int(dirty)}
