"""Test support for the notifier: a real event store (SQLite file) with the test site,
tickets issued and called through `EventStore.ingest` as the broker would deliver them,
and a notifier on the same files. Data is stamped on the test's own clock."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from protocol import topics
from protocol.events import make_event
from protocol.sites import Site
from server.notify.notifier import Notifier
from server.settings import NotifySection
from server.storage.events import BatchResult, EventStore, Incoming
from tests.support import SITE_ID, site_dict


def site() -> Site:
    return Site.model_validate(site_dict())


class Office:
    """An event store and a kiosk/desk that write into it, on `clock`."""

    def __init__(self, directory: Path, clock: Any):
        self.db = directory / "events.db"
        self.store = EventStore(self.db, [site()])
        self.clock = clock
        self.seq = 0
        self.ids: dict[str, str] = {}

    def _put(self, kind: str, source: str, data: dict[str, Any], at: datetime | None = None) -> BatchResult:
        self.seq += 1
        event = make_event(kind, site=SITE_ID, source=source, seq=self.seq, data=data, ts=at or self.clock())
        return self.store.ingest([Incoming(topics.event(SITE_ID, kind), event.to_json(), 0.0)])

    def issue(self, number: str, service: str = "tu-phap-ho-tich", back_s: float = 0.0) -> BatchResult:
        self.ids[number] = str(uuid.uuid4())
        data = {"ticket_id": self.ids[number], "number": number, "service": service, "priority": None}
        return self._put("ticket.issued", "kiosk-1", data, self.clock() - timedelta(seconds=back_s))

    def call(self, number: str, counter: str = "quay-1", kind: str = "ticket.called") -> BatchResult:
        return self._put(kind, "server", {"ticket_id": self.ids[number], "number": number, "counter": counter})

    def close(self) -> None:
        self.store.close()


def notifier(office: Office, use: dict[str, Any] | None = None, **settings: Any) -> Notifier:
    """A notifier on the office's files; `use` replaces the channels built from settings."""
    config = NotifySection(**({"channels": ["page", "file"]} | settings))
    return Notifier(config, [site()], [SITE_ID], office.store.reader, office.db, office.clock,
                    channels=use, backoff_first_s=0.05)


def file_lines(office: Office) -> list[dict[str, Any]]:
    path = office.db.with_name("events-messages.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
