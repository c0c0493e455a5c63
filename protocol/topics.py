"""Topic names of wire contract v1: builders and one parser. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "xephang/v1"
_SLUG = re.compile(r"^[a-z0-9-]{1,40}$")
_EVENT_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")


class InvalidTopic(ValueError):
    """A topic outside the v1 contract."""


def _slug(value: str, what: str) -> str:
    if not _SLUG.match(value or ""):
        raise InvalidTopic(f"{what} {value!r} is not a slug [a-z0-9-]{{1,40}}")
    return value


def event(site: str, event_type: str) -> str:
    return f"{PREFIX}/{_slug(site, 'site')}/events/{event_type}"


def command(site: str, counter: str) -> str:
    return f"{PREFIX}/{_slug(site, 'site')}/commands/{_slug(counter, 'counter')}"


def reprint(site: str, kiosk: str) -> str:
    """A desk asks the kiosk that printed a ticket to print it again (server -> that kiosk)."""
    return f"{PREFIX}/{_slug(site, 'site')}/devices/{_slug(kiosk, 'device')}/reprint"


def board_state(site: str) -> str:
    return f"{PREFIX}/{_slug(site, 'site')}/state/board"


def queue_state(site: str) -> str:
    return f"{PREFIX}/{_slug(site, 'site')}/state/queue"


def alert(site: str) -> str:
    """Alerts for other systems (an optional v1 addition, not retained)."""
    return f"{PREFIX}/{_slug(site, 'site')}/alerts"


def device_status(site: str, device: str) -> str:
    return f"{PREFIX}/{_slug(site, 'site')}/devices/{_slug(device, 'device')}/status"


ALL_EVENTS = f"{PREFIX}/+/events/#"


def rollup(site: str, day: str) -> str:
    """A reception point's daily roll-up, province server -> national aggregator (QoS 1)."""
    return f"{PREFIX}/{_slug(site, 'site')}/rollups/{_day(day)}"


def rollup_ack(site: str, day: str) -> str:
    """The national aggregator's acknowledgement of a roll-up, after its commit (QoS 1)."""
    return f"{rollup(site, day)}/ack"


ALL_ROLLUPS = f"{PREFIX}/+/rollups/+"
ALL_ROLLUP_ACKS = f"{PREFIX}/+/rollups/+/ack"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: str) -> str:
    if not _DAY.match(value or ""):
        raise InvalidTopic(f"day {value!r} is not YYYY-MM-DD")
    return value


def site_filter(site: str) -> str:
    return f"{PREFIX}/{_slug(site, 'site')}/#"


@dataclass(frozen=True)
class Topic:
    site: str
    kind: str  # "events" | "commands" | "state" | "devices" | "alerts" | "rollups" | "rollup_acks"
    name: str  # event type, counter, state name, device id, day; "" for alerts


def parse(topic: str) -> Topic:
    """Split a v1 topic into its parts; raises InvalidTopic otherwise."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX:
        raise InvalidTopic(f"not a {PREFIX} topic: {topic[:120]!r}")
    site = _slug(parts[2], "site")
    kind = parts[3]
    rest = parts[4:]
    if kind == "events" and len(rest) == 1 and _EVENT_TYPE.match(rest[0]):
        return Topic(site, kind, rest[0])
    if kind == "commands" and len(rest) == 1:
        return Topic(site, kind, _slug(rest[0], "counter"))
    if kind == "state" and rest in (["board"], ["queue"]):
        return Topic(site, kind, rest[0])
    if kind == "devices" and len(rest) == 2 and rest[1] == "status":
        return Topic(site, kind, _slug(rest[0], "device"))
    if kind == "alerts" and not rest:
        return Topic(site, kind, "")
    if kind == "rollups" and len(rest) == 1:
        return Topic(site, kind, _day(rest[0]))
    if kind == "rollups" and len(rest) == 2 and rest[1] == "ack":
        return Topic(site, "rollup_acks", _day(rest[0]))
    raise InvalidTopic(f"not a {PREFIX} topic: {topic[:120]!r}")
