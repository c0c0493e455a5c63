"""Booking API benchmark: latency of the citizens' booking API at 50 requests/s (open
loop: requests leave on a fixed schedule whether or not earlier ones answered), side by
side in the same run with a floor (a static file from the same server: the HTTP stack,
no database) and with the desk's call-next.

The server runs as its own process (uvicorn, real SQLite file, real Mosquitto). The mix
of booking requests: 40 % book a slot (POST, a write transaction), 30 % read a booking
by code, 30 % read a day's slots. Beside them, 10 requests/s to the floor and 5 call-next
(+ complete) per second at the desks. Three rounds of ROUND_S seconds; each figure is the
median over the rounds, with the spread. Target (issue 17): booking p99 < 50 ms at
50 requests/s; reported as a ratio to the floor's p99 measured in the same run.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.common import figure, office_morning_clock, percentile, start_broker, write_results  # noqa: E402
from protocol.settings import BrokerSettings, Device  # noqa: E402

SITE = "bench"
SERVICE = "ho-tich"
COUNTERS = 10
BOOKING_RATE = 50.0  # booking API requests per second
FLOOR_RATE = 10.0
DESK_RATE = 5.0  # call-next per second (each followed by a complete)
ROUND_S = 12.0
ROUNDS = 3
WAITING = 2_000
DEVICES = [Device(id="server", role="server")]
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def site_config() -> dict:
    return {
        "id": SITE, "name": "Bench", "timezone": "Asia/Ho_Chi_Minh",
        "hours": {"weekdays": [0, 1, 2, 3, 4, 5, 6], "open": "00:00:00", "close": "23:59:59", "last_ticket": "23:59:00"},
        "services": [{"id": SERVICE, "name": "Hộ tịch", "letter": "A"}],
        "counters": [{"id": f"quay-{i}", "number": i, "name": f"Quầy {i}", "services": [SERVICE]} for i in range(1, COUNTERS + 1)],
        "booking": {"enabled": True, "online_numbers": True, "per_slot": 500, "service_minutes": 1, "counter_share": 1.0,
                    "days_ahead": 14, "cutoff_minutes": 60},
    }


def prepare(directory: Path, broker: BrokerSettings) -> tuple[Path, str]:
    from protocol.events import make_event
    from protocol.settings import load_settings
    from server.settings import ServerSettings
    from server.storage.events import EventStore
    from server.web.auth import create_token, create_user
    from tests.support import write_toml

    data = {
        "sites": [site_config()],
        "devices": [d.model_dump() for d in DEVICES],
        "broker": {**broker.model_dump(), "password": broker.password.get_secret_value()},
        "server": {"database": str(directory / "server.db"), "dispatch_sites": [SITE], "booking_limit": 1_000_000,
                   "booking_code_limit": 1_000_000},
    }
    config = write_toml(directory / "xephang.toml", data)
    settings = load_settings(ServerSettings, config)
    store = EventStore(settings.server.database, settings.sites)
    start = office_morning_clock(hour=10) - timedelta(hours=2)  # the same clock as the server
    store.append_local([
        make_event("ticket.issued", site=SITE, source="kiosk-1", seq=i + 1, ts=start + timedelta(seconds=2 * i),
                   data={"ticket_id": str(uuid.uuid4()), "number": f"A{i:04d}", "service": SERVICE, "priority": None})
        for i in range(WAITING)
    ])
    create_user(store, "bench-admin", "bench-admin-password", "admin", [SITE], [])
    token = create_token(store, "bench-admin", "bench")
    store.close()
    return config, token


def serve(config: str, port: str) -> None:
    import logging

    import uvicorn

    from protocol.settings import load_settings
    from server.settings import ServerSettings
    from server.web.app import create_app

    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_SWITCH_S"):  # an experiment: the interpreter's thread switch interval
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_S"]))
    app = create_app(load_settings(ServerSettings, config))
    if os.environ.get("BENCH_SERVER_TIMES"):
        app = _timed_app(app, os.environ["BENCH_SERVER_TIMES"])
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


def _timed_app(app, out: str):  # type: ignore[no-untyped-def]
    """BENCH_SERVER_TIMES=<file>: each request's time inside the server (from the ASGI
    call to the end of its response), one line per request, to tell a server's slowness
    from the load generator's (which shares the 2 cores)."""
    sink = open(out, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the server's life

    async def timed(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await app(scope, receive, send)
        started = time.perf_counter()
        try:
            return await app(scope, receive, send)
        finally:
            sink.write(f"{time.monotonic():.3f} {scope['method']} {scope['path']} {1000 * (time.perf_counter() - started):.2f}\n")

    return timed


def slot_keys() -> list[str]:
    """Slots from tomorrow on for a week, every 30 minutes from 08:00 to 16:30."""
    today = office_morning_clock(hour=10).astimezone(ZONE).date()
    keys = []
    for days in range(1, 8):
        day = today + timedelta(days=days)
        for minutes in range(8 * 60, 17 * 60, 30):
            keys.append(f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}")
    return keys


class Load:
    """An open-loop schedule of requests over one round; latencies per kind."""

    def __init__(self, base: str, token: str, seed: int):
        self.base, self.token = base, token
        self.rng = random.Random(seed)
        self.keys = slot_keys()
        self.codes: list[str] = []
        self.took: dict[str, list[float]] = {"booking": [], "book": [], "view": [], "slots": [], "floor": [], "call_next": []}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.local = threading.local()
        self.free_counters = [f"quay-{i}" for i in range(1, COUNTERS + 1)]

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(base_url=self.base, timeout=30)
        return client

    def _timed(self, kind: str, method: str, url: str, **kwargs) -> httpx.Response:
        started = time.perf_counter()
        response = self.client().request(method, url, **kwargs)
        took = time.perf_counter() - started
        with self.lock:
            self.took[kind].append(took)
            if kind in ("book", "view", "slots"):
                self.took["booking"].append(took)
            if response.status_code >= 400:
                self.errors.append(f"{kind} {response.status_code} {response.text[:120]}")
        return response

    def booking_request(self) -> None:
        roll = self.rng.random()
        if roll < 0.4 or not self.codes:
            answer = self._timed("book", "POST", "/api/v1/bookings",
                                 json={"site": SITE, "service": SERVICE, "slot": self.rng.choice(self.keys)})
            if answer.status_code == 201:
                with self.lock:
                    self.codes.append(answer.json()["code"])
        elif roll < 0.7:
            self._timed("view", "GET", f"/api/v1/bookings/{self.rng.choice(self.codes)}")
        else:
            day = self.rng.choice(self.keys)[:10]
            self._timed("slots", "GET", f"/api/v1/booking/{SITE}/{SERVICE}/slots", params={"day": day})

    def floor_request(self) -> None:
        self._timed("floor", "GET", "/static/booking.css")

    def desk_request(self) -> None:
        with self.lock:
            if not self.free_counters:
                return
            counter = self.free_counters.pop(0)
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            self._timed("call_next", "POST", f"/api/v1/sites/{SITE}/counters/{counter}/next", headers=headers)
            self.client().post(f"/api/v1/sites/{SITE}/counters/{counter}/complete", json={"outcome": "returned"},
                               headers=headers)
        finally:
            with self.lock:
                self.free_counters.append(counter)

    def run(self, seconds: float) -> None:
        schedule = []
        for rate, job in ((BOOKING_RATE, self.booking_request), (FLOOR_RATE, self.floor_request),
                          (DESK_RATE, self.desk_request)):
            schedule += [(i / rate + self.rng.uniform(0, 0.5 / rate), job) for i in range(int(seconds * rate))]
        schedule.sort(key=lambda item: item[0])
        with ThreadPoolExecutor(max_workers=48) as pool:
            started = time.perf_counter()
            futures = []
            for at, job in schedule:
                time.sleep(max(0.0, started + at - time.perf_counter()))
                futures.append(pool.submit(job))
            for future in futures:
                future.result()


def profile(pid: int) -> subprocess.Popen | None:
    """With BENCH_PYSPY=<file>: py-spy samples the server through the measured rounds
    (every thread, idle ones too, in time order: speedscope), to find what blocks the
    event loop; `python -m bench.loopblocks <file>` lists the longest blocks."""
    out = os.environ.get("BENCH_PYSPY")
    if not out:
        return None
    print(f"server pid {pid}; py-spy -> {out}", flush=True)
    # BENCH_PYSPY_GIL=1: only the thread holding the interpreter lock, as collapsed stacks
    # (who keeps the loop from running), instead of every thread in time order.
    how = ["-f", "raw", "--gil"] if os.environ.get("BENCH_PYSPY_GIL") == "1" else ["-f", "speedscope", "--idle"]
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", str(int(ROUNDS * (ROUND_S + 1)) + 2), "-r", "200",
                             *how, "--threads", "--nonblocking", "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
        return 0
    from broker.config import free_port

    office_morning_clock(hour=10)  # the server, its tickets and bookings on an office morning
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker, passwords = start_broker(directory / "broker", DEVICES)
        try:
            settings = BrokerSettings(host="127.0.0.1", port=broker.port, username="server", password=passwords["server"])
            config, token = prepare(directory, settings)
            port = free_port()
            server = subprocess.Popen([sys.executable, __file__, "serve", str(config), str(port)],
                                      cwd=Path(__file__).resolve().parent.parent, env={**os.environ})
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("server did not start")
                    time.sleep(0.2)
                Load(base, token, 0).run(2.0)  # warm-up, not counted
                spy = profile(server.pid)
                rounds = []
                for index in range(ROUNDS):
                    load = Load(base, token, index + 1)
                    load.run(ROUND_S)
                    if load.errors:
                        raise RuntimeError(f"{len(load.errors)} failed requests, e.g. {load.errors[:3]}")
                    rounds.append(load.took)
                if spy is not None:
                    spy.wait(60)
            finally:
                server.terminate()
                server.wait(15)
        finally:
            broker.stop()

    def per_round(kind: str, pct: float) -> list[float]:
        return [percentile(r[kind], pct) * 1000 for r in rounds]

    def spread(values: list[float]) -> str:
        return f"rounds {', '.join(f'{v:.1f}' for v in values)}"

    booking_p99 = per_round("booking", 99)
    floor_p99 = per_round("floor", 99)
    ratios = [b / f for b, f in zip(booking_p99, floor_p99)]
    figures = [
        figure("booking API p99 at 50 req/s (median of rounds)", statistics.median(booking_p99), "ms", "< 50 ms",
               statistics.median(booking_p99) < 50),
        figure("booking API p50 (median of rounds)", statistics.median(per_round("booking", 50)), "ms"),
        figure("book (POST) p99", statistics.median(per_round("book", 99)), "ms"),
        figure("view by code p99", statistics.median(per_round("view", 99)), "ms"),
        figure("day's slots p99", statistics.median(per_round("slots", 99)), "ms"),
        figure("floor (static file) p99, same run", statistics.median(floor_p99), "ms"),
        figure("booking p99 / floor p99", statistics.median(ratios), "x"),
        figure("desk call-next p99, same run", statistics.median(per_round("call_next", 99)), "ms"),
        figure("booking requests per round", statistics.median([len(r["booking"]) for r in rounds]), "requests"),
    ]
    load_avg = os.getloadavg()[0]
    notes = (f"Load average at the end: {load_avg:.1f} on {os.cpu_count()} cores (a shared machine). "
             f"{ROUNDS} rounds of {ROUND_S:.0f} s, open loop: {BOOKING_RATE:.0f} booking requests/s (40 % book, 30 % view, "
             f"30 % slots), {FLOOR_RATE:.0f} floor requests/s, {DESK_RATE:.0f} call-next/s with {WAITING} tickets waiting. "
             f"Booking p99 per round: {spread(booking_p99)} ms; floor p99: {spread(floor_p99)} ms; "
             f"ratio: {spread(ratios)}.")
    write_results("booking", figures, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
