"""The `xephang` command line: parses, calls the library, turns errors into one line.

Each role's package has a light `cli` module with `register(subparsers)`; heavy imports
(FastAPI, pygame, escpos) happen only inside the command that needs them.
`XEPHANG_DEBUG=1` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from protocol.errors import XephangError
from protocol.settings import ConfigError
from xephang import __version__

# Modules that register sub-commands; each must stay cheap to import.
COMMAND_MODULES = [
    "server.commands.serve",
    "server.commands.users",
    "server.commands.backup",
    "kiosk.cli",
    "kiosk.feedback_cli",
    "kiosk.deskpad_cli",
    "display.cli",
    "counterdisplay.cli",
    "xephang.simulate_cli",
    "xephang.demo_cli",
    "xephang.doctor.cli",
    "xephang.topology_cli",
    "national.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xephang",
        description="xephang (xếp hàng): queue and kiosk system for one-stop offices",
    )
    parser.add_argument("--version", action="version", version=f"xephang {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(name.split(".")[0]):
                continue  # the role is not part of this installation yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("XEPHANG_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    debug = os.environ.get("XEPHANG_DEBUG") == "1"
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"xephang: config: {line}", file=sys.stderr)
        if debug:
            raise
        return 2
    except XephangError as exc:
        print(f"xephang: {exc}", file=sys.stderr)
        if debug:
            raise
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
