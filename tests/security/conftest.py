"""A running app (real broker, real SQLite) with accounts of every role, for the
security tests. Passwords and tokens are kept here so tests can look for leaks."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from server.web.auth import create_token, create_user
from tests.reliability.support import publisher
from tests.support import OTHER_SITE_ID, SITE_ID, server_settings_dict, wait_until

ACCOUNTS = {
    # name: (role, sites, counters, password)
    "can-bo-a": ("desk", [SITE_ID], ["quay-1"], "Mật-khẩu-bàn-A-1"),
    "can-bo-b": ("desk", [OTHER_SITE_ID], ["quay-1"], "Mật-khẩu-bàn-B-2"),
    "lanh-dao": ("manager", [SITE_ID], [], "Mật-khẩu-lãnh-đạo-3"),
    "quan-tri": ("admin", [], [], "Mật-khẩu-quản-trị-4"),
}


@dataclass
class Office:
    client: TestClient
    tokens: dict[str, str]
    tickets: list[str] = field(default_factory=list)  # waiting tickets at SITE_ID
    database: object = None

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def issue_tickets(broker, runtime, count: int, site: str = SITE_ID, start_seq: int = 1) -> list[str]:
    client = publisher(broker)
    ids = []
    for i in range(count):
        ticket = uuid.uuid4()
        event = make_event("ticket.issued", site=site, source="kiosk-1" if site == SITE_ID else "kiosk-2",
                           seq=start_seq + i, data={"ticket_id": ticket, "number": f"A{start_seq + i:03d}",
                                                    "service": "chung-thuc", "priority": None})
        client.publish(topics.event(site, event.type), event.to_json(), qos=1).wait_for_publish(10)
        ids.append(str(ticket))
    before = runtime.store.counts()["stored"]
    wait_until(lambda: runtime.store.counts()["stored"] >= count, 10)
    client.loop_stop()
    del before
    return ids


@pytest.fixture
def office(broker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    database = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, database))
    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        tokens = {}
        for name, (role, sites, counters, password) in ACCOUNTS.items():
            create_user(runtime.store, name, password, role, sites, counters)
            tokens[name] = create_token(runtime.store, name)
        tickets = issue_tickets(broker, runtime, 4)
        yield Office(client, tokens, tickets, database)


def login(client: TestClient, username: str, password: str) -> str:
    """Log in through the form (with its CSRF field); returns the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    desk = client.get("/desk")
    found = re.search(r'name="csrf-token" content="([^"]+)"', desk.text)
    return found.group(1) if found else ""
