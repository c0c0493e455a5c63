"""Live simulation: the fast simulator's day replayed through the real parts.

The real kiosk (`kiosk.app.KioskApp`, fake pins and a dummy printer) issues the tickets
and publishes them through a real Mosquitto; the real server ingests them and its real
dispatcher calls, starts, completes and closes them; the measures then come from the
server's stats API. Time is a stepped clock shared by kiosk and dispatcher: before each
action the clock is set to the simulated instant of that action, and between actions
the replay sleeps the simulated gap divided by `speedup`. So the live run makes the
same events at the same instants as the fast run, and the two must agree exactly
(tests/xephang/test_simulate_live.py).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from protocol.settings import BrokerSettings
from protocol.sites import Site
from xephang.simulate import SimulationModel, Staffing, simulate_day


class SteppedClock:
    """A clock that says whatever instant it was last set to (thread-safe)."""

    def __init__(self, start: datetime):
        self._now = start
        self._lock = threading.Lock()

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def __call__(self) -> datetime:
        with self._lock:
            return self._now


@dataclass
class LiveResult:
    stats: dict[str, Any]  # the server's /api/v1/stats row for the site and day
    expected: dict[str, Any]  # the fast simulator's own computation
    actions: int
    # The wait printed by the real kiosk against the real wait of the same ticket (issue 16).
    estimates: dict[str, Any] = field(default_factory=dict)


def compare_estimates(printed: list[tuple[str, int | None, int | None, int | None]],
                      real_wait_s: dict[str, float]) -> dict[str, Any]:
    """`printed`: (number, point, P10, P90) per ticket as the kiosk printed it; `real_wait_s`:
    number -> its real wait. Counts, median error (min), share inside the printed range."""
    from protocol.waitrange import printed_range

    known = [(n, p, lo, hi) for n, p, lo, hi in printed if p is not None and lo is not None and hi is not None]
    served = [(p, lo, hi, real_wait_s[n]) for n, p, lo, hi in known if n in real_wait_s]
    errors = sorted((p - real) / 60 for p, _lo, _hi, real in served)
    inside = sum(1 for _p, lo, hi, real in served if printed_range(lo, hi).holds(real))
    return {
        "printed": len(printed),
        "with_range": len(known),
        "served": len(served),
        "median_error_min": round(errors[(len(errors) - 1) // 2], 2) if errors else None,
        "inside_range_share": round(inside / len(served), 3) if served else None,
    }


def _wait(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("the live system did not catch up in time")
        time.sleep(0.005)


def run_live(
    site: Site,
    model: SimulationModel,
    staffing: Staffing,
    day: date,
    seed: int,
    workdir: Path,
    server_broker: BrokerSettings,
    kiosk_broker: BrokerSettings,
    speedup: float = 600.0,
    http_port: int = 0,
) -> LiveResult:
    import uvicorn
    from gpiozero.pins.mock import MockFactory

    from broker.config import free_port
    from hardware.buttons import Press
    from kiosk.app import KioskApp
    from kiosk.settings import KioskSettings
    from protocol.settings import load_settings
    from server.runtime import Runtime
    from server.settings import ServerSettings
    from server.storage import tickets
    from server.web.app import create_app
    from server.web.auth import create_token, create_user

    fast = simulate_day(site, model, staffing, day, seed)
    # In time order; at the same instant, in the order the simulator decided them (a
    # completion before the next call at that counter).
    actions = [e for _, e in sorted(enumerate(fast.events), key=lambda pair: (pair[1][2], pair[0]))]
    first = datetime.fromtimestamp(actions[0][2], UTC)
    clock = SteppedClock(first)
    site_data = site.model_dump(mode="json")
    server_settings = load_settings(
        ServerSettings, None, sites=[site_data], broker=_broker_dict(server_broker),
        server={"database": str(workdir / "live.db"), "dispatch_sites": [site.id], "client_id": "server"},
    )
    runtime = Runtime.build(server_settings, clock=clock)
    app = create_app(server_settings, runtime=runtime)
    port = http_port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started)
    create_user(runtime.store, "sim-manager", "not-used-" + str(seed), "manager", [site.id], [])
    token = create_token(runtime.store, "sim-manager", "live simulation")
    dispatcher = runtime.dispatcher
    dayend = runtime.dayend
    if dayend is None:
        raise RuntimeError("the simulated server dispatches no site")  # dispatch_sites lists the site above
    dayend.stop()  # the replay runs the day-end itself, at the simulated closing time

    kiosk_settings = load_settings(
        KioskSettings, None, sites=[site_data], broker=_broker_dict(kiosk_broker),
        kiosk={
            "site": site.id, "device_id": kiosk_broker.username,
            "buttons": {s.id: 2 + i for i, s in enumerate(site.services)},
            "priority_pin": 26, "pin_factory": "mock", "debounce_s": 0,
            "rate_limit_count": 1000, "rate_limit_window_s": 1,
            "printer": {"transport": "dummy"}, "data_dir": str(workdir / "kiosk"),
        },
    )
    kiosk = KioskApp(kiosk_settings, pin_factory=MockFactory(), clock=clock).start()
    issued = 0

    def ticket_count() -> int:
        conn = runtime.store.reader()
        try:
            return tickets.issued_count(conn)
        finally:
            conn.close()

    try:
        for counter in staffing.counters:
            dispatcher.open(site.id, counter, "simulation")
        previous = actions[0][2]
        for kind, _site, ts_at, _seq, _source, body in actions:
            time.sleep(max(0.0, (ts_at - previous) / speedup))
            previous = ts_at
            clock.set(datetime.fromtimestamp(ts_at, UTC))
            data = json.loads(body)["data"]
            if kind == "ticket.issued":
                kiosk.press(Press(data["service"], data["priority"]))
                issued += 1
                _wait(lambda n=issued: ticket_count() >= n)  # the queue must know it before anyone is called
            elif kind == "ticket.called":
                called = dispatcher.call_next(site.id, data["counter"], "simulation")
                if called["number"] != data["number"]:
                    raise RuntimeError(f"dispatcher called {called['number']}, the simulator {data['number']}")
            elif kind == "ticket.started":
                dispatcher.start(site.id, data["counter"], "simulation")
            elif kind == "ticket.completed":
                dispatcher.complete(site.id, data["counter"], data["outcome"], actor="simulation")
            elif kind == "ticket.no_show" and _was_called(fast.events, data["ticket_id"]):
                dispatcher.no_show(site.id, data["counter"], "simulation")
        # Citizens still waiting at closing time: the server's own day-end job closes them.
        clock.set(datetime.combine(day, site.hours.close, site.zone).astimezone(UTC))
        dayend.close_site(site.id)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/stats?from={day}&to={day}&site={site.id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            rows = json.loads(response.read())
        printed = [(r.number, r.content.wait_s, r.content.wait_low_s, r.content.wait_high_s)
                   for r in kiosk.results if r.number and r.content is not None and r.outcome == "printed"]
        conn = runtime.store.reader()
        try:
            real = tickets.waits_by_number(conn)
        finally:
            conn.close()
        estimates = compare_estimates(printed, real)
    finally:
        kiosk.stop()
        server.should_exit = True
        thread.join(15)
    rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
    return LiveResult(rows[0] if rows else {}, fast.stats, len(actions), estimates)


def _was_called(events: list, ticket_id: str) -> bool:
    return any(e[0] == "ticket.called" and json.loads(e[5])["data"]["ticket_id"] == ticket_id for e in events)


def _broker_dict(broker: BrokerSettings) -> dict[str, Any]:
    data = broker.model_dump()
    data["password"] = broker.password.get_secret_value() if broker.password else None
    return data
