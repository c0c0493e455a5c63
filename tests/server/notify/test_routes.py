"""The notification routes of the web layer on a real server and broker: the ticket id
is the only key (unknown ids get the ticket page's 404), opting in and out of Web Push,
a channel the office does not use is refused, the service worker is served from the
ticket pages' scope, and the summary is for managers only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from tests.server.livedesk import Kiosk
from tests.support import SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until

SUBSCRIPTION = {"endpoint": "https://push.example.net/send/abc123",
                "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0LWF1dGgtMTY"}}


def test_opt_in_and_out_and_what_each_route_reveals(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["notify"] = {"channels": ["page", "webpush"]}
    settings = load_settings(ServerSettings, None, **data)
    clock = office_clock()
    with TestClient(app_on_clock(settings, clock)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        kiosk = Kiosk(broker, clock=clock)
        ticket = kiosk.issue("A001", "tu-phap-ho-tich")
        kiosk.close()
        wait_until(lambda: runtime.store.counts()["stored"] == 1)

        for probe in (ticket[:-4] + "ffff", "A001", "not-a-uuid"):
            answer = client.get(f"/api/v1/tickets/{probe}/notices")
            assert answer.status_code == 404 and answer.json() == {"code": "not_found", "detail": "no such ticket"}
        wait_until(lambda: client.get(f"/api/v1/tickets/{ticket}/notices").json()["notices"])
        notices = client.get(f"/api/v1/tickets/{ticket}/notices").json()
        assert notices["notices"][0]["kind"] == "near" and notices["phone_channels"] == []
        assert notices["push_key"] == runtime.notifier.push_key() and len(notices["push_key"]) == 87

        url = f"/api/v1/tickets/{ticket}/subscribe"
        assert client.post(url, json={"channel": "webpush"}).json()["code"] == "missing_subscription"
        assert client.post(url, json={"channel": "sms", "phone": "0912345678", "consent": True}).status_code == 409
        assert client.post(url, json={"channel": "webpush", "subscription": SUBSCRIPTION}).status_code == 201
        assert client.get(f"/api/v1/tickets/{ticket}/notices").json()["subscribed"] == ["webpush"]
        assert client.post(f"/api/v1/tickets/{ticket}/unsubscribe", json={}).json() == {"removed": 1}
        assert client.get(f"/api/v1/tickets/{ticket}/notices").json()["subscribed"] == []
        assert runtime.notifier.outbox.contact_count() == 0

        worker = client.get("/notify-sw.js")
        assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
        assert "showNotification" in worker.text

        create_user(runtime.store, "can-bo", "mat-khau-dai-123", "desk", [SITE_ID], ["quay-1"])
        create_user(runtime.store, "lanh-dao", "mat-khau-dai-123", "manager", [SITE_ID])
        day = settings.sites[0].local_day(clock()).isoformat()
        path = f"/api/v1/notify/summary?site={SITE_ID}&day={day}"
        desk = {"Authorization": f"Bearer {create_token(runtime.store, 'can-bo')}"}
        manager = {"Authorization": f"Bearer {create_token(runtime.store, 'lanh-dao')}"}
        assert client.get(path, headers=desk).status_code == 403
        summary = client.get(path, headers=manager).json()
        assert summary["messages"] == {"page": {"near": {"sent": 1}}}
        assert client.get(f"/api/v1/notify/summary?site=other-site&day={day}", headers=manager).status_code == 403
