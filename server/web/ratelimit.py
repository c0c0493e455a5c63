"""The one sliding-window rate limiter of the web layer: at most `limit` hits per key
(a client address, or a user name and address) within `window_s`. Thread-safe; keys
whose hits have all expired are forgotten, so an address seen once does not stay in
memory. Used for logins (failed attempts), ticket lookups and ratings. Standard library only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

# Past this many keys, every new hit sweeps out the keys with no recent hit.
SWEEP_ABOVE = 10_000


class RateLimiter:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def _add(self, key: Hashable, now: float) -> None:
        self._hits.setdefault(key, deque()).append(now)
        if len(self._hits) > SWEEP_ABOVE:
            for other in list(self._hits):
                self._recent(other, now)

    def allow(self, key: Hashable) -> bool:
        """Count a hit and say whether it is within the limit (a refused hit is not counted)."""
        with self._lock:
            now = self.clock()
            if len(self._recent(key, now)) >= self.limit:
                return False
            self._add(key, now)
            return True

    def exceeded(self, key: Hashable) -> bool:
        """True when `key` already has `limit` hits in the window (counts nothing)."""
        with self._lock:
            return len(self._recent(key, self.clock())) >= self.limit

    def hit(self, key: Hashable) -> None:
        with self._lock:
            self._add(key, self.clock())

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)
