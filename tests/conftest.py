"""Shared fixtures: a real Mosquitto broker (never a fake), headless SDL."""

from __future__ import annotations

import os

import pytest

from tests.support import RunningBroker, start_broker

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
