"""Test support for bookings: the test site with bookings and online numbers on, and
its server settings. Test support, not product code."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.support import RunningBroker, server_settings_dict

BOOKING = {
    "enabled": True, "online_numbers": True, "slot_minutes": 30, "per_slot": 5, "service_minutes": 5,
    "counter_share": 1.0, "days_ahead": 7, "cutoff_minutes": 60, "max_consecutive": 2, "grace_minutes": 10,
}


def booking_settings(broker: RunningBroker, db: Path, booking: dict[str, Any] | None = None, **server: Any) -> ServerSettings:
    data = server_settings_dict(broker, db, **server)
    for site in data["sites"]:
        site["booking"] = {**BOOKING, **(booking or {})}
    return load_settings(ServerSettings, None, **data)


def slot_key(moment: datetime) -> str:
    """The `YYYY-MM-DDTHH:MM` of a slot start in Hanoi (UTC+7, the test site's zone)."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%dT%H:%M")


def tomorrow_at(now: datetime, hour: int) -> datetime:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    day = now.astimezone(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=zone)
