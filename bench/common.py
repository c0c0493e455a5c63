"""Shared helpers for benchmarks: a broker to measure against, percentiles, results."""

from __future__ import annotations

import getpass
import json
import os
import platform
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from broker.config import BrokerProcess, free_port, write_config
from protocol.settings import BrokerSettings, Device

RESULTS = Path(__file__).resolve().parent / "results"


def office_morning_clock(zone: str = "Asia/Ho_Chi_Minh", hour: int = 9) -> datetime:
    """Run this benchmark and every process it starts on the project clock (protocol/clock.py)
    from `hour`:00 site-local today, at real speed; returns that starting time.

    A benchmark that read the real clock broke at some hours: at 00:02 in Hanoi the
    day-end job closed the tickets it had issued two hours before ("no ticket waiting"),
    and outside opening hours the estimator has nothing to say. Children inherit the
    environment; call it before starting any server. An already moved clock is kept.
    """
    from zoneinfo import ZoneInfo

    from protocol import clock

    if not clock.is_moved():
        local = datetime.now(ZoneInfo(zone)).replace(hour=hour, minute=0, second=0, microsecond=0)
        os.environ.update(clock.environment_for(local, time.time(), 1.0))
    return clock.from_environment()()


def start_broker(directory: Path, devices: list[Device]) -> tuple[BrokerProcess, dict[str, str]]:
    passwords = {d.id: f"{d.id}-bench-pw" for d in devices}
    port = free_port()
    conf = write_config(directory, devices, passwords, port, run_as_user=getpass.getuser())
    return BrokerProcess(conf, port).start(), passwords


def broker_settings(process: BrokerProcess, user: str, passwords: dict[str, str]) -> BrokerSettings:
    return BrokerSettings(host="127.0.0.1", port=process.port, username=user, password=passwords[user])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def figure(metric: str, value: float, unit: str, target: str = "", ok: bool | None = None) -> dict[str, Any]:
    return {"metric": metric, "value": round(value, 3), "unit": unit, "target": target, "ok": ok}


def write_results(name: str, figures: list[dict[str, Any]], notes: str = "") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {
        "name": name,
        "figures": figures,
        "notes": notes,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(body)
    return path


def print_table(body: dict[str, Any]) -> None:
    head = ("metric", "floor", "figure", "value", "spread", "target", "ok")
    rows = [(f["metric"], f.get("floor", ""), f.get("figure", ""), f"{f['value']:g} {f['unit']}", f.get("spread", ""),
             f["target"] or "", _ok(f["ok"]) + (" (busy machine)" if f.get("busy") else "")) for f in body["figures"]]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    print(f"\n== {body['name']} ==\n{line}\n{'-' * len(line)}")
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    if body.get("notes"):
        print(body["notes"])


def _ok(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


# -- floors, rounds and the machine's load ---------------------------------------------
# Every target is a ratio to a floor measured side by side in the same run (the same
# machine, the same load): an absolute time measured on a shared machine does not carry
# to the next machine, a ratio does. Each side is measured in at least MIN_ROUNDS rounds;
# the ratio of each round is taken, and the median of those ratios is the figure, with
# its spread (lowest and highest round).
MIN_ROUNDS = 5
# The machine counts as busy when other work already loaded it before the run (1-minute
# load average at or above half its cores) or when the load during the run went past
# 1.5 x its cores (the benchmark's own processes included). A busy run says so in every
# target row instead of passing quietly.
BUSY_BEFORE = 0.5
BUSY_AFTER = 1.5


def load_average() -> float:
    return os.getloadavg()[0]


class LoadWatch:
    """The 1-minute load average before and after a benchmark, and whether that makes the
    machine busy. `sample()` during the run keeps the highest value seen."""

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self.before = load_average()
        self.after = self.before
        self.peak = self.before

    def sample(self) -> float:
        now = load_average()
        self.peak = max(self.peak, now)
        return now

    def finish(self) -> LoadWatch:
        self.after = self.sample()
        return self

    @property
    def busy(self) -> bool:
        return self.before >= BUSY_BEFORE * self.cores or self.peak >= BUSY_AFTER * self.cores

    def describe(self) -> str:
        text = (f"load average (1 min) {self.before:.2f} before, {self.after:.2f} after, {self.peak:.2f} highest "
                f"seen, on {self.cores} cores")
        if self.busy:
            text += (f": BUSY MACHINE (other work loaded it: at or above {BUSY_BEFORE:g} x cores before, or "
                     f"{BUSY_AFTER:g} x cores during the run); targets are reported, not passed")
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"before": round(self.before, 2), "after": round(self.after, 2), "peak": round(self.peak, 2),
                "cores": self.cores, "busy": self.busy}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def spread(values: list[float]) -> str:
    """The lowest and highest round, and each round in order."""
    if not values:
        return ""
    return f"{min(values):.4g}..{max(values):.4g} (rounds: {', '.join(f'{v:.4g}' for v in values)})"


def ratio_figure(metric: str, floor_name: str, floors: list[float], figures: list[float], unit: str,
                 limit: float | None = None, at_least: bool = False, note: str = "") -> dict[str, Any]:
    """A target as a ratio to a floor measured in the same rounds: figure / floor per round,
    the median of those ratios; `limit` is the highest allowed ratio (the lowest with
    `at_least`). Floor and figure medians are shown beside it."""
    if len(floors) != len(figures) or not floors:
        raise ValueError("one floor per round")
    ratios = [f / b if b else float("inf") for f, b in zip(figures, floors)]
    value = median(ratios)
    target, ok = "", None
    if limit is not None:
        target = f"{'>=' if at_least else '<='} {limit:g} x"
        ok = value >= limit if at_least else value <= limit
    body = figure(metric, value, "x", target, ok)
    body.update({
        "floor": f"{floor_name}: {median(floors):.4g} {unit}",
        "figure": f"{median(figures):.4g} {unit}",
        "spread": spread(ratios),
        "rounds": len(ratios),
        "floor_rounds": [round(v, 4) for v in floors],
        "figure_rounds": [round(v, 4) for v in figures],
    })
    if note:
        body["note"] = note
    return body


def rounds_figure(metric: str, values: list[float], unit: str, target: str = "", ok: bool | None = None) -> dict[str, Any]:
    """A plain figure measured over rounds: the median, with its spread."""
    body = figure(metric, median(values), unit, target, ok)
    body.update({"spread": spread(values), "rounds": len(values)})
    return body


def write_run(name: str, figures: list[dict[str, Any]], load: LoadWatch, notes: str = "") -> Path:
    """`write_results` with the load average, and every target row of a busy run marked."""
    load.finish()
    if load.busy:
        for f in figures:
            if f.get("ok") is not None:
                f["busy"] = True
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {
        "name": name,
        "figures": figures,
        "notes": notes,
        "load": load.as_dict(),
        "load_text": load.describe(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(body)
    print(load.describe())
    return path


def rss_of(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("VmHWM", float("nan"))
