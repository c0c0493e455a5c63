"""A notifier alone in its own process, so a test can kill it mid-send (SIGKILL) and
start it again: `python -m tests.server.notify.run_notifier <events.db> <settings.json>
<clock start ISO>`. Test support, not product code."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime
from pathlib import Path

from server.notify.notifier import Notifier
from server.settings import NotifySection
from server.storage.db import read_connection
from tests.server.notify.helpers import site
from tests.support import SITE_ID, clock_from


def main() -> None:
    db, config, start = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), datetime.fromisoformat(sys.argv[3])
    notifier = Notifier(NotifySection(**config), [site()], [SITE_ID], lambda: read_connection(db), db, clock_from(start),
                        backoff_first_s=0.05)
    notifier.start()
    print("started", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
