"""What the kiosk knows of the site's queue: the retained `state/queue` from the server.

Used for "people ahead" and the estimated wait printed on a ticket, and for a day
closed by staff. Updated from paho's thread (a single reference swap, no SQLite);
read by the kiosk loop. Older than `max_age_s`, or absent: unknown ("—"), never a guess.
No SQLite, printer or GPIO imports here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from protocol import clock as project_clock
from protocol.sites import Site
from protocol.state import QueueState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimate:
    people_ahead: int | None
    wait_s: int | None
    low_s: int | None = None  # P10-P90 range (servers since issue 16; older ones send none)
    high_s: int | None = None


UNKNOWN = Estimate(None, None)


class QueueView:
    def __init__(self, site: Site, max_age_s: float, clock: Callable[[], datetime] = project_clock.now):
        self.site = site
        self.max_age_s = max_age_s
        self._clock = clock
        self._state: QueueState | None = None
        self._closed = False
        self.rejected = 0

    def update(self, payload: bytes | bytearray) -> bool:
        """Take a `state/queue` payload; a bad one is logged and ignored."""
        if not payload:  # a cleared retained message
            self._state, self._closed = None, False
            return True
        try:
            raw = json.loads(payload)
            state = QueueState.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            self.rejected += 1
            log.warning("ignoring a bad state/queue payload: %s", str(exc)[:160])
            return False
        if state.site != self.site.id or state.ts.tzinfo is None:
            self.rejected += 1
            log.warning("ignoring state/queue for site %r (or without time zone)", state.site)
            return False
        # `closed` (staff closed the day) is an optional v1 addition read from the raw payload.
        self._state, self._closed = state, bool(isinstance(raw, dict) and raw.get("closed") is True)
        return True

    @property
    def state(self) -> QueueState | None:
        return self._state

    def fresh(self, now: datetime) -> QueueState | None:
        state = self._state
        if state is None or (now - state.ts).total_seconds() > self.max_age_s:
            return None
        return state

    def open_counter_numbers(self, service: str, now: datetime) -> list[int] | None:
        """The open counters serving `service`, from a fresh queue state; None when unknown."""
        state = self.fresh(now)
        found = state.services.get(service) if state else None
        return found.open_counter_numbers if found else None

    def day_closed(self, now: datetime) -> bool:
        """Staff closed today's queue (the flag only counts on the day it was sent)."""
        state = self._state
        return bool(state and self._closed and self.site.local_day(state.ts) == self.site.local_day(now))

    def estimate(self, service: str, now: datetime, issued_since: Callable[[datetime], int],
                 priority: bool = False) -> Estimate:
        """People ahead = waiting for `service` in the state + tickets this kiosk printed
        for it after the state's `ts` (the state cannot include those yet).

        The wait range is the server's for a ticket issued at `ts` (normal or priority),
        moved by `wait_step_s` for each of those extra tickets; without a step it cannot
        be moved, so it is unknown rather than wrong."""
        state = self.fresh(now)
        if state is None:
            return UNKNOWN
        queue = state.services.get(service)
        if queue is None:
            return UNKNOWN
        extra = issued_since(state.ts)
        wait = queue.estimated_wait_s
        if priority:
            low, high = queue.priority_wait_low_s, queue.priority_wait_high_s
            wait = queue.priority_wait_s if queue.priority_wait_s is not None else wait
            return Estimate(queue.waiting + extra, wait, low, high)  # later normal tickets do not delay it
        low, high = queue.wait_low_s, queue.wait_high_s
        if extra and low is not None and high is not None:
            step = queue.wait_step_s
            low, high = (None, None) if step is None else (low + extra * step, high + extra * step)
        return Estimate(queue.waiting + extra, wait, low, high)
