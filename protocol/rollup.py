"""Daily roll-ups of a reception point: the wire format a province server sends to the
national aggregator, and the exact arithmetic both sides share.

A roll-up is one site-local day of one reception point, split by (service, counter): for
each pair the counts behind every measure and sparse histograms {whole seconds: tickets}
of wait, service and total time. Counts add and histograms add, so any group of roll-ups
(a province, the country, a quarter) merges without loss, and the nearest-rank
percentile of a merged histogram is exactly the nearest-rank percentile of the raw
tickets' whole seconds. A day re-computed after late events gets a higher `revision`;
receivers keep the highest revision of a day and ignore older or repeated ones.

`parse_rollup(raw)` / `parse_ack(raw)` are the entry points for bytes from the wire; they
return a typed value or raise `InvalidRollup` with a reason a person can read.
Pure data and arithmetic; no I/O here.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROLLUP_VERSION = 1
MAX_ROLLUP_BYTES = 2 * 1024 * 1024  # the brokers' max_packet_size (broker/config.py)
MEASURES = ("wait", "service", "total")
PERCENTILES = (50, 90)
COUNTS = (
    "issued", "called", "no_show", "completed", "received", "within_target", "recalls", "transfers",
    "ratings", "satisfied", "unconfirmed",
)
MAX_SECONDS = 7 * 24 * 3600  # a duration longer than a week is refused as nonsense

Slug = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")]
# '' is a ticket without a counter (never called) or a rating without a service.
SlugOrEmpty = Annotated[str, Field(pattern=r"^[a-z0-9-]{0,40}$")]
Histogram = dict[int, int]


class InvalidRollup(ValueError):
    """A payload that is not a valid v1 roll-up or acknowledgement; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- exact arithmetic -----------------------------------------------------------------
def nearest_rank(p: int, n: int) -> int:
    """The 1-based nearest rank of percentile p among n values: ceil(p/100 * n), at least 1."""
    return max(1, -(-p * n // 100))


def percentile_of_counts(histogram: Mapping[int, int], p: int) -> int | None:
    """Nearest-rank percentile of a histogram {whole seconds: count}; equals the
    nearest-rank percentile of the expanded, sorted values."""
    values = sorted(v for v, c in histogram.items() if c)
    if not values:
        return None
    cumulative = []
    running = 0
    for v in values:
        running += histogram[v]
        cumulative.append(running)
    return values[bisect_left(cumulative, nearest_rank(p, running))]


def add_histogram(into: dict[int, int], other: Mapping[int, int]) -> None:
    for value, count in other.items():
        into[value] = into.get(value, 0) + count


def measures_row(counts: Mapping[str, int], sums: Mapping[str, int], ns: Mapping[str, int],
                 percentiles: Mapping[tuple[str, int], int | None]) -> dict[str, int | float | None]:
    """The public measures of a group from its counts, duration sums, numbers of timed
    tickets and percentiles (the same figures for a site, a province and the nation)."""
    row: dict[str, int | float | None] = {k: int(counts[k]) for k in COUNTS}
    received, within, ratings = int(counts["received"]), int(counts["within_target"]), int(counts["ratings"])
    row["pct_within_target"] = round(100 * within / received, 1) if received else None
    for m in MEASURES:
        for p in PERCENTILES:
            row[f"{m}_p{p}_s"] = percentiles[(m, p)]
        row[f"{m}_mean_s"] = round(sums[m] / ns[m], 1) if ns[m] else None
    row["satisfaction_pct"] = round(100 * int(counts["satisfied"]) / ratings, 1) if ratings else None
    return row


# -- the wire format ------------------------------------------------------------------
class _Model(BaseModel):
    # Additions within v1 are optional fields; receivers ignore fields they do not know.
    model_config = ConfigDict(extra="ignore", frozen=True)


class RollupRow(_Model):
    """One (service, counter) of a day: counts, sums of whole seconds, histograms."""

    service: SlugOrEmpty
    counter: SlugOrEmpty
    counts: dict[str, Annotated[int, Field(ge=0)]]
    sums: dict[str, Annotated[int, Field(ge=0)]]
    # measure -> [[whole seconds, tickets], ...] sorted by seconds, counts > 0
    hist: dict[str, list[tuple[Annotated[int, Field(ge=0, le=MAX_SECONDS)], Annotated[int, Field(ge=1)]]]]

    @model_validator(mode="after")
    def _complete(self) -> RollupRow:
        if set(self.counts) != set(COUNTS):
            raise ValueError(f"counts must name exactly {', '.join(COUNTS)}")
        if set(self.sums) != set(MEASURES) or set(self.hist) != set(MEASURES):
            raise ValueError(f"sums and hist must name exactly {', '.join(MEASURES)}")
        for measure, pairs in self.hist.items():
            seconds = [s for s, _ in pairs]
            if seconds != sorted(set(seconds)):
                raise ValueError(f"hist.{measure}: seconds must be strictly increasing")
            if sum(s * n for s, n in pairs) != self.sums[measure]:
                raise ValueError(f"sums.{measure} does not match hist.{measure}")
        return self

    def histogram(self, measure: str) -> Histogram:
        return dict(self.hist[measure])


class DayRollup(_Model):
    """One reception point's day: what a province server publishes."""

    v: int = ROLLUP_VERSION
    site: Slug
    day: date
    revision: int = Field(ge=1)
    province: Slug
    site_name: str = Field(default="", max_length=200)
    rows: list[RollupRow]

    @field_validator("v")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != ROLLUP_VERSION:
            raise ValueError(f"unsupported roll-up version {value}")
        return value

    @model_validator(mode="after")
    def _unique_rows(self) -> DayRollup:
        keys = [(r.service, r.counter) for r in self.rows]
        if len(set(keys)) != len(keys):
            raise ValueError("two rows for the same (service, counter)")
        return self

    def payload(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    def content(self) -> str:
        """The rows alone, canonical: equal days give equal text whatever the revision."""
        return json.dumps([r.model_dump() for r in self.rows], sort_keys=True, separators=(",", ":"))


class RollupAck(_Model):
    """The aggregator's acknowledgement, sent after its commit: it holds `revision`
    (or a newer one) of the site's day."""

    v: int = ROLLUP_VERSION
    site: Slug
    day: date
    revision: int = Field(ge=1)

    def payload(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


def _parse(model: type[_Model], raw: bytes | str, what: str) -> _Model:
    if len(raw) > MAX_ROLLUP_BYTES:
        raise InvalidRollup(f"{what} larger than {MAX_ROLLUP_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRollup(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRollup(f"{what} is not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise InvalidRollup(f"{what}: {where}: {first['msg']}") from None


def parse_rollup(raw: bytes | str) -> DayRollup:
    found = _parse(DayRollup, raw, "roll-up")
    assert isinstance(found, DayRollup)
    return found


def parse_ack(raw: bytes | str) -> RollupAck:
    found = _parse(RollupAck, raw, "roll-up ack")
    assert isinstance(found, RollupAck)
    return found


def row_of(service: str, counter: str, counts: Mapping[str, int], histograms: Mapping[str, Mapping[int, int]]) -> RollupRow:
    """A row from counts and histograms (the sums follow from the histograms)."""
    hist = {m: sorted((int(s), int(n)) for s, n in histograms[m].items() if n) for m in MEASURES}
    return RollupRow(
        service=service, counter=counter, counts={c: int(counts[c]) for c in COUNTS},
        sums={m: sum(s * n for s, n in hist[m]) for m in MEASURES}, hist=hist,
    )


def merged(rows: Iterable[RollupRow]) -> tuple[dict[str, int], dict[str, Histogram]]:
    """Counts and histograms of any group of rows, merged exactly."""
    counts = dict.fromkeys(COUNTS, 0)
    histograms: dict[str, Histogram] = {m: {} for m in MEASURES}
    for row in rows:
        for c in COUNTS:
            counts[c] += row.counts[c]
        for m in MEASURES:
            add_histogram(histograms[m], dict(row.hist[m]))
    return counts, histograms
