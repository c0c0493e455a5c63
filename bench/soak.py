"""`make soak`: an office day at 20x speed at several sites at once, with random faults.

Real processes: Mosquitto (xephang's config), the server, one kiosk per site (keypad on
stdin, file printer) and two desks per site calling and completing over the REST API.
Citizens arrive at random (Poisson) at each kiosk; malformed payloads are mixed in;
every `--fault-every` seconds one of broker, server or a kiosk is killed with SIGKILL
and restarted. At the end every site is reconciled: each printed ticket is stored once,
each completion the desks saw is stored, the statistics match the kiosks' and desks'
own records. Reports events issued / stored / rejected / lost / doubled and each
process's memory over time (RSS sampled every 5 s), and writes bench/results/soak.json.

    python bench/soak.py [--minutes 8] [--sites 3] [--speedup 20] [--rate 60]

`--minutes 29` covers a whole office day (07:30-17:00) at 20x. Exit status 1 when
anything was lost or doubled. Not part of `python -m bench` (it is long): `make soak`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.common import figure, write_results  # noqa: E402
from protocol.settings import Device  # noqa: E402
from tests.reliability.fuzz import junk  # noqa: E402
from tests.reliability.support import (  # noqa: E402
    Desk,
    KioskProcess,
    ServerProcess,
    publish_all,
    publisher,
    reconcile,
    server_rows,
)
from tests.support import site_dict, start_broker, wait_until  # noqa: E402

FAULTS = ("broker", "server", "kiosk")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="soak: an office day, sped up, with random faults")
    parser.add_argument("--minutes", type=float, default=8.0, help="real minutes to run (default 8)")
    parser.add_argument("--sites", type=int, default=3, help="sites served at once (default 3)")
    parser.add_argument("--speedup", type=float, default=20.0, help="office time per real time (default 20)")
    parser.add_argument("--rate", type=float, default=60.0, help="citizens per office hour per site (default 60)")
    parser.add_argument("--fault-every", type=float, default=40.0, help="mean real seconds between faults")
    parser.add_argument("--junk-per-s", type=float, default=50.0, help="malformed payloads per real second")
    parser.add_argument("--seed", type=int, default=8, help="random seed")
    parser.add_argument("--results", type=Path, default=None, help="where to write the JSON (default bench/results/soak.json)")
    return parser.parse_args(argv)


class Soak:
    def __init__(self, args: argparse.Namespace, folder: Path):
        self.args = args
        self.rng = random.Random(args.seed)
        self.stop = threading.Event()
        self.sites = [site_dict(f"soak-{i}", f"Điểm tiếp nhận số {i}") for i in range(1, args.sites + 1)]
        devices = [Device(id="server", role="server")] + [
            Device(id=f"kiosk-{i}", role="kiosk", site=s["id"]) for i, s in enumerate(self.sites, 1)
        ]
        self.broker = start_broker(folder / "broker", devices)
        self.server = ServerProcess(self.broker, folder / "server", sites=self.sites,
                                    devices=[d.model_dump() for d in devices[1:]]).start()
        self.kiosks = [KioskProcess(self.broker, folder / f"kiosk-{i}", site=s, device=f"kiosk-{i}").start()
                       for i, s in enumerate(self.sites, 1)]
        self.kiosk_locks = [threading.Lock() for _ in self.kiosks]
        self.desks = [Desk(self.server, counter, pause_s=0.3, site=s["id"]).start()
                      for s in self.sites for counter in ("quay-1", "quay-2")]
        self.faults: dict[str, int] = defaultdict(int)
        self.junk_sent = 0
        self.memory: list[tuple[float, str, float]] = []  # (seconds since start, process, RSS MB)
        self.started = time.monotonic()

    # -- the day ----------------------------------------------------------------------
    def arrivals(self, index: int) -> None:
        kiosk, rng = self.kiosks[index], random.Random(self.args.seed * 100 + index)
        per_s = self.args.rate / 3600 * self.args.speedup
        while not self.stop.wait(rng.expovariate(per_s)):
            with self.kiosk_locks[index]:
                if kiosk.process.poll() is None:
                    try:
                        kiosk.issue(rng.choice("AB"), timeout_s=10)
                    except AssertionError:
                        pass  # killed mid-print by the fault loop: the restart recovers it

    def junk_loop(self) -> None:
        client = publisher(self.broker, inflight=0)
        stream = junk(10**9, seed=self.args.seed)
        while not self.stop.wait(1.0):
            batch = [next(stream) for _ in range(int(self.args.junk_per_s))]
            try:
                self.junk_sent += publish_all(client, batch, timeout_s=60)
            except (RuntimeError, ValueError):
                # The broker was killed under us: QoS 1 messages in flight are resent on
                # reconnect by paho; count only what the broker acknowledged.
                pass
        client.loop_stop()

    def fault_loop(self) -> None:
        while not self.stop.wait(self.rng.expovariate(1 / self.args.fault_every)):
            kind = self.rng.choice(FAULTS)
            self.faults[kind] += 1
            if kind == "broker":
                self.broker.kill()
                time.sleep(self.rng.uniform(0.5, 3))
                self.broker.start()
            elif kind == "server":
                self.server.kill()
                time.sleep(self.rng.uniform(0.5, 2))
                self.server.start()
            else:
                index = self.rng.randrange(len(self.kiosks))
                self.kiosks[index].kill()  # whatever it was doing
                with self.kiosk_locks[index]:
                    self.kiosks[index].start()

    def memory_loop(self) -> None:
        while not self.stop.wait(5.0):
            processes = {"broker": self.broker.process.process, "server": self.server.process}
            processes.update({f"kiosk-{i}": k.process for i, k in enumerate(self.kiosks, 1)})
            for name, process in processes.items():
                try:
                    rss = psutil.Process(process.pid).memory_info().rss / 2**20
                except (psutil.Error, AttributeError):
                    continue  # restarting right now
                self.memory.append((time.monotonic() - self.started, name, rss))

    def run(self) -> None:
        threads = [threading.Thread(target=self.arrivals, args=(i,), daemon=True) for i in range(len(self.kiosks))]
        threads += [threading.Thread(target=t, daemon=True) for t in (self.junk_loop, self.memory_loop)]
        faults = threading.Thread(target=self.fault_loop, daemon=True)
        for thread in threads + [faults]:
            thread.start()
        time.sleep(self.args.minutes * 60)
        self.stop.set()
        faults.join(30)
        for thread in threads:
            thread.join(30)
        self.settle()

    def settle(self) -> None:
        wait_until(lambda: self.server.healthy(), 60, 0.5)
        for kiosk in self.kiosks:
            if kiosk.process.poll() is not None:
                kiosk.start()
            wait_until(lambda: kiosk.unsent() == 0, 120, 0.5)
        printed = sum(1 for k in self.kiosks for r in k.records().values() if r["state"] == "printed")
        wait_until(lambda: sum(len(d.log.completed) for d in self.desks) >= printed, 180, 0.5)
        for desk in self.desks:
            desk.stop()
        wait_until(lambda: (self.server.health() or {}).get("ingest", {}).get("pending") == 0, 60, 0.5)
        time.sleep(1.0)
        for kiosk in self.kiosks:
            kiosk.stop()

    # -- the report -------------------------------------------------------------------
    def report(self) -> tuple[list[dict], str, bool]:
        figures_per_site, problems = [], []
        for site, kiosk in zip(self.sites, self.kiosks):
            log = Desk(self.server, site=site["id"]).log
            for desk in self.desks:
                if desk.site == site["id"]:
                    log.called |= desk.log.called
                    log.completed.update(desk.log.completed)
            try:
                figures_per_site.append(reconcile(self.server, [kiosk], log, site=site["id"]))
            except AssertionError as exc:
                problems.append(f"{site['id']}: {exc}")
        printed = sum(1 for k in self.kiosks for r in k.records().values() if r["state"] == "printed")
        completed = sum(len(d.log.completed) for d in self.desks)
        health = self.server.health() or {}
        counts = health.get("events", {})
        stored = server_rows(self.server.database, "SELECT COUNT(*) FROM events")[0][0]
        lost = sum(f["lost"] for f in figures_per_site)
        doubled = sum(f["doubled"] for f in figures_per_site)
        rejected = counts.get("rejected", -1)
        growth, peaks, timeline = self.memory_summary()
        ok = not problems and lost == 0 and doubled == 0 and rejected >= self.junk_sent
        figs = [
            figure("real minutes", self.args.minutes, "min"),
            figure("office time simulated", self.args.minutes * self.args.speedup / 60, "h"),
            figure("sites", len(self.sites), ""),
            figure("tickets printed (kiosks' records)", printed, ""),
            figure("tickets completed (desks' records)", completed, ""),
            figure("events stored", stored, ""),
            figure("malformed payloads sent (acknowledged by the broker)", self.junk_sent, ""),
            figure("payloads rejected by the server", rejected, "", ">= sent", rejected >= self.junk_sent),
            figure("tickets lost", lost, "", "0", lost == 0),
            figure("tickets doubled", doubled, "", "0", doubled == 0),
            figure("sites whose statistics match a recomputation", len(figures_per_site), "",
                   f"{len(self.sites)}", not problems),
            *(figure(f"faults: {kind} killed (SIGKILL) and restarted", self.faults[kind], "") for kind in FAULTS),
            *(figure(f"peak RSS {name}", peak, "MB") for name, peak in sorted(peaks.items())),
            *(figure(f"RSS growth {name} (last third / first third)", ratio, "x", "<= 1.3", ratio <= 1.3)
              for name, ratio in sorted(growth.items())),
        ]
        notes = "Peak RSS (MB) per minute:\n" + timeline + ("\nProblems: " + "; ".join(problems) if problems else "")
        return figs, notes, ok and all(r <= 1.3 for r in growth.values())

    def memory_summary(self) -> tuple[dict[str, float], dict[str, float], str]:
        by_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for at, name, rss in self.memory:
            by_name[name].append((at, rss))
        growth, peaks = {}, {}
        for name, samples in by_name.items():
            peaks[name] = max(r for _, r in samples)
            third = max(1, len(samples) // 3)
            first = max(r for _, r in samples[:third])
            last = max(r for _, r in samples[-third:])
            growth[name] = round(last / first, 3) if first else 0.0
        minutes = sorted({int(at // 60) for at, _, _ in self.memory})
        lines = ["minute  " + "  ".join(f"{n:>9}" for n in sorted(by_name))]
        for minute in minutes:
            row = []
            for name in sorted(by_name):
                values = [r for at, r in by_name[name] if int(at // 60) == minute]
                row.append(f"{max(values):9.1f}" if values else " " * 9)
            lines.append(f"{minute:6d}  " + "  ".join(row))
        return growth, peaks, "\n".join(lines)

    def close(self) -> None:
        for desk in self.desks:
            desk.stop()
        for kiosk in self.kiosks:
            kiosk.stop(5)
        self.server.stop()
        self.broker.stop()


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    with tempfile.TemporaryDirectory(prefix="xephang-soak-") as folder:
        soak = Soak(args, Path(folder))
        try:
            soak.run()
            figures, notes, ok = soak.report()
        finally:
            soak.close()
    if args.results is not None:
        import bench.common as common

        common.RESULTS = args.results.parent
        write_results(args.results.stem, figures, notes)
    else:
        write_results("soak", figures, notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
