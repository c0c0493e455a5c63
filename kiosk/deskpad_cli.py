"""`xephang keypad`: run a desk keypad at a counter. Light to import."""

from __future__ import annotations

import argparse

from protocol.settings import add_config_option


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("keypad", help="run a desk keypad at a counter (next, recall, complete, no-show)")
    add_config_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    from kiosk.deskpad import DeskPad, DeskpadSettings
    from protocol.settings import load_settings

    settings = load_settings(DeskpadSettings, args.config)
    pad = DeskPad(settings).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if settings.keypad.pin_factory == "keyboard":
            keys = ", ".join(f"{k} = {a}" for k, a in settings.keypad.keys.items())
            print(f"Bàn phím quầy sẵn sàng / desk keypad ready: {keys} (q để thoát)", flush=True)
            pad.keyboard().run(sys.stdin)
        else:
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pad.stop()
    return 0
