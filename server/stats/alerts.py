"""Live state of each site and the alerts raised from it.

Live (per site, for the site-local today): tickets waiting, the longest wait now, open
counters, tickets at risk (waiting, called or being served, of a target-eligible
service, and older than `at_risk_minutes` of a 60-minute target: the share
at_risk_minutes / 60 of the service's own target), counters paused too long while
people wait, and device faults.

Alerts are those conditions as keyed items; `AlertMonitor` re-evaluates them every few
seconds (and soon after each ingest batch), keeps the current set for the dashboard and
publishes each change as JSON on `xephang/v1/{site}/alerts` (QoS 1, not retained):
`{"v": 1, "id", "site", "kind", "key", "state": "raised" | "cleared", "ts", "detail"}`.
No FastAPI here.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from protocol import topics
from protocol.sites import Site
from server.storage import tickets
from server.storage.devices import device_faults as stored_faults

log = logging.getLogger(__name__)

PAUSE_ALERT_MINUTES = 15  # default; a Site may carry `pause_alert_minutes`
ALERT_KINDS = ("ticket_at_risk", "counter_paused", "device_offline", "device_fault")


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def device_faults(conn: sqlite3.Connection, site: str) -> list[dict[str, Any]]:
    """One entry per faulty part (or the device itself when offline), from the one source
    the desk console reads too (server/storage/devices.py)."""
    faults = []
    for found in stored_faults(conn, site):
        if found["state"] != "online":
            faults.append({"device": found["device"], "part": "device", "problem": found["state"], "since_at": found["received_at"]})
        for part, value in found["problems"].items():
            faults.append({"device": found["device"], "part": part, "problem": value, "since_at": found["received_at"]})
    return faults


def live_state(conn: sqlite3.Connection, site: Site, now_at: float) -> dict[str, Any]:
    """The live panel of one site at `now_at` (UTC epoch seconds)."""
    today = datetime.fromtimestamp(now_at, UTC).astimezone(site.zone).date().isoformat()
    open_tickets = tickets.open_today(conn, site.id, today)
    waiting = [t for t in open_tickets if t[3] == "waiting"]
    waiting_by_service: dict[str, int] = {}
    for t in waiting:
        waiting_by_service[t[2]] = waiting_by_service.get(t[2], 0) + 1
    at_risk = []
    for ticket_id, number, service_id, status, counter, issued_at in open_tickets:
        service = site.service(service_id or "")
        if service is None or not service.target_eligible:
            continue
        threshold_s = service.target_minutes * 60 * site.at_risk_minutes / 60
        age_s = now_at - issued_at
        if age_s >= threshold_s:
            at_risk.append({
                "ticket_id": ticket_id, "number": number, "service": service_id, "status": status,
                "counter": counter, "age_s": math.floor(age_s), "target_s": service.target_minutes * 60,
                "counter_name": at_counter.name if counter and (at_counter := site.counter(counter)) else None,
            })
    states = {
        row[0]: {"state": row[1], "reason": row[2], "changed_at": row[3]}
        for row in conn.execute("SELECT counter, state, reason, changed_at FROM counters WHERE site = ?", (site.id,))
    }
    pause_s = getattr(site, "pause_alert_minutes", PAUSE_ALERT_MINUTES) * 60
    counters = []
    for c in site.counters:
        found = states.get(c.id, {"state": "closed", "reason": None, "changed_at": None})
        people = sum(waiting_by_service.get(s, 0) for s in c.services)
        paused_s = math.floor(now_at - found["changed_at"]) if found["state"] == "paused" and found["changed_at"] else None
        counters.append({
            "counter": c.id, "number": c.number, "name": c.name, "state": found["state"], "reason": found["reason"],
            "since_at": found["changed_at"], "waiting_for_it": people,
            "paused_too_long": paused_s is not None and paused_s > pause_s and people > 0,
            "paused_s": paused_s,
        })
    return {
        "site": site.id,
        "name": site.name,
        "day": today,
        # when these figures were taken, on the server's clock, site-local (pages show this,
        # never the browser's clock: in a demo the two differ by hours)
        "evaluated_at": datetime.fromtimestamp(now_at, UTC).astimezone(site.zone).isoformat(timespec="seconds"),
        "waiting": len(waiting),
        "longest_wait_s": math.floor(now_at - waiting[0][5]) if waiting else None,
        "waiting_by_service": waiting_by_service,
        "open_counters": sum(1 for c in counters if c["state"] == "open"),
        "counters": counters,
        "at_risk": at_risk,
        "at_risk_minutes": site.at_risk_minutes,
        "device_faults": device_faults(conn, site.id),
    }


def alerts_of(live: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Keyed alerts ("kind:key" -> alert) of one site's live state."""
    found: dict[str, dict[str, Any]] = {}

    def add(kind: str, key: str, detail: dict[str, Any]) -> None:
        found[f"{kind}:{key}"] = {"site": live["site"], "kind": kind, "key": key, "detail": detail}

    for t in live["at_risk"]:
        add("ticket_at_risk", t["ticket_id"], t)
    for c in live["counters"]:
        if c["paused_too_long"]:
            add("counter_paused", c["counter"], {**{k: c[k] for k in ("counter", "number", "reason", "paused_s", "waiting_for_it")},
                                                 "counter_name": c["name"]})
    for f in live["device_faults"]:
        if f["part"] == "device":
            add("device_offline", f["device"], f)
        else:
            add("device_fault", f"{f['device']}:{f['part']}", f)
    return found


class AlertMonitor:
    """Evaluates every site's live state, keeps the current alerts, publishes changes."""

    def __init__(
        self,
        sites: Iterable[Site],
        connect: Callable[[], sqlite3.Connection],
        publish: Callable[[str, bytes], Any],
        clock: Callable[[], float] = time.time,
        interval_s: float = 5.0,
    ):
        self.sites = list(sites)
        self.connect = connect
        self.publish = publish
        self.clock = clock
        self.interval_s = interval_s
        self.current: dict[str, dict[str, dict[str, Any]]] = {s.id: {} for s in self.sites}
        self.live: dict[str, dict[str, Any]] = {}
        self.published = 0
        self.evaluated_mono: float | None = None  # time.monotonic() of the last pass
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def evaluate(self) -> list[dict[str, Any]]:
        """One pass over all sites; returns the alert messages published."""
        now_at = self.clock()
        conn = self.connect()
        try:
            fresh = {s.id: live_state(conn, s, now_at) for s in self.sites}
        finally:
            conn.close()
        messages = []
        with self._lock:
            for site_id, live in fresh.items():
                alerts = alerts_of(live)
                before = self.current.get(site_id, {})
                for name, alert in alerts.items():
                    alert["since_at"] = before.get(name, {}).get("since_at", now_at)
                    if name not in before:
                        messages.append(self._message(alert, "raised", now_at))
                for name, alert in before.items():
                    if name not in alerts:
                        messages.append(self._message(alert, "cleared", now_at))
                self.current[site_id] = alerts
                live["alerts"] = sorted(alerts.values(), key=lambda a: (ALERT_KINDS.index(a["kind"]), a["key"]))
            self.live = fresh
            self.evaluated_mono = time.monotonic()
        for message in messages:
            try:
                self.publish(topics.alert(message["site"]), json.dumps(message, ensure_ascii=False).encode("utf-8"))
                self.published += 1
            except Exception:  # noqa: BLE001 - an unreachable broker must not stop the monitor
                log.exception("could not publish alert %s", message["kind"])
        return messages

    @staticmethod
    def _message(alert: dict[str, Any], state: str, now_at: float) -> dict[str, Any]:
        return {
            "v": 1, "id": str(uuid.uuid4()), "site": alert["site"], "kind": alert["kind"], "key": alert["key"],
            "state": state, "ts": _iso(now_at), "detail": alert["detail"],
        }

    def fresh(self, max_age_s: float = 1.0) -> None:
        """Evaluate now unless the last pass is younger than `max_age_s` (real seconds): a
        page asking for the live panel sees ages as of now, not as of the last timer pass
        (in a sped-up demo five real seconds are minutes of waiting)."""
        last = self.evaluated_mono
        if last is None or time.monotonic() - last > max_age_s:
            self.evaluate()

    def snapshot(self, site_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.live.get(site_id)

    def poke(self, *_: Any) -> None:
        """Re-evaluate soon (e.g. after an ingest batch)."""
        self._wake.set()

    def start(self) -> AlertMonitor:
        self._thread = threading.Thread(target=self._run, name="xephang-alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate()
            except sqlite3.Error as exc:
                log.error("alert evaluation failed: %s", exc)
            self._wake.wait(self.interval_s)
            self._wake.clear()
            # Let a burst of batches settle before the next pass: thresholds are minutes
            # long, so a few seconds of delay cost nothing, and desks keep the CPU.
            self._stop.wait(2.0)
