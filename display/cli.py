"""`xephang display`: run the board, or write one snapshot of it.

Light to import: pygame, paho and the audio back-ends are imported inside `run`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from protocol.settings import add_config_option


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "display",
        help="run the display board (calls, counters, waiting; chime and voice)",
        description="Full-screen display board for a site: shows and announces calls. "
        "Runs under X/Wayland or without them (SDL KMSDRM on Pi OS Lite).",
    )
    add_config_option(parser)
    parser.add_argument("--windowed", action="store_true", default=None, help="run in a desktop window")
    parser.add_argument("--size", metavar="WxH", help="screen or window size, e.g. 1920x1080 or 1366x768")
    parser.add_argument("--site", help="site id to show (default: display.site or the only site)")
    parser.add_argument(
        "--snapshot", metavar="FILE.png",
        help="write what the board shows to this PNG; alone, write it once and exit",
    )
    parser.add_argument(
        "--snapshot-every", metavar="S", type=int,
        help="keep running and rewrite the snapshot every S seconds",
    )
    parser.add_argument(
        "--wait", metavar="S", type=float, default=3.0,
        help="with --snapshot alone: seconds to wait for the retained board state (default 3)",
    )
    parser.add_argument(
        "--demo", action="store_true",
        help="show sample data with long names instead of connecting to the broker",
    )
    parser.add_argument(
        "--check-clips", action="store_true",
        help="list the recorded clips the board still needs in display.clips_dir, then exit",
    )
    parser.set_defaults(run=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for key, value in (
        ("windowed", args.windowed), ("size", args.size), ("site", args.site),
        ("snapshot", args.snapshot), ("snapshot_every_s", args.snapshot_every),
    ):
        if value is not None:
            section[key] = value
    return {"display": section} if section else {}


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from display.main import run_board, write_snapshot
    from display.settings import DisplaySettings
    from protocol.settings import load_settings

    overrides = _overrides(args)
    if args.demo and not args.config and args.site is None:
        # The sample board needs no config: it shows its own sample site (issue 22).
        from display.demo import DEMO_SITE

        overrides.setdefault("display", {})["site"] = DEMO_SITE
    settings = load_settings(DisplaySettings, args.config, **overrides)
    if args.check_clips:
        from display.main import check_clips

        return check_clips(settings)
    if args.snapshot and not args.snapshot_every:
        return write_snapshot(settings, demo=args.demo, wait_s=args.wait)
    return run_board(settings, demo=args.demo)
