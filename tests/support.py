"""Test support: a real Mosquitto per test from xephang's generated config, and a
small site configuration. Used by fixtures in conftest.py and by bench/."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from datetime import time as day_time
from pathlib import Path
from typing import Any

from broker.config import BrokerProcess, BrokerTuning, free_port, write_config
from protocol.settings import BrokerSettings, Device

SITE_ID = "test-site"
OTHER_SITE_ID = "other-site"

DEVICES = [
    Device(id="server", role="server"),
    Device(id="kiosk-1", role="kiosk", site=SITE_ID),
    Device(id="kiosk-2", role="kiosk", site=OTHER_SITE_ID),
    Device(id="display-1", role="display", site=SITE_ID),
    Device(id="keypad-1", role="keypad", site=SITE_ID, counter="quay-1"),
    Device(id="feedback-1", role="feedback", site=SITE_ID, counter="quay-1"),
]


def password_for(device_id: str) -> str:
    return f"{device_id}-secret-pw"


def site_dict(site_id: str = SITE_ID, name: str = "Trung tâm Phục vụ hành chính công xã Thử Nghiệm") -> dict[str, Any]:
    return {
        "id": site_id,
        "name": name,
        "timezone": "Asia/Ho_Chi_Minh",
        "hours": {"weekdays": [0, 1, 2, 3, 4, 5, 6], "open": "00:00:00", "close": "23:59:59", "last_ticket": "23:59:00"},
        "services": [
            {"id": "tu-phap-ho-tich", "name": "Tư pháp - Hộ tịch", "name_en": "Civil status", "letter": "A"},
            {"id": "chung-thuc", "name": "Chứng thực", "name_en": "Certification", "letter": "B"},
            {"id": "dat-dai", "name": "Đất đai", "name_en": "Land", "block": [3001, 3999], "target_eligible": False},
        ],
        "counters": [
            {"id": "quay-1", "number": 1, "name": "Quầy 1", "services": ["tu-phap-ho-tich", "chung-thuc"]},
            {"id": "quay-2", "number": 2, "name": "Quầy 2", "services": ["chung-thuc", "tu-phap-ho-tich"]},
            {"id": "quay-3", "number": 3, "name": "Quầy 3", "services": ["dat-dai"]},
        ],
        "priorities": [{"id": "elderly", "name": "Người cao tuổi"}],
    }


def settings_dict(broker: BrokerSettings | None = None) -> dict[str, Any]:
    """A whole configuration (two sites, the test devices) as a dict for load_settings."""
    data: dict[str, Any] = {
        "sites": [site_dict(), site_dict(OTHER_SITE_ID, "Điểm tiếp nhận phường Khác")],
        "devices": [d.model_dump() for d in DEVICES],
    }
    if broker is not None:
        data["broker"] = broker.model_dump()
        data["broker"]["password"] = broker.password.get_secret_value() if broker.password else None
    return data


@dataclass
class RunningBroker:
    """A real Mosquitto from `xephang broker config`, restartable within a test."""

    directory: Path
    port: int
    process: BrokerProcess
    passwords: dict[str, str] = field(default_factory=dict)

    def settings_for(self, user: str, password: str | None = None) -> BrokerSettings:
        return BrokerSettings(
            host="127.0.0.1",
            port=self.port,
            username=user,
            password=password if password is not None else self.passwords.get(user, "wrong"),
        )

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def restart(self) -> None:
        self.process.stop()
        self.process.start()


def start_broker(directory: Path, devices: list[Device] = DEVICES, tuning: BrokerTuning = BrokerTuning()) -> RunningBroker:
    port = free_port()
    passwords = {d.id: password_for(d.id) for d in devices}
    conf = write_config(directory, devices, passwords, port, tuning=tuning, run_as_user=getpass.getuser())
    process = BrokerProcess(conf, port).start()
    return RunningBroker(directory, port, process, passwords)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a server, kiosk or board a test starts: this one without the
    XEPHANG_* settings overrides, but with the project clock (XEPHANG_CLOCK_*), so the
    child runs on the same (possibly moved) time as the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XEPHANG_") or k.startswith("XEPHANG_CLOCK_")}
    env.update(extra)
    return env


def clock_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` now and runs at real speed: the server's clock in a test
    whose data is pinned to a date (pin the clock where the data is pinned)."""
    from protocol import clock

    return clock.scaled_clock(start, time.time(), 1.0)


def office_clock(hour: int = 10) -> Callable[[], datetime]:
    """The project clock's date (real, or the one a test run moved to) at `hour`:00 in
    Hanoi, running at real speed: for a test whose data is built relative to "now" and
    must not straddle midnight (a ticket 48 minutes old at 00:20 is yesterday's, and
    day-end closes it). The date and weekday still follow the project clock."""
    from protocol import clock

    zone = timezone(timedelta(hours=7))
    day = clock.now().astimezone(zone).date()
    return clock_from(datetime.combine(day, day_time(hour), zone))


def app_on_clock(settings: Any, now: Callable[[], datetime], clock_rate: float = 1.0) -> Any:
    """The real app whose server parts (dispatch, day-end, alerts, stats' today) all read
    `now` instead of the project clock; `clock_rate`: how fast `now` runs (pages tick at it)."""
    from server.runtime import Runtime
    from server.web.app import create_app

    runtime = Runtime.build(settings, clock=now, clock_rate=clock_rate)
    return create_app(settings, runtime=runtime)


def wait_until(predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def server_settings_dict(broker: RunningBroker, database: Path, **server: Any) -> dict[str, Any]:
    data = settings_dict(broker.settings_for("server"))
    data["server"] = {"database": str(database), "dispatch_sites": [SITE_ID], **server}
    return data


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    import tomli_w

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    path.write_text(tomli_w.dumps(clean(data)), encoding="utf-8")
    return path
