"""Fixtures of the national tests: one PostgreSQL cluster of their own per test session
(tests/national/pg.py), a fresh database per test. Fails, never skips, without PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.national.pg import RunningPostgres, start_postgres

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Iterator[RunningPostgres]:
    running = start_postgres(tmp_path_factory.mktemp("pg"))
    yield running
    running.stop()


@pytest.fixture
def national_dsn(postgres) -> str:
    """A new, empty database in the session's cluster."""
    return postgres.create_database(f"national_{next(_names)}")
