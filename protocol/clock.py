"""The time every program uses: real UTC, or a sped-up demo/simulation clock.

With `XEPHANG_CLOCK_ORIGIN` (an ISO-8601 time with offset: where simulated time
starts), `XEPHANG_CLOCK_EPOCH` (the real Unix time at which it starts) and
`XEPHANG_CLOCK_SPEEDUP` (e.g. 60) set, every process of a demo or a live simulation
agrees on the same simulated time without talking to each other:
simulated now = ORIGIN + (real now - EPOCH) x SPEEDUP.

With `XEPHANG_CLOCK_DAY_S` also set (the demo sets it), simulated time loops over office
days: after DAY_S simulated seconds from ORIGIN's time of day it jumps to the same time
of day on the next calendar day, so a sped-up demo never spends real minutes on a night.

ORIGIN alone is enough to move the clock: SPEEDUP then defaults to 1 and EPOCH to the
moment this module was imported. Processes that must agree (a test session and the
servers and kiosks it starts) share one EPOCH: `fix_epoch` writes it into the
environment that children inherit (tests/conftest.py does this at session start).
Unset (always, in production), `now()` is the real time. No I/O beyond reading the
environment. Imports nothing from the project.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta


def scaled_clock(origin: datetime, epoch_s: float, speedup: float) -> Callable[[], datetime]:
    """A clock that starts at `origin` at real time `epoch_s` and runs `speedup` times faster."""
    if origin.tzinfo is None or speedup <= 0:
        raise ValueError("origin must carry an offset and speedup must be positive")
    origin_utc = origin.astimezone(UTC)
    return lambda: origin_utc + timedelta(seconds=(time.time() - epoch_s) * speedup)


def looping_clock(origin: datetime, epoch_s: float, speedup: float, day_s: float) -> Callable[[], datetime]:
    """Like `scaled_clock`, but each simulated day lasts `day_s` seconds from `origin`'s
    time of day and then jumps to that time on the next day (nights are skipped)."""
    if origin.tzinfo is None or speedup <= 0 or day_s <= 0:
        raise ValueError("origin must carry an offset; speedup and day length must be positive")

    def now() -> datetime:
        days, within_s = divmod(max(0.0, (time.time() - epoch_s) * speedup), day_s)
        # whole calendar days in the origin's own offset, then UTC like every other clock
        return (origin + timedelta(days=days, seconds=within_s)).astimezone(UTC)

    return now


def real_now() -> datetime:
    return datetime.now(UTC)


# The real time this process started reading the clock: EPOCH when the environment omits it.
STARTED_AT = time.time()


def is_moved(env: Mapping[str, str] = os.environ) -> bool:
    """True when the environment asks for a simulated clock (ORIGIN is set)."""
    return bool(env.get("XEPHANG_CLOCK_ORIGIN"))


def from_environment(env: Mapping[str, str] = os.environ) -> Callable[[], datetime]:
    """The clock the environment asks for: real time unless XEPHANG_CLOCK_ORIGIN is set;
    a missing EPOCH means `STARTED_AT`, a missing SPEEDUP means 1."""
    origin, epoch, speedup = (env.get(f"XEPHANG_CLOCK_{k}") for k in ("ORIGIN", "EPOCH", "SPEEDUP"))
    if not origin:
        return real_now
    day_s = env.get("XEPHANG_CLOCK_DAY_S")
    if day_s:
        return looping_clock(datetime.fromisoformat(origin), float(epoch) if epoch else STARTED_AT,
                             float(speedup) if speedup else 1.0, float(day_s))
    return scaled_clock(datetime.fromisoformat(origin), float(epoch) if epoch else STARTED_AT,
                        float(speedup) if speedup else 1.0)


def rate(env: Mapping[str, str] = os.environ) -> float:
    """Simulated seconds per real second: 1 unless the environment speeds the clock up.
    Pages that tick between server updates need it (a browser only has the real clock)."""
    if not is_moved(env):
        return 1.0
    speedup = env.get("XEPHANG_CLOCK_SPEEDUP")
    return float(speedup) if speedup else 1.0


def fix_epoch(env: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """When ORIGIN is set, write the EPOCH and SPEEDUP this process uses into `env`, so
    child processes started with it run on exactly the same simulated clock."""
    if is_moved(env):
        env.setdefault("XEPHANG_CLOCK_EPOCH", repr(STARTED_AT))
        env.setdefault("XEPHANG_CLOCK_SPEEDUP", "1")


def child_environment(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The XEPHANG_CLOCK_* variables of `env`, to pass to a child process."""
    return {k: v for k, v in env.items() if k.startswith("XEPHANG_CLOCK_")}


def environment_for(origin: datetime, epoch_s: float, speedup: float, day_s: float | None = None) -> dict[str, str]:
    """The variables that make child processes share one scaled clock (looping over days
    of `day_s` simulated seconds when given)."""
    env = {
        "XEPHANG_CLOCK_ORIGIN": origin.isoformat(),
        "XEPHANG_CLOCK_EPOCH": repr(epoch_s),
        "XEPHANG_CLOCK_SPEEDUP": repr(speedup),
    }
    if day_s:
        env["XEPHANG_CLOCK_DAY_S"] = repr(day_s)
    return env


now = from_environment()
