"""A wait range as people read it: whole minutes, in sensible steps.

The estimator (server/desk/estimate.py) gives a P10-P90 range in seconds; the ticket,
the ticket page and the desk console print it with the same rounding, so the printed
range is the one the replay benchmark (bench/estimate.py) checks. Each end is rounded
to the nearest step (5 minutes up to an hour, then 10, 15 and 30): rounding outward
would widen every range and hold more than it promises. A range whose upper end rounds
to 5 minutes or less reads "under 5 minutes". The words themselves live in each
package's catalog; this module only does the numbers. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

SHORT_MIN = 5


@dataclass(frozen=True)
class PrintedRange:
    low_min: int  # 0 when the range reads "under `high_min` minutes"
    high_min: int

    @property
    def under(self) -> bool:
        return self.low_min == 0

    def holds(self, wait_s: float) -> bool:
        """Whether a real wait falls inside what was printed."""
        return self.low_min * 60 <= wait_s <= self.high_min * 60


def step_min(high_min: float) -> int:
    if high_min <= 60:
        return 5
    if high_min <= 120:
        return 10
    if high_min <= 240:
        return 15
    return 30


def printed_range(low_s: float, high_s: float) -> PrintedRange:
    """The range to print for a P10 `low_s` and a P90 `high_s` (seconds)."""
    low, high = max(0.0, low_s) / 60, max(0.0, high_s, low_s) / 60
    step = step_min(high)
    high_min = int(round(high / step)) * step
    if high_min <= SHORT_MIN:
        return PrintedRange(0, SHORT_MIN)
    low_min = min(int(round(low / step_min(low))) * step_min(low), high_min - step)
    return PrintedRange(max(0, low_min), high_min)


__all__ = ["PrintedRange", "printed_range", "step_min"]
