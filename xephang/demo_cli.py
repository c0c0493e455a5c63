"""`xephang demo`: run a whole reception point on this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run a whole reception point here with a sped-up office day")
    parser.add_argument("--dir", default="var/demo", help="working folder for the demo (default var/demo)")
    parser.add_argument("--speedup", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    parser.add_argument("--duration", type=float, help="stop after this many real seconds (default: run until Ctrl-C)")
    parser.add_argument("--headless", action="store_true", help="no board window even when a screen is available")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port of the server (default 8000)")
    parser.add_argument("--tickets", type=int, default=120, help="citizens in the simulated day (default 120)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the simulated day")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import signal

    from xephang.demo import Demo, DemoOptions

    demo = Demo(DemoOptions(
        directory=Path(args.dir), speedup=args.speedup, duration_s=args.duration,
        headless=True if args.headless else None, http_port=args.port, tickets_per_day=args.tickets, seed=args.seed,
    ))
    signal.signal(signal.SIGTERM, lambda *_: demo.stop_event.set())
    demo.prepare()
    try:
        demo.start()
        print(demo.banner(), flush=True)
        demo.run()
    finally:
        killed = demo.stop()
        summary = (f"\nĐã dừng / stopped: {demo.counts['pressed']} lượt bấm, {demo.counts['called']} lượt gọi, "
                   f"{demo.counts['completed']} hoàn thành, {demo.day_number} ngày mô phỏng trọn"
                   + (f"; phải buộc dừng: {', '.join(killed)}" if killed else "") + "\n")
        _say_last(summary)
    return 0


def _say_last(text: str) -> None:
    """The closing summary survives Ctrl-C when piped (`make demo | tee demo.txt`): the
    pipe's reader got the same Ctrl-C and is gone, so the summary goes to stderr then."""
    import sys

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more may reach the broken pipe
        except OSError:
            pass
        sys.stderr.write(text)
        sys.stderr.flush()
