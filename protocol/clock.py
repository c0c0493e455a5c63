"""The time every program uses: real UTC, or a sped-up demo/simulation clock.

With `XEPHANG_CLOCK_ORIGIN` (an ISO-8601 time with offset: where simulated time
starts), `XEPHANG_CLOCK_EPOCH` (the real Unix time at which it starts) and
`XEPHANG_CLOCK_SPEEDUP` (e.g. 60) set, every process of a demo or a live simulation
agrees on the same simulated time without talking to each other. Unset (always, in
production), `now()` is the real time. No I/O beyond reading the environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone


def scaled_clock(origin: datetime, epoch_s: float, speedup: float) -> Callable[[], datetime]:
    """A clock that starts at `origin` at real time `epoch_s` and runs `speedup` times faster."""
    if origin.tzinfo is None or speedup <= 0:
        raise ValueError("origin must carry an offset and speedup must be positive")
    origin_utc = origin.astimezone(timezone.utc)
    return lambda: origin_utc + timedelta(seconds=(time.time() - epoch_s) * speedup)


def real_now() -> datetime:
    return datetime.now(timezone.utc)


def from_environment(env: Mapping[str, str] = os.environ) -> Callable[[], datetime]:
    """The clock the environment asks for (real time unless all three variables are set)."""
    origin, epoch, speedup = (env.get(f"XEPHANG_CLOCK_{k}") for k in ("ORIGIN", "EPOCH", "SPEEDUP"))
    if not (origin and epoch and speedup):
        return real_now
    return scaled_clock(datetime.fromisoformat(origin), float(epoch), float(speedup))


def environment_for(origin: datetime, epoch_s: float, speedup: float) -> dict[str, str]:
    """The variables that make child processes share one scaled clock."""
    return {
        "XEPHANG_CLOCK_ORIGIN": origin.isoformat(),
        "XEPHANG_CLOCK_EPOCH": repr(epoch_s),
        "XEPHANG_CLOCK_SPEEDUP": repr(speedup),
    }


now = from_environment()
