"""Device faults of a site, one answer for every page (issue 22): the desk console, the
board state and the dashboard's live panel and alerts all read `device_faults`.

A device is faulty when it is not online, or when a part reports one of `FAULT_VALUES`
(the kiosk's `printer` summary: "paper_out", "cover_open", ...). "unknown" is not a
fault: a printer that cannot report its state (a file or USB printer without status)
still prints, and the kiosk's own summary says "paper_out" when the sensor says so.
Reads the `devices` table only; imports nothing from the project.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

FAULT_VALUES = frozenset({"paper_out", "paper_low", "error", "offline", "cover_open", "jam", "fault"})


def device_faults(conn: sqlite3.Connection, site_id: str) -> list[dict[str, Any]]:
    """[{device, state, problems: {part: value}, received_at}] for devices offline or with a fault."""
    faults = []
    for device, state, details, received_at in conn.execute(
        "SELECT device, state, details, received_at FROM devices WHERE site = ? ORDER BY device", (site_id,)
    ):
        try:
            info = json.loads(details) if details else {}
        except json.JSONDecodeError:
            info = {}
        problems = {k: v for k, v in sorted(info.items()) if isinstance(v, str) and v in FAULT_VALUES}
        if state != "online" or problems:
            faults.append({"device": device, "state": state, "problems": problems, "received_at": received_at})
    return faults
