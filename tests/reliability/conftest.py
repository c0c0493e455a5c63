"""Fixtures for fault tests: a server process on the test's real broker."""

from __future__ import annotations

import pytest

from tests.reliability.support import ServerProcess


@pytest.fixture
def server(broker, tmp_path):
    running = ServerProcess(broker, tmp_path / "server").start()
    yield running
    running.stop()
