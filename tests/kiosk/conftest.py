"""Kiosk test fixtures: settings built from tests.support, a server-side inbox on the
real broker (paho, user "server", persistent session, QoS 1) that dedupes by event id."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from kiosk.settings import KioskSettings
from protocol import topics
from protocol.events import parse_event
from protocol.settings import BrokerSettings, load_settings
from tests.support import SITE_ID, RunningBroker, settings_dict

BUTTON_PINS = {"tu-phap-ho-tich": 17, "chung-thuc": 27, "dat-dai": 22}
LED_PINS = {"ready": 5, "printing": 6, "fault": 13, "buzzer": 19}


def kiosk_dict(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "site": SITE_ID,
        "device_id": "kiosk-1",
        "buttons": dict(BUTTON_PINS),
        "priority_pin": 26,
        "leds": dict(LED_PINS),
        "beep": True,
        "pin_factory": "mock",
        "printer": {"transport": "fake"},
        "data_dir": str(tmp_path / "kiosk-data"),
        "public_url": "http://xephang.test:8000",
        "printer_poll_s": 60,
    }
    section.update(overrides)
    return section


def make_settings(tmp_path: Path, broker: BrokerSettings | None = None, site_changes: dict[str, Any] | None = None,
                  **overrides: Any) -> KioskSettings:
    data = settings_dict(broker)
    data["sites"][0].update(site_changes or {})
    data["kiosk"] = kiosk_dict(tmp_path, **overrides)
    return load_settings(KioskSettings, None, **data)


def write_config(tmp_path: Path, broker: RunningBroker | None, **overrides: Any) -> Path:
    """The same settings as a TOML file, for the CLI and subprocess tests."""
    lines = []
    if broker is not None:
        lines += ["[broker]", 'host = "127.0.0.1"', f"port = {broker.port}", 'username = "kiosk-1"',
                  f'password = "{broker.passwords["kiosk-1"]}"', ""]
    section = kiosk_dict(tmp_path, **overrides)
    lines.append("[kiosk]")
    tables: list[str] = []
    for key, value in section.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append(f"[kiosk.{key}]")
            tables += [f"{k} = {_toml(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {_toml(value)}")
    lines += tables
    from tests.support import site_dict

    path = tmp_path / "kiosk.toml"
    path.write_text("\n".join(lines) + "\n" + _sites_toml([site_dict()]), encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sites_toml(sites: list[dict[str, Any]]) -> str:
    out = []
    for site in sites:
        out.append("[[sites]]")
        for key in ("id", "name", "timezone"):
            out.append(f"{key} = {_toml(site[key])}")
        out.append("[sites.hours]")
        out += [f"{k} = {_toml(v)}" for k, v in site["hours"].items()]
        for service in site["services"]:
            out.append("[[sites.services]]")
            out += [f"{k} = {_toml(v)}" for k, v in service.items()]
        for counter in site["counters"]:
            out.append("[[sites.counters]]")
            out += [f"{k} = {_toml(v)}" for k, v in counter.items()]
        for priority in site["priorities"]:
            out.append("[[sites.priorities]]")
            out += [f"{k} = {_toml(v)}" for k, v in priority.items()]
    return "\n".join(out) + "\n"


class ServerInbox:
    """The receiving side: a persistent QoS 1 subscriber as user "server"."""

    def __init__(self, broker: RunningBroker, client_id: str = "test-server-inbox"):
        self.events: list[Any] = []  # first delivery of each event id, in arrival order
        self.deliveries = 0
        self.statuses: dict[str, dict[str, Any]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
        client.username_pw_set("server", broker.passwords["server"])
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = lambda *a: self.connected.clear()
        self.client = client
        client.connect_async("127.0.0.1", broker.port)
        client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        client.subscribe([(topics.ALL_EVENTS, 1), (f"{topics.PREFIX}/+/devices/+/status", 1)])
        self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        import json

        if "/devices/" in message.topic:
            with self._lock:
                self.statuses[message.topic] = json.loads(message.payload)
            return
        event = parse_event(message.payload)
        with self._lock:
            self.deliveries += 1
            if str(event.id) not in self._seen:
                self._seen.add(str(event.id))
                self.events.append(event)

    def issued(self) -> list[Any]:
        with self._lock:
            return [e for e in self.events if e.type == "ticket.issued"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def inbox(broker: RunningBroker):
    box = ServerInbox(broker)
    if not box.connected.wait(10):
        raise AssertionError("the server inbox could not connect to the broker")
    yield box
    box.close()


def publish_as_server(broker: RunningBroker, topic: str, payload: bytes, retain: bool = True) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-server-publisher", protocol=mqtt.MQTTv311)
    client.username_pw_set("server", broker.passwords["server"])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
