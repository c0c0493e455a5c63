"""The national program as one machine: the store's migrations, the aggregator and the
web app, built from settings and started in one order. No uvicorn here.

Imports protocol and national.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from national.aggregator import Aggregator
from national.settings import NationalSettings
from national.store import NationalStore
from national.web import create_app
from protocol import clock as project_clock

# Days in the national pages' default period follow Vietnam's one time zone.
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass
class National:
    settings: NationalSettings
    aggregator: Aggregator
    app: FastAPI

    @classmethod
    def build(cls, settings: NationalSettings, now: Any = None) -> National:
        clock = now or project_clock.now
        dsn = settings.aggregator.dsn.get_secret_value()
        store = NationalStore(dsn)
        try:
            store.migrate()
        finally:
            store.close()
        aggregator = Aggregator(dsn, settings.broker, settings.aggregator.client_id, settings.aggregator.batch_max,
                                settings.aggregator.batch_window_ms / 1000)

        def today() -> date:
            moment: datetime = clock()
            return moment.astimezone(ZONE).date()

        def health() -> dict[str, Any]:
            connected = aggregator.link.connected.is_set()
            return {
                "ok": connected and aggregator.commit_failures == 0,
                "broker": "connected" if connected else "disconnected",
                "stored": aggregator.stored, "ignored": aggregator.ignored, "rejected": aggregator.rejected,
                "commit_failures": aggregator.commit_failures, "last_commit_at": aggregator.last_commit_at,
            }

        app = create_app(settings, lambda: NationalStore(dsn), today, health)
        return cls(settings, aggregator, app)

    def start(self) -> None:
        self.aggregator.start()

    def stop(self) -> None:
        self.aggregator.stop()
