"""Dispatch benchmark: call-next latency over HTTP with 1,000+ tickets waiting and 50
counters acting concurrently, and call-next -> `ticket.called` received by an MQTT
subscriber.

The server runs as its own process (uvicorn, real SQLite file, real Mosquitto), so the
load generator does not share its interpreter. Three phases:
1. busy day: 50 desks act concurrently, each pressing "next" then "complete" about once
   a second (0.5-1.5 s apart, ~100 actions/s: far beyond a real office, where a desk
   acts every few minutes). The targets apply here.
2. stress: 50 desks press back to back with no pause at all (a closed loop): every
   request queues behind the others, so this shows throughput and queueing, not the
   latency a desk feels.
3. one desk alone.
Every called ticket must be distinct (checked).

Floors, measured in the same run: each desk also times an authenticated no-op request
of the same server (GET /api/v1/me: token check, JSON answer, no desk work) after every
round, under the same load; the framework's floor. Target: call-next p99 under the
50-desk load <= 2 x the no-op p99 of the same round, median of the rounds; the ratio to
one desk alone is shown too. The server's RSS is read from /proc after start-up, after
the busy phase (steady) and at the end (VmHWM, the peak): target peak <= 1.2 x steady.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.common import (  # noqa: E402
    MIN_ROUNDS,
    LoadWatch,
    figure,
    office_morning_clock,
    percentile,
    ratio_figure,
    rounds_figure,
    rss_of,
    start_broker,
    write_run,
)
from protocol import topics  # noqa: E402
from protocol.settings import BrokerSettings, Device  # noqa: E402

SITE = "bench"
COUNTERS = 50
WAITING = 3_000  # at least 1,000 are still waiting when the run ends
BUSY_S = 10.0  # phase 1 length
THINK_S = (0.5, 1.5)  # phase 1: pause between a desk's rounds
STRESS_ROUNDS = 10  # phase 2: per counter, back to back
ALONE = 200
LOAD_PROCESSES = 5
MIN_BUSY_ROUNDS = 4  # per desk in the busy phase, however late it started
ROUNDS = MIN_ROUNDS  # the machine is shared and noisy: every figure is the median over the rounds
DEVICES = [Device(id="server", role="server"), Device(id="watch", role="server")]


def site_config() -> dict:
    return {
        "id": SITE, "name": "Bench", "timezone": "Asia/Ho_Chi_Minh",
        "hours": {"weekdays": [0, 1, 2, 3, 4, 5, 6], "open": "00:00:00", "close": "23:59:59", "last_ticket": "23:59:00"},
        "services": [
            {"id": "ho-tich", "name": "Hộ tịch", "letter": "A"},
            {"id": "chung-thuc", "name": "Chứng thực", "letter": "B"},
        ],
        "counters": [
            {"id": f"quay-{i}", "number": i, "name": f"Quầy {i}",
             "services": ["ho-tich", "chung-thuc"] if i % 2 else ["chung-thuc", "ho-tich"]}
            for i in range(1, COUNTERS + 1)
        ],
        "priorities": [{"id": "elderly", "name": "Người cao tuổi"}],
    }


def prepare(directory: Path, broker: BrokerSettings) -> tuple[Path, str]:
    """Config file and database with WAITING tickets issued and an admin token."""
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
        "server": {"database": str(directory / "server.db"), "dispatch_sites": [SITE]},
    }
    config = write_toml(directory / "xephang.toml", data)
    settings = load_settings(ServerSettings, config)
    store = EventStore(settings.server.database, settings.sites)
    start = office_morning_clock(hour=10) - timedelta(hours=2)  # the same clock as the server
    events = []
    for i in range(WAITING):
        service, letter = ("ho-tich", "A") if i % 2 else ("chung-thuc", "B")
        events.append(make_event(
            "ticket.issued", site=SITE, source="kiosk-1", seq=i + 1, ts=start + timedelta(seconds=3 * i),
            data={"ticket_id": str(uuid.uuid4()), "number": f"{letter}{i:04d}", "service": service,
                  "priority": "elderly" if i % 10 == 0 else None},
        ))
    store.append_local(events)
    create_user(store, "bench-admin", "bench-admin-password", "admin", [SITE], [])
    token = create_token(store, "bench-admin", "bench")
    store.close()
    return config, token


def serve(config: str, port: str) -> None:
    """Child process: the real server app under uvicorn."""
    import logging

    import uvicorn

    from protocol.settings import load_settings
    from server.settings import ServerSettings
    from server.web.app import create_app

    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_SWITCH_MS"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_MS"]) / 1000)
    if os.environ.get("BENCH_TRACE"):  # a profiling hook: a module whose install() patches the server
        import importlib.util

        spec = importlib.util.spec_from_file_location("bench_trace", os.environ["BENCH_TRACE"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.install()
    app = create_app(load_settings(ServerSettings, config))
    if os.environ.get("BENCH_DISPATCH_ONLY") == "1":
        threading.Thread(target=_detach_other_listeners, args=(app,), daemon=True).start()
    # Keep-alive longer than uvicorn's 5 s: on a loaded machine a desk's pause can pass it,
    # and a connection closed by the server just as the desk sends is reset.
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False, timeout_keep_alive=120)


def _detach_other_listeners(app) -> None:
    """Second run only: keep the dispatcher's ingest listener, drop the others (statistics
    refresh, alerts), to show what the dispatch path itself costs beside them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runtime = getattr(app.state, "runtime", None)
        if runtime is not None:
            keep = runtime.dispatcher.on_ingested
            runtime.ingestor.listeners[:] = [fn for fn in runtime.ingestor.listeners if fn == keep]
            return
        time.sleep(0.05)


def watch(host: str, port: str, password: str, out: str) -> None:
    """Child process: an MQTT subscriber (like a display) noting when each call arrives;
    writes {ticket_id: perf_counter} to `out` on SIGTERM."""
    watcher = CallWatcher(BrokerSettings(host=host, port=int(port), username="watch", password=password))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("ready", flush=True)
    stop.wait()
    watcher.client.loop_stop()
    Path(out).write_text(json.dumps(watcher.seen))


class CallWatcher:
    """An MQTT subscriber noting when each ticket.called arrives."""

    def __init__(self, broker: BrokerSettings):
        self.seen: dict[str, float] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(broker.username, broker.password.get_secret_value())
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topics.event(SITE, "ticket.called"), 1)
        self.client.on_message = self._on
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on(self, client, userdata, message) -> None:
        self.seen[json.loads(message.payload)["data"]["ticket_id"]] = time.perf_counter()


def desk(base: str, token: str, counter: str, rounds: int, out: list, barrier: threading.Barrier | None,
         until: float | None = None, think_s: tuple[float, float] | None = None, seed: int = 0,
         start_at: float | None = None, floor: list | None = None) -> None:
    import random

    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        client.get("/api/v1/me")  # open the keep-alive connection before the clock starts
        if barrier:
            barrier.wait(30)
        if start_at:
            time.sleep(max(0.0, start_at - time.perf_counter()))
        if think_s:
            time.sleep(rng.uniform(0, think_s[1]))  # desks do not start in lockstep
        done_rounds = 0
        # Under heavy load the processes may start late: every desk acts at least
        # MIN_BUSY_ROUNDS times, whatever the clock says.
        while done_rounds < rounds and (until is None or time.perf_counter() < until or done_rounds < MIN_BUSY_ROUNDS):
            done_rounds += 1
            started = time.perf_counter()
            response = client.post(f"/api/v1/sites/{SITE}/counters/{counter}/next")
            took = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"next at {counter}: {response.status_code} {response.text}")
            out.append((response.json()["ticket_id"], started, took))
            done = client.post(f"/api/v1/sites/{SITE}/counters/{counter}/complete", json={"outcome": "returned"})
            if done.status_code != 200:
                raise RuntimeError(f"complete at {counter}: {done.status_code} {done.text}")
            if floor is not None:
                if think_s:
                    time.sleep(rng.uniform(0, think_s[0]))  # not right behind this desk's own action
                started = time.perf_counter()
                noop = client.get("/api/v1/me")
                floor.append((time.perf_counter() - started) * 1000)
                if noop.status_code != 200:
                    raise RuntimeError(f"no-op: {noop.status_code} {noop.text}")
            if think_s:
                time.sleep(rng.uniform(*think_s))


def _desk_group(args: tuple) -> list:
    """One load-generator process: its share of the desks, as threads, starting together."""
    base, token, counters, rounds, until_in_s, think_s, start_at = args
    out: list = []
    floor: list = []
    until = start_at + until_in_s if until_in_s else None
    threads = [threading.Thread(target=desk, args=(base, token, c, rounds, out, None, until, think_s, i, start_at, floor))
               for i, c in enumerate(counters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return [("call", row) for row in out] + [("floor", ms) for ms in floor]


def run_desks(base: str, token: str, rounds: int, until_s: float | None, think_s: tuple[float, float] | None) -> tuple[list, float]:
    """All 50 desks, spread over LOAD_PROCESSES processes (like separate browsers), started together."""
    import multiprocessing

    names = [f"quay-{i}" for i in range(1, COUNTERS + 1)]
    groups = [names[i::LOAD_PROCESSES] for i in range(LOAD_PROCESSES)]
    start_at = time.perf_counter() + 2.0  # CLOCK_MONOTONIC: the same clock in every process
    with multiprocessing.get_context("fork").Pool(LOAD_PROCESSES) as pool:
        parts = pool.map(_desk_group, [(base, token, g, rounds, until_s, think_s, start_at) for g in groups])
    wall = time.perf_counter() - start_at
    rows = [row for part in parts for kind, row in part if kind == "call"]
    floor = [ms for part in parts for kind, ms in part if kind == "floor"]
    return rows, floor, wall


def profile(pid: int) -> subprocess.Popen | None:
    """With BENCH_PYSPY=<file>: py-spy samples the server through the busy phase (every
    thread, idle ones too, as collapsed stacks), to see where a busy desk's time goes."""
    out = os.environ.get("BENCH_PYSPY")
    if not out:
        return None
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", str(int(BUSY_S) + 2), "-r", "200", "-f", "raw",
                             "--threads", "--idle", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})


def measure(dispatch_only: bool, extra_env: dict | None = None) -> dict:
    """One whole run against a fresh broker, database and server process."""
    from broker.config import free_port

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        process, passwords = start_broker(directory / "broker", DEVICES)
        server_broker = BrokerSettings(host="127.0.0.1", port=process.port, username="server", password=passwords["server"])
        config, token = prepare(directory, server_broker)
        port = free_port()
        env = {**os.environ, "BENCH_DISPATCH_ONLY": "1" if dispatch_only else "0", **(extra_env or {})}
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(config), str(port)],
                                 start_new_session=True, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).json()["broker"] == "connected":
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.1)
            seen_file = directory / "seen.json"
            watcher = subprocess.Popen(
                [sys.executable, __file__, "--watch", "127.0.0.1", str(process.port), passwords["watch"], str(seen_file)],
                stdout=subprocess.PIPE, text=True, start_new_session=True,
            )
            watcher.stdout.readline()
            time.sleep(0.5)
            rss_started = rss_of(child.pid)[0]
            spy = profile(child.pid)
            busy, busy_floor, busy_wall = run_desks(base, token, 10_000, BUSY_S, THINK_S)
            if spy is not None:
                spy.wait(60)
            rss_steady = rss_of(child.pid)[0]
            stress, _, stress_wall = run_desks(base, token, STRESS_ROUNDS, None, None)
            alone: list = []
            alone_floor: list = []
            desk(base, token, "quay-1", ALONE, alone, None, floor=alone_floor)
            time.sleep(1.0)
            rss_end, rss_peak = rss_of(child.pid)
            queue = httpx.get(f"{base}/api/v1/sites/{SITE}/queue", headers={"Authorization": f"Bearer {token}"}).json()
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(15)
            seen = json.loads(seen_file.read_text())
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
            process.stop()
    ids = [t for t, _, _ in busy + stress + alone]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"{len(ids) - len(set(ids))} tickets called twice")
    if len(stress) != COUNTERS * STRESS_ROUNDS or len(alone) != ALONE:
        raise RuntimeError(f"desks failed: {len(stress)} of {COUNTERS * STRESS_ROUNDS} stress calls, "
                           f"{len(alone)} of {ALONE} alone calls made")

    def split(rows: list) -> tuple[list[float], list[float]]:
        http = [took * 1000 for _, _, took in rows]
        e2e = [(seen[t] - started) * 1000 for t, started, _ in rows if t in seen]
        return http, e2e

    return {
        "busy": split(busy), "stress": split(stress), "alone": split(alone),
        "busy_floor": busy_floor, "alone_floor": alone_floor,
        "rss": {"started": rss_started, "steady": rss_steady, "end": rss_end, "peak": rss_peak},
        "busy_rate": 2 * len(busy) / busy_wall, "stress_rate": 2 * len(stress) / stress_wall,
        "calls": (len(busy), len(stress), len(alone)),
        "missing": len(ids) - sum(1 for t in ids if t in seen),
        "waiting_left": sum(s["waiting"] for s in queue["services"].values()),
    }


def figures_of(runs: list[dict], label: str, targets: bool) -> list:
    """Targets as ratios to floors of the same round; the median of the rounds' ratios."""
    def each(value_of) -> list[float]:
        return [value_of(run) for run in runs]

    def p(phase: str, q: float, kind: int = 0) -> list[float]:
        return each(lambda run: percentile(run[phase][kind], q))

    busy99, noop99, alone99 = p("busy", 99), each(lambda run: percentile(run["busy_floor"], 99)), p("alone", 99)
    e2e99 = p("busy", 99, 1)
    missing = max(run["missing"] for run in runs)
    limit = 2.0 if targets else None
    figures = [
        ratio_figure(f"{label} busy: HTTP call-next p99 (50 desks) / no-op p99 under the same load",
                     "authenticated no-op GET p99, same load", noop99, busy99, "ms", limit),
        ratio_figure(f"{label} busy: HTTP call-next p99 (50 desks) / call-next p99 of one desk alone",
                     "one desk alone, call-next p99", alone99, busy99, "ms"),
        ratio_figure(f"{label} alone: HTTP call-next p99 / no-op p99 (one desk)",
                     "authenticated no-op GET p99, one desk", each(lambda run: percentile(run["alone_floor"], 99)),
                     alone99, "ms"),
        rounds_figure(f"{label} busy: HTTP call-next p50 (50 desks)", p("busy", 50), "ms"),
        rounds_figure(f"{label} busy: HTTP call-next p99 (50 desks)", busy99, "ms"),
        rounds_figure(f"{label} busy: no-op GET p99 (50 desks)", noop99, "ms"),
        rounds_figure(f"{label} busy: call-next -> ticket.called via MQTT p99", e2e99, "ms",
                      "< 100 ms (a person's perception, not a machine floor)" if targets else "",
                      (statistics.median(e2e99) < 100) if targets else None),
        rounds_figure(f"{label} busy: desk actions per second", each(lambda run: run["busy_rate"]), "1/s"),
        rounds_figure(f"{label} stress: HTTP call-next p99 (50 desks back to back)", p("stress", 99), "ms"),
        rounds_figure(f"{label} stress: desk actions per second", each(lambda run: run["stress_rate"]), "1/s"),
        rounds_figure(f"{label} alone: HTTP call-next p99 (one desk)", alone99, "ms"),
        figure(f"{label}: ticket.called events not received (worst round)", missing, "", "0", missing == 0),
    ]
    if targets:
        steady = each(lambda run: run["rss"]["steady"])
        peak = each(lambda run: run["rss"]["peak"])
        figures += [
            ratio_figure("server peak RSS (VmHWM, whole run) / steady RSS after the busy phase",
                         "steady RSS after the busy phase", steady, peak, "MiB", 1.2),
            rounds_figure("server RSS after start-up", each(lambda run: run["rss"]["started"]), "MiB"),
        ]
    return figures


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 6 and sys.argv[1] == "--watch":
        watch(*sys.argv[2:])
        return 0
    with_dispatch_only = "--with-dispatch-only" in sys.argv
    office_morning_clock(hour=10)  # the server and its tickets on an office morning, whatever the hour
    rounds = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--rounds=")), ROUNDS)
    load = LoadWatch()
    full_runs, alone_runs = [], []
    try:
        for index in range(rounds):  # side by side, alternating, so both see the same machine
            print(f"[round {index + 1}/{rounds}] server as shipped ... (load {load.sample():.2f})", flush=True)
            full_runs.append(measure(dispatch_only=False))
            run = full_runs[-1]
            print(f"  call-next p99 busy {percentile(run['busy'][0], 99):.1f} ms, no-op p99 busy "
                  f"{percentile(run['busy_floor'], 99):.1f} ms, alone {percentile(run['alone'][0], 99):.1f} ms; "
                  f"RSS steady {run['rss']['steady']:.1f} peak {run['rss']['peak']:.1f} MiB", flush=True)
            if with_dispatch_only:
                print(f"[round {index + 1}/{rounds}] dispatch only ...", flush=True)
                alone_runs.append(measure(dispatch_only=True))
    except RuntimeError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    full = full_runs[-1]
    figures = figures_of(full_runs, "server", True)
    if alone_runs:
        figures += figures_of(alone_runs, "dispatch only", False)
    notes = (
        f"{rounds} rounds, each a fresh server, broker and database; each target is the median over the rounds of "
        "figure / floor, both measured in the same round. "
        f"{WAITING} tickets issued before each run (10 % priority); {COUNTERS} counters; calls per phase "
        f"(busy {BUSY_S:.0f} s, stress, alone): {full['calls']}; {full['waiting_left']} tickets still waiting at the end; "
        "every called ticket distinct. No-op floor: GET /api/v1/me (bearer token checked against the database, the "
        "user as JSON), timed by every desk after each of its rounds, under the same load. "
        + ("'dispatch only' = the same run with the statistics and alerts ingest listeners detached. "
           if alone_runs else "")
        + "Server in its own process (uvicorn); "
        f"load generator ({LOAD_PROCESSES} processes x {COUNTERS // LOAD_PROCESSES} desk threads), MQTT subscriber "
        f"(own process) and Mosquitto on the same {os.cpu_count()}-core machine. RSS of the server process from "
        "/proc: steady = VmRSS after the busy phase, peak = VmHWM at the end of the round."
    )
    write_run("dispatch", figures, load, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
