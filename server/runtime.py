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

from protocol import clock as project_clock
from server.desk.dayend import DayEnd
from server.desk.dispatch import Dispatcher
from server.desk.statefeed import StateFeed
from server.mqtt.ingest import Ingestor
from server.mqtt.keypad import KeypadCommands
from server.notify.notifier import Notifier
from server.settings import ServerSettings
from server.stats.alerts import AlertMonitor
from server.stats.measures import rules_from_sites
from server.stats.store import BackgroundRefresh, StatsStore
from server.storage.events import EventStore

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
    # Only on a server that dispatches at least one site:
    keypads: KeypadCommands | None = None
    dayend: DayEnd | None = None
    notifier: Notifier | None = None  # messages to citizens (server/notify)
    parts: list[Part] = field(default_factory=list)
    started: bool = False

    @property
    def states(self) -> StateFeed:
        return self.dispatcher.states

    @classmethod
    def build(cls, settings: ServerSettings, clock: Clock | None = None) -> Runtime:
        now: Clock = clock or project_clock.now
        store = EventStore(settings.server.database, settings.sites)
        ingestor = Ingestor(
            store,
            settings.broker,
            client_id=settings.server.client_id,
            batch_max=settings.server.batch_max,
            batch_window_s=settings.server.batch_window_ms / 1000,
        )

        def publish(topic: str, payload: bytes, retain: bool = False) -> Any:
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
        keypads = dayend = None
        if dispatcher.dispatch_sites:
            keypads = KeypadCommands(dispatcher, settings.broker, settings.server.client_id)
            dayend = DayEnd(dispatcher, ready=ingestor.caught_up)
        notifier = None
        if dispatcher.dispatch_sites and settings.notify.enabled:
            notifier = Notifier(settings.notify, settings.sites, dispatcher.dispatch_sites, store.reader,
                                settings.server.database, now)

        # Who reacts to an ingested batch, in this order: the dispatcher (its turns and the
        # retained board/queue states), then the statistics (pre-aggregates, alerts).
        ingestor.listeners.append(dispatcher.on_ingested)
        ingestor.listeners.append(lambda _result: (refresher.poke(), alerts.poke()))
        # ... then the notifier, which only marks sites to look at (it never makes ingest wait).
        if notifier is not None:
            ingestor.listeners.append(notifier.on_ingested)

        runtime = cls(settings=settings, clock=now, store=store, ingestor=ingestor, dispatcher=dispatcher,
                      stats=stats, refresher=refresher, alerts=alerts, keypads=keypads, dayend=dayend,
                      notifier=notifier)
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
            *([Part("notifier", notifier.start, notifier.stop)] if notifier is not None else []),
            Part("ingest", ingestor.start, ingestor.stop),
        ]
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

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> Any:
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
        }
