"""Personal data: a phone number is taken only with the citizen's explicit consent,
stored encrypted with that ticket only, used for its messages, and after day end no
phone number is left anywhere: not in the databases (nor their write-ahead logs or free
pages), not in the logs, not in the exports, not in any file the server wrote. A real
server (TestClient), a real broker and a fake SMS gateway."""

from __future__ import annotations

import io
import logging
import sqlite3
import zipfile
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from tests.server.livedesk import Kiosk
from tests.server.notify.fakes import FakeSms
from tests.support import SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until

DIGITS = b"912345678"  # in every form the number could take: 0912…, 84912…, +84 912…


class MovedClock:
    """16:00 at the office today, running at real speed; `shift` moves it."""

    def __init__(self) -> None:
        self.base = office_clock(16)
        self.shift = timedelta(0)

    def __call__(self):
        return self.base() + self.shift


def _everything_written(root: Path) -> dict[str, bytes]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(io.BytesIO(data)) as book:
                    data = b"".join(book.read(name) for name in book.namelist())
            found[str(path)] = data
    return found


def test_a_phone_number_is_taken_with_consent_used_and_gone_after_day_end(broker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sms = FakeSms()
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["notify"] = {"channels": ["page", "sms"], "near_people": 1, "near_minutes": 0,
                      "sms": {"url": f"{sms.server.url}/send", "brandname": "UBND-XA", "api_key": "k", "secret_key": "s"}}
    settings = load_settings(ServerSettings, None, **data)
    clock = MovedClock()
    exports = tmp_path / "exports"
    exports.mkdir()
    try:
        with TestClient(app_on_clock(settings, clock)) as client:
            runtime = client.app.state.runtime
            notifier = runtime.notifier
            wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
            kiosk = Kiosk(broker, clock=clock)
            ids = {n: kiosk.issue(n, "tu-phap-ho-tich") for n in ("A001", "A002", "A003")}
            kiosk.close()
            wait_until(lambda: runtime.store.counts()["stored"] == 3)
            url = f"/api/v1/tickets/{ids['A003']}/subscribe"

            # No consent, no number kept; a malformed number is refused without being echoed.
            refused = client.post(url, json={"channel": "sms", "phone": "0912345678"})
            assert refused.status_code == 422 and refused.json()["code"] == "consent_required"
            bad = client.post(url, json={"channel": "sms", "phone": "0912 345", "consent": True})
            assert bad.status_code == 422 and bad.json()["code"] == "invalid_phone" and "0912" not in bad.text
            assert notifier.outbox.contact_count() == 0
            # An unknown ticket gets the ticket page's 404; a channel the office lacks, 409.
            assert client.post(f"/api/v1/tickets/{ids['A003'][:-4]}ffff/subscribe",
                               json={"channel": "sms", "phone": "0912345678", "consent": True}).status_code == 404
            assert client.post(url, json={"channel": "zalo", "phone": "0912345678", "consent": True}).status_code == 409

            ok = client.post(url, json={"channel": "sms", "phone": "0912 345 678", "consent": True})
            assert ok.status_code == 201 and "912" not in ok.text
            assert client.get(f"/api/v1/tickets/{ids['A003']}/notices").json()["subscribed"] == ["sms"]

            # A001 is called: A003 is near, and the gateway gets one SMS for that number.
            runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")
            wait_until(lambda: sms.accepted)
            assert [m["Phone"] for m in sms.accepted.values()] == ["84912345678"]

            # The manager's view and the exports: counts, never a number.
            create_user(runtime.store, "lanh-dao", "mat-khau-dai-123", "manager", [SITE_ID])
            manager = {"Authorization": f"Bearer {create_token(runtime.store, 'lanh-dao')}"}
            day = runtime.settings.sites[0].local_day(clock()).isoformat()
            summary = client.get(f"/api/v1/notify/summary?site={SITE_ID}&day={day}", headers=manager)
            assert summary.status_code == 200 and summary.json()["messages"]["sms"]["near"] == {"sent": 1}
            assert client.get(f"/api/v1/notify/summary?site={SITE_ID}&day={day}").status_code == 401
            for name in ("stats.csv", "stats.xlsx"):
                answer = client.get(f"/api/v1/{name}?from={day}&to={day}", headers=manager)
                assert answer.status_code == 200
                (exports / name).write_bytes(answer.content)

            conn = sqlite3.connect(notifier.outbox.path)
            (sealed,) = conn.execute("SELECT address FROM contacts").fetchone()
            conn.close()
            assert DIGITS not in sealed  # encrypted at rest

            # Day end (00:10 the next day): the purge deletes the number, and its sealed copy.
            clock.shift = timedelta(hours=8, minutes=10)
            assert notifier.purge() == 1
            assert notifier.outbox.contact_count() == 0
            assert client.get(f"/api/v1/tickets/{ids['A003']}/notices").json()["subscribed"] == []
            written = _everything_written(tmp_path)
            assert any(p.endswith("server-notify.db") for p in written) and any(p.endswith("server.db") for p in written)
            for path, content in written.items():
                assert DIGITS not in content, path
                assert sealed not in content, path
        logs = caplog.text
        assert "912345678" not in logs and "912 345 678" not in logs
        assert "day end: 1 contact(s) of citizens deleted" in logs
    finally:
        sms.close()
