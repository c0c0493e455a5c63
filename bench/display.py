"""Display board benchmark: CPU while idle and while calling, call -> frame latency,
peak memory. The board is the real program (screen, audio, announcer with espeak-ng,
MQTT feed) in a child process with SDL's dummy video and disk audio drivers; this
process runs a real Mosquitto and plays the server.

Phases (driven from here, marked in the child through its stdin):
- idle: the board shows a full state with a scrolling notice, no messages;
- active: one ticket.called every 5 s (chime + espeak-ng voice, said twice);
- latency: 100 calls 100 ms apart (far more than an office makes; the announcer skips
  the oldest waiting calls beyond 50); latency = paho's thread queues the message ->
  `pygame.display.update` returned for the frame that shows it.
CPU is the child's user+system time (all threads, plus espeak-ng children) / wall time.

Floor, measured in the same board process: a bare pygame frame of the same size (fill
the whole 1920x1080 screen, `pygame.display.update()`), FLOOR_FRAMES of them after each
of the latency phase's rounds. Target: call -> frame p99 <= 3 x the bare frame's p99,
median over the rounds (the call frame also wakes on the queue, applies the event and
draws text; a full-screen bare update is the cost any frame pays). Peak RSS <= 1.2 x
steady RSS (VmRSS at the end).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

# This file is named like the package it measures: keep bench/ itself off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

IDLE_S = 15
ACTIVE_CALLS = 5
ACTIVE_EVERY_S = 5
LATENCY_CALLS = 100
LATENCY_EVERY_S = 0.1
LATENCY_ROUNDS = 5
FLOOR_FRAMES = 40
SITE = "test-site"


def cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# -- the board (child process) ---------------------------------------------------------
def worker() -> None:
    os.environ.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk", PYGAME_HIDE_SUPPORT_PROMPT="1")
    import queue

    from display.app import BoardApp
    from display.feed import Feed
    from display.main import build_announcer, open_audio, open_screen
    from display.settings import DisplaySettings
    from protocol.settings import load_settings
    from tests.support import settings_dict

    spec = json.loads(os.environ["XEPHANG_BENCH_BOARD"])
    data = settings_dict()
    data["broker"] = spec["broker"]
    data["display"] = {
        "site": SITE, "device": "display-1", "size": "1920x1080", "windowed": True,
        "voice": "espeak", "audio_output": "mixer", "stale_after_s": 0,
    }
    settings = load_settings(DisplaySettings, None, **data)
    screen = open_screen(settings)
    output = open_audio(settings)
    announcer = build_announcer(settings, output)
    inbox: queue.Queue = queue.Queue()
    feed = Feed(SITE, "display-1", settings.broker, inbox).start()
    app = BoardApp(settings, screen, inbox, announcer)
    marks: dict[str, tuple[float, float, int, int]] = {}
    floors: list[list[float]] = []
    want_floor = threading.Event()
    floor_done = threading.Event()

    def control() -> None:
        for line in sys.stdin:
            name = line.strip()
            if name == "stop":
                break
            if name == "floor":
                floor_done.clear()
                want_floor.set()
                floor_done.wait(60)
                continue
            marks[name] = (time.monotonic(), cpu_s(), len(app.latencies_s), app.renderer.frames)
        app.running = False

    def bare_frames() -> list[float]:
        import pygame

        surface = pygame.display.get_surface()
        taken = []
        for index in range(FLOOR_FRAMES):
            started = time.perf_counter()
            surface.fill((index % 2 * 40, 0, 0))
            pygame.display.update()
            taken.append(time.perf_counter() - started)
        return taken

    def ready() -> bool:
        if app.model.state_at is not None and not hasattr(ready, "said"):
            ready.said = True  # type: ignore[attr-defined]
            print("ready", flush=True)
        if want_floor.is_set():  # the main thread, between two board frames
            want_floor.clear()
            floors.append(bare_frames())
            app.renderer.keys.clear()  # the next board frame redraws the whole screen
            floor_done.set()
        return False

    threading.Thread(target=control, daemon=True).start()
    app.run(until=ready)
    feed.stop()
    said = len(announcer.log)
    announcer.close(0.5)
    result = {
        "marks": marks,
        "latencies_s": list(app.latencies_s),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_kb": next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                       if line.startswith("VmRSS:")),
        "floors_s": floors,
        "announced": said,
        "bad_messages": app.model.bad_messages,
    }
    print("result " + json.dumps(result), flush=True)
    os._exit(0)  # the announcer may still be speaking; the measurement is over


# -- the server side (this process) ----------------------------------------------------
def main() -> None:
    import subprocess

    from bench.common import LoadWatch, broker_settings, figure, percentile, ratio_figure, start_broker, write_run

    load = LoadWatch()
    from display.demo import demo_state
    from protocol import topics
    from protocol.events import make_event
    from protocol.link import MqttLink
    from tests.support import DEVICES

    with tempfile.TemporaryDirectory() as tmp:
        process, passwords = start_broker(Path(tmp) / "broker", DEVICES)
        board = None
        try:
            server = MqttLink("bench-server", broker_settings(process, "server", passwords), clean_session=True).start()
            server.wait_connected(10)
            now = datetime.now(UTC)
            server.publish(topics.board_state(SITE), demo_state(now, SITE).model_dump_json(), retain=True).wait_for_publish(5)
            display_broker = broker_settings(process, "display-1", passwords).model_dump()
            display_broker["password"] = passwords["display-1"]
            env = dict(os.environ, XEPHANG_BENCH_BOARD=json.dumps({"broker": display_broker}, default=str),
                       SDL_DISKAUDIOFILE=str(Path(tmp) / "audio.raw"))
            board = subprocess.Popen(
                [sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, env=env, cwd=Path(__file__).resolve().parent.parent,
            )
            if board.stdin is None or board.stdout is None:
                raise SystemExit("board process has no pipes")
            line = board.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"board did not start: {line!r}")
            seq = 0

            def mark(name: str) -> None:
                board.stdin.write(name + "\n")
                board.stdin.flush()

            def call(number: str, counter: str) -> None:
                nonlocal seq
                seq += 1
                event = make_event("ticket.called", site=SITE, source="server", seq=seq,
                                   data={"ticket_id": uuid.uuid4(), "number": number, "counter": counter})
                server.publish(topics.event(SITE, "ticket.called"), event.to_json())

            time.sleep(1)
            mark("idle-start")
            time.sleep(IDLE_S)
            mark("idle-end")
            for index in range(ACTIVE_CALLS):
                call(f"A{index + 1:03d}", f"quay-{index % 3 + 1}")
                time.sleep(ACTIVE_EVERY_S)
            mark("active-end")
            per_round = LATENCY_CALLS // LATENCY_ROUNDS
            for round_ in range(LATENCY_ROUNDS):
                for index in range(round_ * per_round, (round_ + 1) * per_round):
                    call(f"B{index + 1:03d}", f"quay-{index % 3 + 1}")
                    time.sleep(LATENCY_EVERY_S)
                time.sleep(0.5)
                mark(f"round-{round_}")
                mark("floor")
            time.sleep(1)
            mark("latency-end")
            mark("stop")
            out, _ = board.communicate(timeout=20)
            server.stop()
        finally:
            if board is not None and board.poll() is None:
                board.kill()
            process.stop()
    result = json.loads(next(line for line in out.splitlines() if line.startswith("result "))[7:])
    marks = result["marks"]

    def cpu_pct(start: str, end: str) -> float:
        return 100 * (marks[end][1] - marks[start][1]) / (marks[end][0] - marks[start][0])

    idle, active = cpu_pct("idle-start", "idle-end"), cpu_pct("idle-end", "active-end")
    calls_ms = [s * 1000 for s in result["latencies_s"][marks["idle-end"][2] : marks["latency-end"][2]]]
    edges = [marks["active-end"][2]] + [marks[f"round-{r}"][2] for r in range(LATENCY_ROUNDS)]
    round_calls = [[s * 1000 for s in result["latencies_s"][a:b]] for a, b in zip(edges, edges[1:])]
    floors = [percentile([s * 1000 for s in f], 99) for f in result["floors_s"]]
    figures_p99 = [percentile(r, 99) for r in round_calls]
    p50, p99 = percentile(calls_ms, 50), percentile(calls_ms, 99)
    print("slowest call frames (ms):", ", ".join(f"{v:.1f}" for v in sorted(calls_ms)[-5:]), flush=True)
    rss_mb, steady_mb = result["maxrss_kb"] / 1024, result["rss_kb"] / 1024
    write_run(
        "display",
        [
            ratio_figure("call event -> frame presented p99 / bare pygame frame p99 (same size, same process)",
                         "bare 1920x1080 frame (fill + display.update) p99", floors, figures_p99, "ms", 3.0),
            ratio_figure("board peak RSS (ru_maxrss) / steady RSS (VmRSS at the end)", "steady RSS",
                         [steady_mb], [rss_mb], "MiB", 1.2),
            figure("idle CPU (scrolling notice, clock)", idle * 0.6, "CPU s/min"),
            figure("idle CPU", idle, "% of one core", "< 2 (a Pi's board must leave the CPU to the office: a budget, "
                   "not a floor)", idle < 2),
            figure("CPU with one call per 5 s (chime + espeak-ng, said twice)", active * 0.6, "CPU s/min"),
            figure("call event -> frame presented p50 (all calls)", p50, "ms"),
            figure("call event -> frame presented p99 (all calls)", p99, "ms"),
            figure("calls announced by the end", result["announced"], "calls"),
        ],
        load,
        notes=(
            f"Board at 1920x1080 in a child process (SDL dummy video, disk audio, real espeak-ng, "
            f"real Mosquitto). Idle {IDLE_S} s; active {ACTIVE_CALLS} calls every {ACTIVE_EVERY_S} s; "
            f"latency over {LATENCY_CALLS} calls at {LATENCY_EVERY_S * 1000:.0f} ms in {LATENCY_ROUNDS} rounds, each "
            f"followed by {FLOOR_FRAMES} bare frames in the same process (the floor). Latency: paho thread queues the "
            "message -> pygame.display.update() returned. Announcements queue (each is about 13 s: chime and "
            f"the sentence twice). RSS of the board process: peak {rss_mb:.1f} MiB, steady {steady_mb:.1f} MiB."
        ),
    )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        main()
