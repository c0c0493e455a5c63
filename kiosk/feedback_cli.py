"""`xephang feedback`: run the rating keypad at a counter (see kiosk/feedback.py).

Light module: argparse only; gpiozero, paho and the keypad are imported inside the run
function.
"""

from __future__ import annotations

import argparse
from typing import Any

from protocol.settings import add_config_option


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "feedback",
        help="run a rating keypad at a counter (3 or 4 buttons)",
        description="Run a rating keypad: one anonymous rating for the ticket the counter has just completed, "
        "published as feedback.given.",
    )
    add_config_option(parser)
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import sqlite3
    import sys
    import threading
    from types import FrameType

    from hardware.buttons import KeypadReader
    from kiosk.feedback import FeedbackApp, FeedbackSettings
    from protocol.errors import XephangError
    from protocol.i18n import translator
    from protocol.settings import load_settings

    settings = load_settings(FeedbackSettings, args.config)
    logging.getLogger().setLevel(settings.log_level)
    _ = translator("kiosk", settings.locale)
    try:
        from protocol import clock

        app = FeedbackApp(settings, wall_clock=clock.now).start()  # real time unless a demo moves it
    except (RuntimeError, ValueError, OSError, sqlite3.Error) as exc:
        raise XephangError(f"feedback keypad cannot start: {exc}") from None
    stop = threading.Event()

    def _terminate(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if settings.feedback.pin_factory in ("keyboard", "mock"):  # mock pins: type the presses
            keys = settings.keypad_keys()
            print(_("Rating keypad ready. Type a key and Enter: {keys} (q to quit)").format(
                keys=", ".join(f"{key} = {rating}" for key, rating in keys.items())), flush=True)
            reader = KeypadReader(keys, app.press_event,
                                  on_unknown=lambda line: print(_("Unknown key {key}").format(key=line), flush=True))
            reader.run(sys.stdin)
        else:
            print(_("Rating keypad ready."), flush=True)
            stop.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        app.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0
