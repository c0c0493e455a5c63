"""Fixtures of the display board tests: settings for the test site, a board on SDL's
dummy video driver with injected clocks, and event/state builders."""

from __future__ import annotations

import queue
import uuid
from datetime import UTC, datetime, timedelta

import pygame
import pytest

from display.app import BoardApp
from display.feed import Inbound
from display.settings import DisplaySettings
from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from protocol.state import BoardState
from tests.support import SITE_ID, settings_dict

T0 = datetime(2026, 11, 30, 3, 15, 0, tzinfo=UTC)  # 10:15 in Hanoi, a Monday


class Clocks:
    """Injected monotonic and wall clocks that tests move by hand."""

    def __init__(self) -> None:
        self.mono_s = 1000.0
        self.wall_at = T0

    def mono(self) -> float:
        return self.mono_s

    def wall(self) -> datetime:
        return self.wall_at

    def advance(self, seconds: float) -> None:
        self.mono_s += seconds
        self.wall_at += timedelta(seconds=seconds)


def display_settings(broker=None, **display) -> DisplaySettings:
    data = settings_dict(broker)
    data["display"] = {"site": SITE_ID, "device": "display-1", "audio_output": "silent", **display}
    return load_settings(DisplaySettings, None, **data)


def call_event(number: str, counter: str, *, ts: datetime, kind: str = "ticket.called", seq: int = 1, site: str = SITE_ID):
    return make_event(
        kind, site=site, source="server", seq=seq, ts=ts,
        data={"ticket_id": uuid.uuid4(), "number": number, "counter": counter},
    )


def event_item(event) -> Inbound:
    import time

    return Inbound("message", topics.event(event.site, event.type), event.to_json(), put_s=time.perf_counter())


def board_state(ts: datetime, **fields) -> BoardState:
    data = {
        "site": SITE_ID,
        "name": "Trung tâm Phục vụ hành chính công xã Thử Nghiệm",
        "ts": ts,
        "counters": [
            {"id": "quay-1", "number": 1, "name": "Quầy 1 - Tư pháp - Hộ tịch", "state": "open", "ticket_number": "A001"},
            {"id": "quay-2", "number": 2, "name": "Quầy 2 - Chứng thực", "state": "open", "ticket_number": "B002"},
            {"id": "quay-3", "number": 3, "name": "Quầy 3 - Đất đai", "state": "paused", "reason": "Đi họp"},
        ],
        "recent_calls": [
            {"ticket_id": str(uuid.uuid4()), "number": "B002", "counter": "quay-2", "counter_number": 2, "ts": ts - timedelta(seconds=30)},
            {"ticket_id": str(uuid.uuid4()), "number": "A001", "counter": "quay-1", "counter_number": 1, "ts": ts - timedelta(seconds=90)},
        ],
        "waiting": {"tu-phap-ho-tich": 5, "chung-thuc": 2, "dat-dai": 0},
        "service_names": {"tu-phap-ho-tich": "Tư pháp - Hộ tịch", "chung-thuc": "Chứng thực", "dat-dai": "Đất đai"},
        "notice": "Công dân vui lòng giữ trật tự.",
    }
    data.update(fields)
    return BoardState.model_validate(data)


def state_item(state: BoardState) -> Inbound:
    return Inbound("message", topics.board_state(state.site), state.model_dump_json().encode("utf-8"))


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def screen():
    pygame.display.init()
    surface = pygame.display.set_mode((1366, 768))
    yield surface
    pygame.display.quit()


@pytest.fixture
def make_app(screen, clocks):
    def build(settings: DisplaySettings | None = None, announcer=None, inbox=None) -> BoardApp:
        return BoardApp(
            settings or display_settings(), screen, inbox or queue.Queue(), announcer,
            wall=clocks.wall, mono=clocks.mono,
        )

    return build
