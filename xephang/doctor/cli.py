"""Sub-command `xephang doctor`: check this machine for its role. Light to import."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from protocol.settings import add_config_option


def register(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check this machine for its role and say plainly what is wrong (Vietnamese and English)",
        description="Check the configuration, clock, broker, printer, GPIO, screen, audio, fonts, disk and "
        "databases; exit status 1 when something is wrong.",
    )
    add_config_option(doctor)
    doctor.add_argument(
        "--role", choices=("server", "broker", "kiosk", "display", "desk-keypad", "counter-display"), default=None,
        help="what this machine does (default: guessed from the config's sections)",
    )
    doctor.add_argument(
        "--secrets", default=None,
        help="environment file with the broker password (default: secrets.env next to the config)",
    )
    doctor.add_argument("--server-url", default=None, help="server address to compare the clock with (default: public_url of the config)")
    doctor.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    doctor.add_argument("--locale", choices=("vi", "en", "both"), default="both", help="language of the report (default: both)")
    doctor.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from xephang.doctor.report import Context, exit_status, guess_role, load_secrets, report, run

    config = Path(args.config) if args.config else None
    environ = dict(os.environ)
    secrets = Path(args.secrets) if args.secrets else (config.parent / "secrets.env" if config else None)
    if secrets is not None:
        load_secrets(secrets, environ)  # as systemd's EnvironmentFile gives it to the service
    role = args.role or guess_role(config)
    # The report is the output: libraries' own INFO lines (python-escpos logs "Closing File
    # connection to printer" on the root logger) would only clutter it (XEPHANG_LOG_LEVEL=DEBUG shows them).
    if "XEPHANG_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)
    findings = run(Context(role=role, config=config, server_url=args.server_url, environ=environ))
    locales = ("vi", "en") if args.locale == "both" else (args.locale,)
    print(report(findings, locales))
    return exit_status(findings, args.strict)
