"""Shared helpers for benchmarks: a broker to measure against, percentiles, results."""

from __future__ import annotations

import getpass
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from broker.config import BrokerProcess, free_port, write_config
from protocol.settings import BrokerSettings, Device

RESULTS = Path(__file__).resolve().parent / "results"


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
    rows = [(f["metric"], f"{f['value']:g} {f['unit']}", f["target"] or "", _ok(f["ok"])) for f in body["figures"]]
    widths = [max(len(r[i]) for r in rows + [("metric", "value", "target", "ok")]) for i in range(4)]
    line = "  ".join(h.ljust(w) for h, w in zip(("metric", "value", "target", "ok"), widths))
    print(f"\n== {body['name']} ==\n{line}\n{'-' * len(line)}")
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    if body.get("notes"):
        print(body["notes"])


def _ok(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")
