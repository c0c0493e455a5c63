"""`xephang counter-display`: the small screen above a counter. Light to import."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from protocol.settings import add_config_option


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "counter-display",
        help="run a counter's small display (its number and the ticket it serves)",
        description="Shows one counter's number and the ticket it calls or serves on a MAX7219 LED matrix "
        "(or luma's dummy screen), from the site's retained board state.",
    )
    add_config_option(parser)
    parser.add_argument("--once", metavar="S", type=float,
                        help="run S seconds, print what is shown and exit (checks and pictures)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from counterdisplay.app import CounterDisplay
    from counterdisplay.settings import CounterDisplaySettings
    from protocol.settings import load_settings

    settings = load_settings(CounterDisplaySettings, args.config)
    display = CounterDisplay(settings).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(args.once) if args.once else stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        display.stop()
    if args.once:
        print(display.shown.text if display.shown else "")
    return 0
