"""`xephang kiosk`: run the kiosk, `--check` its hardware and broker, `preview` a ticket.

Light module: argparse only; the kiosk, Pillow, gpiozero and escpos are imported inside
the run functions.
"""

from __future__ import annotations

import argparse
from typing import Any

from protocol.settings import add_config_option


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "kiosk",
        help="run a ticket kiosk (buttons, thermal printer)",
        description="Run a ticket kiosk: buttons or keypad in, tickets printed, ticket.issued events published.",
    )
    add_config_option(parser)
    parser.add_argument("--check", action="store_true", help="report the buttons, lights, printer and broker found, then exit")
    parser.set_defaults(run=_run)
    sub = parser.add_subparsers(dest="kiosk_command", metavar="SUBCOMMAND")
    preview = sub.add_parser("preview", help="render a ticket image without a printer", description="Render a sample ticket to a PNG file.")
    add_config_option(preview)
    preview.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    preview.add_argument("--width", type=int, choices=(576, 384), default=None,
                         help="paper width in dots: 576 (80 mm) or 384 (58 mm); default: the printer profile's")
    preview.add_argument("--number", default=None, help="the number to show (default: the next one of the first service, or A001)")
    preview.add_argument("--service", default=None, help="service id (default: the kiosk's first button)")
    preview.add_argument("--locale", choices=("vi", "en"), default=None, help="language (default: from the configuration, else vi)")
    preview.set_defaults(run=_preview)


def _run(args: argparse.Namespace) -> int:
    from kiosk.runner import check, run

    if args.check:
        return check(args.config)
    return run(args.config)


def _preview(args: argparse.Namespace) -> int:
    from kiosk.runner import preview

    return preview(args.config, args.out, width=args.width, number=args.number, service=args.service, locale=args.locale)
