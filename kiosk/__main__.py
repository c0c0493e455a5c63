"""`python -m kiosk ...` is `xephang kiosk ...` (handy where the script is not installed)."""

import sys

from xephang.cli import main

sys.exit(main(["kiosk", *sys.argv[1:]]))
