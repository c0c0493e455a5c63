"""A real server on a real port (uvicorn in a thread) for browser tests, and helpers to
issue tickets through the broker as a kiosk would. Test support, not product code."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import free_port
from protocol import clock as project_clock
from protocol import topics
from protocol.events import make_event
from server.web.app import create_app
from tests.support import SITE_ID, app_on_clock, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


class LiveServer:
    def __init__(self, settings: Any, clock: Any = None, clock_rate: float = 1.0):
        """`clock`: the server's clock (tests.support.office_clock), default the project clock;
        `clock_rate`: how many of its seconds pass per real second."""
        self.app = app_on_clock(settings, clock, clock_rate) if clock else create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout_s=20)
        wait_until(lambda: self.runtime.ingestor.link.connected.is_set(), timeout_s=20)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class Kiosk:
    """Publishes ticket.issued like a kiosk, with the kiosk's own broker account."""

    def __init__(self, broker: Any, user: str = "kiosk-1", site: str = SITE_ID, clock: Any = None):
        self.site, self.seq, self.clock = site, 0, clock or project_clock.now
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(user, broker.passwords[user])
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def issue(self, number: str, service: str, priority: str | None = None, at: datetime | None = None) -> str:
        self.seq += 1
        ticket_id = str(uuid.uuid4())
        event = make_event("ticket.issued", site=self.site, source="kiosk-1", seq=self.seq,
                           ts=at or self.clock(),  # the clock the server follows
                           data={"ticket_id": ticket_id, "number": number, "service": service, "priority": priority})
        self.client.publish(topics.event(self.site, event.type), event.to_json(), qos=1).wait_for_publish(10)
        return ticket_id

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained(broker: Any, topic: str, user: str = "display-1", timeout_s: float = 5.0) -> dict | None:
    """Read a retained message the way a display starting up would: a fresh subscription."""
    got: list[dict] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ret-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, broker.passwords[user])
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, 1)
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload)) if m.retain else None
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    deadline = time.monotonic() + timeout_s
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else None
