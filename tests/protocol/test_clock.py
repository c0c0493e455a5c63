"""The project clock's environment seam (protocol/clock.py, docs/testing.md): ORIGIN
alone moves it, one EPOCH is shared with child processes, unset means real time; and
the three moved clocks `make test` reruns at are computed, not pinned."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from protocol import clock
from tests.support import child_env

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from clock_origins import origins  # noqa: E402

ORIGIN = "2026-12-06T10:00:00+07:00"


def test_unset_is_real_time_and_origin_alone_moves_the_clock():
    assert clock.from_environment({}) is clock.real_now
    assert clock.from_environment({"XEPHANG_CLOCK_EPOCH": "1", "XEPHANG_CLOCK_SPEEDUP": "60"}) is clock.real_now
    moved = clock.from_environment({"XEPHANG_CLOCK_ORIGIN": ORIGIN})
    # EPOCH left out: the moment this process first read the clock; SPEEDUP: 1.
    expected = datetime.fromisoformat(ORIGIN) + timedelta(seconds=time.time() - clock.STARTED_AT)
    assert abs((moved() - expected).total_seconds()) < 0.5
    first = moved()
    time.sleep(0.2)
    assert 0.15 < (moved() - first).total_seconds() < 1.0  # real speed


def test_fixed_epoch_is_shared_with_a_child_process():
    env = {"XEPHANG_CLOCK_ORIGIN": ORIGIN, "XEPHANG_BROKER__PORT": "1"}
    clock.fix_epoch(env)
    assert env["XEPHANG_CLOCK_EPOCH"] == repr(clock.STARTED_AT) and env["XEPHANG_CLOCK_SPEEDUP"] == "1"
    assert clock.child_environment(env) == {k: v for k, v in env.items() if k.startswith("XEPHANG_CLOCK_")}
    ours = clock.from_environment(env)
    child = dict(child_env(PYTHONPATH=str(ROOT)), **clock.child_environment(env))
    assert "XEPHANG_BROKER__PORT" not in child_env()  # settings overrides are not inherited
    before = ours()
    out = subprocess.run([sys.executable, "-c", "from protocol import clock; print(clock.now().isoformat())"],
                         cwd=ROOT, env=child, capture_output=True, text=True, timeout=60, check=True).stdout
    after = ours()
    assert before <= datetime.fromisoformat(out.strip()) <= after


def test_the_session_clock_is_the_one_the_environment_asks_for():
    # tests/conftest.py fixed the epoch before anything read the clock: the module's
    # `now` and a fresh reading of the environment agree (moved or not).
    assert abs((clock.now() - clock.from_environment()()).total_seconds()) < 0.5


def test_moved_clock_origins_are_computed_from_today():
    for today in (date(2026, 12, 3), date(2026, 12, 6), date(2027, 2, 28), date(2028, 12, 31)):
        real = datetime(today.year, today.month, today.day, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
        found = dict(origins(real))
        assert found["sunday"].weekday() == 6 and 0 < (found["sunday"].date() - today).days <= 7
        assert (found["sunday"].hour, found["sunday"].utcoffset()) == (10, timedelta(hours=7))
        assert found["midnight"].date() == today and found["midnight"].time().isoformat() == "23:59:30"
        assert (found["far"].date() - today).days > 366


def test_rate_is_the_speedup_of_a_moved_clock_only():
    assert clock.rate({}) == 1.0
    assert clock.rate({"XEPHANG_CLOCK_SPEEDUP": "60"}) == 1.0  # no ORIGIN: the real clock
    assert clock.rate({"XEPHANG_CLOCK_ORIGIN": ORIGIN}) == 1.0
    assert clock.rate(clock.environment_for(datetime.fromisoformat(ORIGIN), time.time(), 60)) == 60.0


def test_a_looping_clock_skips_the_night_to_the_next_morning():
    origin = datetime.fromisoformat("2026-12-06T07:30:00+07:00")
    env = clock.environment_for(origin, time.time() - 11 * 60, 60, day_s=10 * 3600)  # 11 real minutes ago at x60
    now = clock.from_environment(env)().astimezone(origin.tzinfo)
    # 11 simulated hours: a 10-hour day (07:30-17:30), then one hour into the next morning.
    assert now.date() == date(2026, 12, 7)
    assert abs((now - datetime.fromisoformat("2026-12-07T08:30:00+07:00")).total_seconds()) < 60
    assert clock.rate(env) == 60.0
    before = clock.from_environment({**env, "XEPHANG_CLOCK_EPOCH": repr(time.time() - 9.9 * 60)})()
    assert before.astimezone(origin.tzinfo).strftime("%Y-%m-%d %H") == "2026-12-06 17"
