"""The wait estimate: a point and a P10-P90 range for one ticket, from the queue's state.

Pure: no I/O, no clock, no database. Everything is passed in (the queue as it stands
now, recent history, a seed), so the same state always gives the same answer and the
estimator can be replayed over simulated days (bench/estimate.py).

The method (docs/estimate.md says more, with the figures): the queue's own state
predicts a wait better than recent delays do (Whitt 1999; Ibrahim & Whitt 2009), and
what should be announced is a distribution, not one number. So the estimator plays the
rest of the queue forward `runs` times with the dispatcher's own rule:

- every open counter takes, when it becomes free, the next ticket of its services:
  priority first unless its run of consecutive priority calls reached the site's cap,
  then first come first served (server/desk/dispatch.py `_pick`);
- a busy counter becomes free after the rest of its current ticket: a service time
  drawn from the history, given that it already lasted the elapsed time;
- a paused counter comes back after a pause length drawn from past pauses (given the
  time it has already been paused), or a prior when the site has none;
- a closed counter does not come back; nobody is called after `close_s`;
- a normal ticket can be overtaken by priority tickets still to arrive (a Poisson
  stream at the service's recent priority rate);
- the time a counter is held per call ("occupancy": call to completion or no-show) is
  drawn from the service's recent history, the same hour band when it has enough of
  it, mixed with a log-normal prior while the history is thin (a new site).

Shared counters need no split rule: they take tickets of their services in the order
the dispatcher would, so their capacity divides itself as it really does. Each run
draws the occupancy of every waiting ticket up front, in issue order, so a run is the
same path whatever ticket is asked about: the wait is then monotone in the people
ahead run by run, and the quantiles too. The answer is the median (point) and the
10th and 90th percentiles (range) of the simulated waits.

Imports only the standard library.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

# Prior for a site without history: the project's simulator assumptions
# (log-normal service, mean 12 min, SD 6, plus 30 s to walk to the desk).
PRIOR_MEAN_S = 12.5 * 60
PRIOR_SD_S = 6.0 * 60
PRIOR_WEIGHT = 10  # the prior counts as this many observations...
FULL_HISTORY = 40  # ...until the service has this many: then the history alone
PRIOR_PAUSE_S = 20 * 60  # mean remaining pause when the site has no pause history
BAND_MIN_SAMPLES = 20  # use only the same hour band (±1 h) once it has this many
DEFAULT_RUNS = 100  # runs per estimate: P10 and P90 each rest on 10 runs


@dataclass(frozen=True)
class Waiting:
    """A ticket in the queue (or the one about to be issued)."""

    ticket_id: str
    service: str
    priority: bool
    issued_s: float  # epoch seconds


@dataclass(frozen=True)
class CounterNow:
    id: str
    services: tuple[str, ...]
    state: str  # "open" | "paused" | "closed"
    busy_service: str | None = None  # service of the ticket it has called or serves
    busy_since_s: float | None = None  # first call of that ticket
    paused_since_s: float | None = None
    priority_streak: int = 0


@dataclass(frozen=True)
class QueueNow:
    now_s: float
    close_s: float  # counters call nobody after this (site's closing time today)
    counters: tuple[CounterNow, ...]
    waiting: tuple[Waiting, ...]
    priority_cap: int | None = None
    hour: int | None = None  # site-local hour of now_s, for the hour band


@dataclass(frozen=True)
class Sample:
    hour: int  # site-local hour of the call
    occupancy_s: float  # call to completion or no-show


@dataclass(frozen=True)
class History:
    occupancy: dict[str, tuple[Sample, ...]] = field(default_factory=dict)  # per service, recent first
    pauses_s: tuple[float, ...] = ()  # lengths of recent pauses
    priority_per_h: dict[str, float] = field(default_factory=dict)  # recent priority arrivals per service


@dataclass(frozen=True)
class WaitEstimate:
    """Remaining wait from `now_s` (seconds); None when it cannot be estimated."""

    people_ahead: int  # same service, in the order the dispatcher calls them
    point_s: int | None
    low_s: int | None  # P10
    high_s: int | None  # P90
    not_today: float = 0.0  # share of runs in which the ticket is not called before closing

    @property
    def known(self) -> bool:
        return self.point_s is not None


def people_ahead(waiting: Sequence[Waiting], target: Waiting) -> int:
    """Tickets of the same service the dispatcher calls first: earlier ones of the same
    class, and every priority ticket when the target is a normal one."""
    return sum(
        1 for t in waiting
        if t.service == target.service and t.ticket_id != target.ticket_id
        and ((t.priority and not target.priority) or (t.priority == target.priority and _key(t) < _key(target)))
    )


def _key(t: Waiting) -> tuple[float, str]:
    return (t.issued_s, t.ticket_id)


def _all_people_ahead(waiting: Sequence[Waiting], targets: Sequence[Waiting]) -> dict[str, int]:
    """`people_ahead` of every target at once: sorted keys per (service, class) and a
    bisection each, instead of a scan of the whole queue per ticket (quadratic: seconds
    for a queue of thousands, docs/desk.md)."""
    keys: dict[tuple[str, bool], list[tuple[float, str]]] = {}
    for t in waiting:
        keys.setdefault((t.service, t.priority), []).append(_key(t))
    for values in keys.values():
        values.sort()
    ahead = {}
    for target in targets:
        same = keys.get((target.service, target.priority), [])
        count = bisect.bisect_left(same, _key(target))  # the target itself is not below its own key
        if not target.priority:
            count += len(keys.get((target.service, True), []))
        ahead[target.ticket_id] = count
    return ahead


def _lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


class _Sampler:
    """Occupancy draws for one service: bootstrap of the history mixed with the prior."""

    def __init__(self, samples: Sequence[Sample], hour: int | None):
        band = [s.occupancy_s for s in samples if hour is not None and abs(s.hour - hour) <= 1]
        values = band if len(band) >= BAND_MIN_SAMPLES else [s.occupancy_s for s in samples]
        self.values = [v for v in values if v >= 0]
        n = len(self.values)
        self.history_share = 1.0 if n >= FULL_HISTORY else n / (n + PRIOR_WEIGHT)
        self.mu, self.sigma = _lognormal_params(PRIOR_MEAN_S, PRIOR_SD_S)

    def draw(self, rng: random.Random) -> float:
        if self.values and rng.random() < self.history_share:
            return self.values[int(rng.random() * len(self.values))]
        return rng.lognormvariate(self.mu, self.sigma)

    def remaining(self, rng: random.Random, elapsed_s: float) -> float:
        """The rest of a service that has lasted `elapsed_s` already."""
        for _ in range(12):
            total = self.draw(rng)
            if total > elapsed_s:
                return total - elapsed_s
        # Longer than nearly everything seen: it ends soon, but not at once.
        return rng.expovariate(1 / max(60.0, 0.25 * PRIOR_MEAN_S))


def _pause_left(rng: random.Random, pauses_s: Sequence[float], elapsed_s: float) -> float:
    longer = [p - elapsed_s for p in pauses_s if p > elapsed_s]
    if longer:
        return longer[int(rng.random() * len(longer))]
    return rng.expovariate(1 / PRIOR_PAUSE_S)


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (ordered ascending)."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    if math.isinf(ordered[low]) or (fraction > 0 and math.isinf(ordered[high])):
        return math.inf
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def estimate_wait(queue: QueueNow, history: History, target: Waiting, runs: int = DEFAULT_RUNS,
                  seed: int = 0) -> WaitEstimate:
    """The remaining wait of `target`: a ticket in `queue.waiting`, or one about to be
    issued (then it joins the end of its class, as the kiosk's next ticket would)."""
    if any(t.ticket_id == target.ticket_id for t in queue.waiting):
        return estimate_queue(queue, history, runs, seed).tickets[target.ticket_id]
    return estimate_queue(queue, history, runs, seed, new=((target.service, target.priority),)).new[
        (target.service, target.priority)]


@dataclass(frozen=True)
class QueueEstimates:
    tickets: dict[str, WaitEstimate]  # every waiting ticket, by id
    new: dict[tuple[str, bool], WaitEstimate]  # (service, priority) -> a ticket issued now


def estimate_queue(queue: QueueNow, history: History, runs: int = DEFAULT_RUNS, seed: int = 0,
                   new: Sequence[tuple[str, bool]] = ()) -> QueueEstimates:
    """Estimates for every waiting ticket and for a ticket issued now of each (service,
    priority) in `new`, from one set of runs.

    A ticket "issued now" is a ghost at the end of its class: when a counter would call
    it, its wait is recorded and the counter looks again, so ghosts never delay anyone
    (each is one alternative future, not all of them at once).
    """
    waiting = sorted(queue.waiting, key=_key)
    ghosts = [Waiting(f"new:{service}:{int(priority)}", service, priority, queue.now_s) for service, priority in new]
    everyone = waiting + ghosts
    ahead = _all_people_ahead(waiting, everyone)
    serving = {s for c in queue.counters if c.state in ("open", "paused") for s in c.services}
    waits: list[list[float]] = [[] for _ in everyone]
    if queue.now_s < queue.close_s and any(t.service in serving for t in everyone):
        _simulate(queue, history, waiting, ghosts, waits, runs, random.Random(seed))
    limit = queue.close_s - queue.now_s
    results = [_summary(ahead[t.ticket_id], waits[i], runs if t.service in serving else 0, limit)
               for i, t in enumerate(everyone)]
    return QueueEstimates(
        tickets={t.ticket_id: results[i] for i, t in enumerate(waiting)},
        new={key: results[len(waiting) + i] for i, key in enumerate(new)},
    )


def _summary(ahead: int, waits: list[float], runs: int, limit: float) -> WaitEstimate:
    if runs == 0:
        return WaitEstimate(ahead, None, None, None, 0.0)
    not_called = runs - len(waits)
    # A run in which the ticket is not called today counts as a very long wait.
    ordered = sorted(waits) + [math.inf] * not_called
    low, point, high = (quantile(ordered, q) for q in (0.1, 0.5, 0.9))
    if math.isinf(point):
        return WaitEstimate(ahead, None, None, None, not_called / runs)
    return WaitEstimate(ahead, round(point), round(low), round(min(high, limit)), not_called / runs)


def _simulate(queue: QueueNow, history: History, waiting: list[Waiting], ghosts: list[Waiting],
              waits: list[list[float]], runs: int, rng: random.Random) -> None:
    now, close, cap = queue.now_s, queue.close_s, queue.priority_cap
    services = sorted({t.service for t in waiting + ghosts} | {s for c in queue.counters for s in c.services})
    samplers = {s: _Sampler(history.occupancy.get(s, ()), queue.hour) for s in services}
    # Lanes: one per (service, class), numbered; each holds ticket indexes in issue order.
    lane_of: dict[tuple[str, bool], int] = {}
    for service in services:
        for is_priority in (True, False):
            lane_of[(service, is_priority)] = len(lane_of)
    lanes: list[list[int]] = [[] for _ in lane_of]
    for i, t in enumerate(waiting):
        lanes[lane_of[(t.service, t.priority)]].append(i)
    ghost_lanes: list[list[int]] = [[] for _ in lane_of]
    for g, t in enumerate(ghosts):
        ghost_lanes[lane_of[(t.service, t.priority)]].append(len(waiting) + g)
    issued = [t.issued_s for t in waiting]
    lane_priority = [key[1] for key in lane_of]
    lane_service = [key[0] for key in lane_of]
    counter_lanes = [[lane_of[(s, p)] for s in c.services for p in (True, False)] for c in queue.counters]
    rates = {} if not history.priority_per_h else {
        lane_of[(s, True)]: rate / 3600 for s, rate in history.priority_per_h.items() if rate > 0 and s in samplers
    }
    sampler_of_lane = [samplers[s] for s in lane_service]
    total = len(waiting) + len(ghosts)
    for _ in range(runs):
        occupancy = [samplers[t.service].draw(rng) for t in waiting]
        free: list[tuple[float, int]] = []
        streak = [c.priority_streak for c in queue.counters]
        for index, counter in enumerate(queue.counters):
            if counter.state == "open":
                at = now
                if counter.busy_since_s is not None:
                    sampler = samplers[counter.busy_service] if counter.busy_service in samplers else samplers[services[0]]
                    at = now + sampler.remaining(rng, now - counter.busy_since_s)
            elif counter.state == "paused":
                at = now + _pause_left(rng, history.pauses_s, now - (counter.paused_since_s or now))
            else:
                continue
            free.append((at, index))
        heapq.heapify(free)
        heads = [0] * len(lanes)
        ghost_heads = [0] * len(lanes)
        next_arrival = {lane: now + rng.expovariate(rate) for lane, rate in rates.items()}
        arrived = dict.fromkeys(rates, 0)  # priority tickets arrived and not yet called, per lane
        left = total
        while free and left:
            at, index = heapq.heappop(free)
            if at >= close:
                continue
            normal_first = cap is not None and streak[index] >= cap
            while True:
                best_lane, best_rank, best_kind = -1, (True, math.inf), 0
                for lane in counter_lanes[index]:
                    is_priority = lane_priority[lane]
                    first = is_priority == normal_first  # this class is called after the other
                    head = heads[lane]
                    if head < len(lanes[lane]):
                        rank = (first, issued[lanes[lane][head]])
                        kind = 1
                    elif ghost_heads[lane] < len(ghost_lanes[lane]):
                        rank, kind = (first, now), 2
                    else:
                        rank, kind = (first, math.inf), 0
                    if lane in rates:
                        while next_arrival[lane] <= at:
                            arrived[lane] += 1
                            next_arrival[lane] += rng.expovariate(rates[lane])
                        if arrived[lane] and kind == 0:
                            rank, kind = (first, now), 3  # arrived after every ticket waiting now
                    if kind and rank < best_rank:
                        best_lane, best_rank, best_kind = lane, rank, kind
                if best_kind != 2:
                    break
                # A ghost is called: record it, and the counter looks again.
                ghost = ghost_lanes[best_lane][ghost_heads[best_lane]]
                ghost_heads[best_lane] += 1
                waits[ghost].append(at - now)
                left -= 1
            if best_kind == 0:
                continue  # nothing this counter can take: it stays idle
            if best_kind == 1:
                chosen = lanes[best_lane][heads[best_lane]]
                heads[best_lane] += 1
                waits[chosen].append(at - now)
                left -= 1
                hold = occupancy[chosen]
            else:
                arrived[best_lane] -= 1
                hold = sampler_of_lane[best_lane].draw(rng)
            streak[index] = streak[index] + 1 if lane_priority[best_lane] else 0
            heapq.heappush(free, (at + hold, index))


def old_estimate_s(waiting: int, median_s: float | None, open_counters: int) -> int | None:
    """Today's formula (kept for the `estimated_wait_s` field and the benchmark)."""
    if open_counters <= 0 or median_s is None:
        return None
    return int(math.ceil(waiting * median_s / open_counters))


__all__ = ["CounterNow", "History", "QueueNow", "Sample", "QueueEstimates", "WaitEstimate", "Waiting", "estimate_queue",
           "estimate_wait",
           "old_estimate_s", "people_ahead"]
