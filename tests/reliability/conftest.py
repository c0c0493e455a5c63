"""Fixtures for fault tests: a server process on the shared real broker."""

from __future__ import annotations

import pytest

from tests.kiosk.conftest import inbox  # noqa: F401 - re-exported fixture
from tests.reliability.support import ServerProcess


@pytest.fixture
def server(broker, tmp_path):
    running = ServerProcess(broker, tmp_path / "server").start()
    yield running
    running.stop()
