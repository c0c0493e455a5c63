"""The server as one machine: every part it runs, built from settings in `Runtime.build`,
started and stopped in one ordered list, and the one place where listeners subscribe to
ingest. Read this file to see who reacts to an ingested batch. No FastAPI here.

Imports storage, mqtt, desk, stats and notify; nothing imports this module but the web layer,
the server command and tools that run a server in-process (demo, live simulation, tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paho.mqtt.client import MQTTMessageInfo

from protocol import clock as project_clock
from protocol import topics
from server.booking.service import Bookings, NoShowSweep
from server.desk.dayend import DayEnd
from server.desk.dispatch import Dispatcher
from server.desk.statefeed import StateFeed
from server.mqtt.ingest import Ingestor
from server.mqtt.keypad import KeypadCommands
from server.notify.notifier import Notifier
from server.notify.reminders import BookingReminders
from server.settings import ServerSettings
from server.stats.alerts import AlertMonitor
from server.stats.measures import rules_from_sites
from server.stats.report_archive import ReportArchive
from server.stats.rollup import RollupPublisher
from server.stats.store import BackgroundRefresh, StatsStore
from server.storage.events import BatchResult, EventStore

log = logging.getLogger(__name__)

# A device whose clock differs from the server's by more than this is listed in /healthz.
SKEW_LIMIT_S = 60.0

Clock = Callable[[], datetime]


@dataclass
class Part:
    """One running part: how to start it and how to stop it."""

    name: str
    start: Callable[[], object]
    stop: Callable[[], object]


@dataclass
class Runtime:
    settings: ServerSettings
    # The one clock of every part: real time unless a demo, a live simulation or a test
    # moves it (protocol/clock.py, or a clock given to `build`).
    clock: Clock
    store: EventStore
    ingestor: Ingestor
    dispatcher: Dispatcher
    stats: StatsStore
    refresher: BackgroundRefresh
    alerts: AlertMonitor
    bookings: Bookings
    booking_sweep: NoShowSweep
    reports: ReportArchive
    # Only on a server that dispatches at least one site:
    keypads: KeypadCommands | None = None
    dayend: DayEnd | None = None
    notifier: Notifier | None = None  # messages to citizens (server/notify)
    reminders: BookingReminders | None = None  # booking reminders, with the notifier
    # Only with [national] province set: daily roll-ups to the national aggregator.
    rollups: RollupPublisher | None = None
    parts: list[Part] = field(default_factory=list)
    started: bool = False
    # Simulated seconds per real second of `clock` (1 in production): pages that tick in the
    # browser between server updates advance at this rate (the demo runs a day in minutes).
    clock_rate: float = 1.0

    @property
    def states(self) -> StateFeed:
        return self.dispatcher.states

    @classmethod
    def build(cls, settings: ServerSettings, clock: Clock | None = None, clock_rate: float | None = None) -> Runtime:
        now: Clock = clock or project_clock.now
        if clock_rate is None:
            clock_rate = project_clock.rate() if clock is None else 1.0
        store = EventStore(settings.server.database, settings.sites)
        ingestor = Ingestor(
            store,
            settings.broker,
            client_id=settings.server.client_id,
            batch_max=settings.server.batch_max,
            batch_window_s=settings.server.batch_window_ms / 1000,
        )

        def publish(topic: str, payload: bytes, retain: bool = False) -> MQTTMessageInfo:
            return ingestor.link.publish(topic, payload, qos=1, retain=retain)

        dispatcher = Dispatcher(
            store, settings.sites, settings.server.dispatch_sites, settings.server.client_id, publish, clock=now,
        )
        stats = StatsStore(store, rules_from_sites(settings.sites))
        refresher = BackgroundRefresh(stats)
        alerts = AlertMonitor(
            settings.sites, store.reader, lambda topic, payload: publish(topic, payload, retain=False),
            clock=lambda: now().timestamp(),
        )
        def announce(events: list[Any]) -> None:
            # Tickets and check-ins made by the booking rules: on the wire, and into the
            # queue state and the statistics, like a kiosk's ticket after ingest.
            for event in events:
                publish(topics.event(event.site, event.type), event.to_json())
                if event.site in dispatcher.dispatch_sites:
                    dispatcher.states.request(event.site)
            refresher.poke()

        bookings = Bookings(store, settings.sites, settings.server.client_id, now, announce)
        booking_sweep = NoShowSweep(bookings)
        # Monthly report packs, kept next to the database (docs/reports.md).
        reports = ReportArchive(settings.server.database.parent / "reports", stats, settings.sites, now)
        keypads = dayend = None
        if dispatcher.dispatch_sites:
            keypads = KeypadCommands(dispatcher, settings.broker, settings.server.client_id)
            # once a simulated minute (a real minute in production; a second in a x60 demo)
            dayend = DayEnd(dispatcher, interval_s=max(1.0, 60.0 / clock_rate), ready=ingestor.caught_up)
        notifier = None
        if dispatcher.dispatch_sites and settings.notify.enabled:
            notifier = Notifier(settings.notify, settings.sites, dispatcher.dispatch_sites, store.reader,
                                settings.server.database, now)
        reminders = None
        if notifier is not None:
            # The day-before and 30-minute reminders of appointments (issue 18), told by the
            # booking rules after each booking, move, cancellation and check-in.
            reminders = BookingReminders(notifier, bookings)
            bookings.listeners.append(reminders.on_change)
            bookings.ticket_hooks.append(reminders.carry)  # the booking's phone goes with its ticket

        # Who reacts to an ingested batch, in this order: the dispatcher (its turns and the
        # retained board/queue states), then the statistics (pre-aggregates, alerts).
        ingestor.listeners.append(dispatcher.on_ingested)
        def poke_stats(_result: BatchResult) -> None:
            refresher.poke()
            alerts.poke()

        ingestor.listeners.append(poke_stats)
        # ... then the notifier, which only marks sites to look at (it never makes ingest wait).
        if notifier is not None:
            ingestor.listeners.append(notifier.on_ingested)

        rollups = None
        if settings.national.province:
            rollups = RollupPublisher(
                store, settings.sites, rules_from_sites(settings.sites), settings.national.province, settings.broker,
                settings.server.client_id, now, interval_s=settings.national.interval_s, resend_s=settings.national.resend_s,
            )

        runtime = cls(settings=settings, clock=now, store=store, ingestor=ingestor, dispatcher=dispatcher,
                      stats=stats, refresher=refresher, alerts=alerts, bookings=bookings, booking_sweep=booking_sweep,
                      reports=reports, keypads=keypads, dayend=dayend, notifier=notifier,
                      rollups=rollups, clock_rate=clock_rate, reminders=reminders)
        # Started in this order, stopped in the reverse one; the ingest link comes last so
        # that every listener is running before the first batch arrives.
        runtime.parts = [Part("dispatcher", dispatcher.launch, dispatcher.stop)]
        if keypads is not None:
            runtime.parts.append(Part("keypad commands", keypads.start, keypads.stop))
        if dayend is not None:
            runtime.parts.append(Part("day-end", dayend.start, dayend.stop))
        runtime.parts += [
            Part("statistics store", lambda: None, stats.close),
            # after a restart, bring the pre-aggregates up to date at once
            Part("statistics refresh", lambda: refresher.start().poke(), refresher.stop),
            Part("alerts", alerts.start, alerts.stop),
            Part("booking no-show sweep", booking_sweep.start, booking_sweep.stop),
            *([Part("notifier", notifier.start, notifier.stop)] if notifier is not None else []),
            *([Part("booking reminders", reminders.catch_up, lambda: None)] if reminders is not None else []),
            Part("monthly report packs", reports.start, reports.stop),
        ]
        if rollups is not None:
            runtime.parts.append(Part("national roll-ups", rollups.start, rollups.stop))
        runtime.parts.append(Part("ingest", ingestor.start, ingestor.stop))
        return runtime

    def start(self) -> None:
        for part in self.parts:
            part.start()
        self.started = True

    def stop(self) -> None:
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - stopping must finish
                log.exception("stopping %s failed", part.name)
        self.store.close()
        self.started = False

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> MQTTMessageInfo:
        return self.ingestor.link.publish(topic, payload, qos=1, retain=retain)

    def health(self) -> dict[str, Any]:
        database = "ok"
        skewed: list[dict[str, Any]] = []
        try:
            conn = self.store.reader()
            try:
                conn.execute("SELECT 1 FROM events LIMIT 1").fetchall()
                skewed = [
                    {"site": site, "device": device, "skew_s": round(skew_s, 1)}
                    for site, device, skew_s in conn.execute(
                        "SELECT site, device, skew_s FROM devices WHERE ABS(skew_s) > ? ORDER BY site, device",
                        (SKEW_LIMIT_S,),
                    )
                ]
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            database = f"error: {exc}"
        if self.store.last_error:
            database = f"error: {self.store.last_error}"
        connected = self.ingestor.link.connected.is_set()
        return {
            "ok": database == "ok" and connected,
            "database": database,
            "broker": "connected" if connected else "disconnected",
            "events": self.store.counts(),
            "ingest": {
                "pending": self.ingestor.pending,
                "last_commit_at": self.ingestor.last_commit_at,
                "commit_failures": self.ingestor.commit_failures,
                "callback_errors": self.ingestor.link.callback_errors,
            },
            # Devices whose clock is off by more than SKEW_LIMIT_S (docs/reliability.md).
            "clock_skew": {"limit_s": SKEW_LIMIT_S, "devices": skewed},
            # Days the national aggregator has not acknowledged yet (docs/national.md).
            "national": self.rollups.backlog() if self.rollups is not None else None,
        }
