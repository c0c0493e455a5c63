"""Ingest benchmark: raw paho QoS 1 throughput through Mosquitto vs the server's
sustained ingest (publish -> committed, ack after commit), side by side in one run,
and publish -> committed latency at a steady 500 events/s.

The publisher runs in its own process, as a kiosk would (a publisher in the same
interpreter took the GIL from whichever path it fed, and its own paho bookkeeping grew
with its in-flight window). The raw subscriber and the server's ingest each run in this
process, one after the other, so they get the same CPU budget; the broker is a real
Mosquitto from our config.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.common import (  # noqa: E402
    MIN_ROUNDS,
    LoadWatch,
    broker_settings,
    figure,
    percentile,
    ratio_figure,
    rounds_figure,
    start_broker,
    write_run,
)
from protocol import topics  # noqa: E402
from protocol.settings import Device  # noqa: E402
from protocol.sites import Site  # noqa: E402
from server.mqtt.ingest import Ingestor  # noqa: E402
from server.storage.events import EventStore  # noqa: E402
from tests.support import site_dict  # noqa: E402
from tests.synthetic import default_start, ticket_lives  # noqa: E402

N_EVENTS = 20_000
RATE_PER_S = 500
RATE_SECONDS = 10
PUBLISH_WINDOW = 100  # QoS 1 messages the bench's publisher has in flight
DEVICES = [Device(id="server", role="server"), Device(id="raw", role="server"), Device(id="pub", role="server")]


def _publish_child(port: int, password: str, payloads: list[tuple[str, str, bytes]], paced: bool,
                   ready, go, results) -> None:
    """Child process: connect, say ready, wait for go (a perf_counter start time), then
    publish every payload (steadily if `paced`) and wait for the broker's PUBACKs;
    returns {event_id: sent perf_counter} through `results`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.username_pw_set("pub", password)
    # paho scans its in-flight window on every PUBACK: keep it moderate.
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.set()
    started = go.get(timeout=60)
    time.sleep(max(0.0, started - time.perf_counter()))
    sent_at: dict[str, float] = {}
    infos = []
    for i, (event_id, topic, body) in enumerate(payloads):
        if paced:
            time.sleep(max(0.0, started + i / RATE_PER_S - time.perf_counter()))
        sent_at[event_id] = time.perf_counter()
        infos.append(client.publish(topic, body, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()
    results.put(sent_at)


def forget_session(process, passwords, user: str, client_id: str) -> None:
    """End a persistent session, so the broker stops queueing later runs' events for it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(user, passwords[user])
    client.connect("127.0.0.1", process.port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


class Publisher:
    """The publishing process for one run; `start()` returns the common start time."""

    def __init__(self, process, passwords, payloads, paced: bool = False):
        context = multiprocessing.get_context("spawn")
        self.ready, self.go, self.results = context.Event(), context.Queue(), context.Queue()
        self.child = context.Process(
            target=_publish_child,
            args=(process.port, passwords["pub"], payloads, paced, self.ready, self.go, self.results),
        )
        self.child.start()
        if not self.ready.wait(60):
            raise SystemExit("publisher process did not connect")

    def start(self) -> float:
        started = time.perf_counter() + 0.2  # CLOCK_MONOTONIC: the same clock in both processes
        self.go.put(started)
        return started

    def finish(self) -> dict[str, float]:
        sent_at = self.results.get(timeout=180)
        self.child.join(30)
        return sent_at


def raw_throughput(process, passwords, payloads) -> float:
    done = threading.Event()
    count = [0]
    last = [0.0]

    def on_message(client, userdata, message):
        count[0] += 1
        if count[0] == len(payloads):
            last[0] = time.perf_counter()
            done.set()

    subscribed = threading.Event()
    # A clean session: a persistent one would collect every later run's events while
    # offline and replay them to the next round before its publisher starts.
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:6]}", clean_session=True)
    sub.username_pw_set("raw", passwords["raw"])
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", process.port)
    sub.loop_start()
    sub.subscribe(topics.ALL_EVENTS, qos=1)
    subscribed.wait(10)
    pub = Publisher(process, passwords, payloads)
    started = pub.start()
    if not done.wait(120):
        raise SystemExit(f"raw subscriber got {count[0]} of {len(payloads)}")
    elapsed = last[0] - started
    pub.finish()
    sub.loop_stop()
    sub.disconnect()
    return len(payloads) / elapsed


def ingest_run(process, passwords, site, payloads, directory: Path, paced: bool):
    store = EventStore(directory / f"bench-{uuid.uuid4().hex[:6]}.db", [site])
    ingestor = Ingestor(store, broker_settings(process, "server", passwords), client_id=f"server-{uuid.uuid4().hex[:6]}")
    committed_at: dict[str, float] = {}
    all_done = threading.Event()

    def on_batch(result):
        now = time.perf_counter()
        for event in result.stored:
            committed_at[str(event.id)] = now
        if len(committed_at) >= len(payloads):
            all_done.set()

    ingestor.listeners.append(on_batch)
    ingestor.start()
    ingestor.link.wait_connected(10)
    time.sleep(0.3)
    pub = Publisher(process, passwords, payloads, paced)
    started = pub.start()
    if not all_done.wait(180):
        raise SystemExit(f"ingest stored {len(committed_at)} of {len(payloads)}")
    elapsed = max(committed_at.values()) - started
    sent_at = pub.finish()
    counts = store.counts()
    ingestor.stop()
    store.close()
    forget_session(process, passwords, "server", ingestor.link.client_id)
    latencies_ms = [(committed_at[i] - sent_at[i]) * 1000 for i in sent_at]
    return len(payloads) / elapsed, latencies_ms, counts


def main() -> None:
    rounds = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--rounds=")), MIN_ROUNDS)
    load = LoadWatch()
    site = Site.model_validate(site_dict())
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        process, passwords = start_broker(directory / "broker", DEVICES)
        try:
            events = ticket_lives(site, N_EVENTS // 3 + 10, default_start(), seed=42)[:N_EVENTS]
            burst = [(str(e.id), topics.event(e.site, e.type), e.to_json()) for e in events]
            raw_rates, ingest_rates, losses = [], [], 0
            for round_ in range(rounds):  # alternate, so both sides see the same machine
                raw_rates.append(raw_throughput(process, passwords, burst))
                rate, _, counts = ingest_run(process, passwords, site, burst, directory, paced=False)
                ingest_rates.append(rate)
                losses += N_EVENTS - counts["stored"]
                print(f"round {round_ + 1}/{rounds}: raw {raw_rates[-1]:.0f}/s, ingest {rate:.0f}/s, "
                      f"ratio {rate / raw_rates[-1]:.3f} (load {load.sample():.2f})", flush=True)
            paced_events = ticket_lives(site, RATE_PER_S * RATE_SECONDS // 3 + 10, default_start(), seed=43)
            paced = [(str(e.id), topics.event(e.site, e.type), e.to_json()) for e in paced_events][: RATE_PER_S * RATE_SECONDS]
            _, latencies, counts = ingest_run(process, passwords, site, paced, directory, paced=True)
            losses += len(paced) - counts["stored"]
        finally:
            process.stop()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    write_run(
        "ingest",
        [
            ratio_figure("server ingest throughput (ack after commit) / raw paho QoS 1 subscriber", "raw paho QoS 1",
                         raw_rates, ingest_rates, "events/s", 0.8, at_least=True),
            rounds_figure("raw paho QoS 1 throughput", raw_rates, "events/s"),
            rounds_figure("server ingest throughput, ack after commit", ingest_rates, "events/s"),
            figure("events lost", losses, "events", "0", losses == 0),
            figure(f"publish -> committed p50 at {RATE_PER_S}/s", p50, "ms"),
            figure(f"publish -> committed p99 at {RATE_PER_S}/s", p99, "ms",
                   "< 250 ms (a board showing a ticket a quarter second late goes unnoticed: perception, not a floor)",
                   p99 < 250),
        ],
        load,
        notes=(
            f"{N_EVENTS} events per burst, {rounds} alternating rounds (raw, then ingest); the target is the median of "
            f"the rounds' ratios. Latency over {len(latencies)} events published at a steady {RATE_PER_S}/s. The "
            f"publisher runs in its own process (window {PUBLISH_WINDOW} QoS 1 messages in flight); the raw subscriber "
            "and the ingest run in the benchmark's process in turn."
        ),
    )


if __name__ == "__main__":
    main()
