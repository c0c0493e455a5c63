"""Shared fixtures: a real Mosquitto broker (never a fake), headless SDL, and one
project clock for the whole session (docs/testing.md): with XEPHANG_CLOCK_ORIGIN set,
the epoch is fixed here, before anything reads the clock, so the test process, its
xdist workers and every server or kiosk they start share one simulated time."""

from __future__ import annotations

import os

from protocol import clock

clock.fix_epoch(os.environ)

import pytest  # noqa: E402

from tests.support import RunningBroker, start_broker  # noqa: E402

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")


@pytest.fixture
def broker(tmp_path) -> RunningBroker:
    """A Mosquitto process with xephang's generated config, passwords and ACL.

    Fails (never skips) when mosquitto is missing: `make test` installs it.
    """
    running = start_broker(tmp_path / "broker")
    yield running
    running.process.stop()


def pytest_report_header(config) -> str:
    if clock.is_moved():
        return f"xephang clock moved: {clock.now().isoformat()} (ORIGIN {os.environ['XEPHANG_CLOCK_ORIGIN']})"
    return "xephang clock: real time"
