"""The server's running parts, built from settings and started by the app's lifespan:
the event store, the MQTT ingest, and hooks other parts (dispatch, alerts) attach to.
No FastAPI here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from protocol import clock
from server.mqtt.ingest import Ingestor
from server.settings import ServerSettings
from server.storage.events import EventStore

log = logging.getLogger(__name__)

# A device whose clock differs from the server's by more than this is listed in /healthz.
SKEW_LIMIT_S = 60.0


@dataclass
class Runtime:
    settings: ServerSettings
    store: EventStore
    ingestor: Ingestor
    started: bool = False
    # Services attach here by name (e.g. "dispatcher"), so routes can find them.
    services: dict[str, Any] = field(default_factory=dict)
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: ServerSettings) -> "Runtime":
        store = EventStore(settings.server.database, settings.sites)
        broker = settings.broker
        ingestor = Ingestor(
            store,
            broker,
            client_id=settings.server.client_id,
            batch_max=settings.server.batch_max,
            batch_window_s=settings.server.batch_window_ms / 1000,
        )
        runtime = cls(settings=settings, store=store, ingestor=ingestor)
        # The one clock of the server's parts: real time unless a demo, a live simulation or
        # a test run moves it (XEPHANG_CLOCK_*); a simulation or a test may replace it.
        runtime.services["clock"] = clock.now
        return runtime

    def start(self) -> None:
        self.ingestor.start()
        self.started = True

    def stop(self) -> None:
        for hook in reversed(self.on_stop):
            try:
                hook()
            except Exception:  # noqa: BLE001 - stopping must finish
                log.exception("stop hook failed")
        self.ingestor.stop()
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
