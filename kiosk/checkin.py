"""Check-in at the kiosk by the QR of a booking or an online number (docs/booking.md),
or by a return code for the second visit (docs/second-visit.md).

A USB QR scanner is a keyboard: it types the QR's text and Enter into the kiosk's line
reader (hardware.buttons.KeypadReader, the same seam as a USB keypad), which hands a line
that is no key to `KioskApp.scan`. The kiosk then asks the server, which alone decides
and issues: `POST <server>/api/v1/sites/{site}/check-in` with the kiosk's own desk-role
token (no counters). Only the server numbers a booking's ticket, in the same transaction
that marks the booking used, so one booking never gets two tickets, whatever the kiosk
does. An offline kiosk checks nothing locally: it prints nothing and sends the citizen to
a counter (where the desk checks in by code once the link is back, or a walk-in number is
taken). Standard library only (urllib): no MQTT, GPIO or printer here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckInAnswer:
    ok: bool
    code: str  # "checked_in", or the server's refusal code, or "offline"
    number: str | None = None
    service: str | None = None
    ticket_id: str | None = None
    kind: str | None = None
    counter: int | None = None  # a second visit's counter number (kind "return", docs/second-visit.md)


class CheckInClient:
    def __init__(self, server_url: str, site: str, token: str, timeout_s: float = 5.0):
        self.url = f"{server_url.rstrip('/')}/api/v1/sites/{site}/check-in"
        self.token = token
        self.timeout_s = timeout_s

    def check_in(self, scanned: str) -> CheckInAnswer:
        body = json.dumps({"code": scanned.strip()[:200]}).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - our own server
                found: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                code = str(json.loads(exc.read()).get("code") or f"http_{exc.code}")
            except ValueError:
                code = f"http_{exc.code}"
            return CheckInAnswer(False, code)
        except (urllib.error.URLError, TimeoutError, OSError, ValueError):
            return CheckInAnswer(False, "offline")
        counter = found.get("counter")
        return CheckInAnswer(True, "checked_in", found.get("number"), found.get("service"), found.get("ticket_id"),
                             found.get("kind"), counter if isinstance(counter, int) else None)
