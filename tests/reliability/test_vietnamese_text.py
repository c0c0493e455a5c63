"""Vietnamese text in every field, also typed decomposed (NFD: base letter + combining
marks, as some keyboards and macOS file names produce): everything xephang stores,
shows or prints is NFC, so "Hộ tịch" typed either way is one and the same text."""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from kiosk.ticket_image import TicketContent, render_ticket
from protocol import topics
from protocol.events import make_event, parse_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from server.web.auth import create_token, create_user
from tests.reliability.support import publisher
from tests.support import SITE_ID, server_settings_dict, wait_until

TEXTS = {
    "site": "Trung tâm Phục vụ hành chính công phường Nguyễn Huệ",
    "service": "Tư pháp - Hộ tịch: khai sinh, kết hôn, chứng thực chữ ký",
    "counter": "Quầy số 1 - Ông Đặng Văn Lưỡng",
    "priority": "Người cao tuổi, người khuyết tật, phụ nữ mang thai",
    "reason": "Đi họp ở Ủy ban nhân dân xã, quay lại lúc 14 giờ",
}


def nfd(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text and any(unicodedata.combining(c) for c in decomposed)
    return decomposed


def _settings_dict(broker, database):
    data = server_settings_dict(broker, database)
    site = data["sites"][0]
    site["name"] = nfd(TEXTS["site"])
    site["services"][0]["name"] = nfd(TEXTS["service"])
    site["counters"][0]["name"] = nfd(TEXTS["counter"])
    site["priorities"][0]["name"] = nfd(TEXTS["priority"])
    return data


def test_decomposed_text_in_config_events_and_desk_actions_is_stored_and_shown_nfc(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **_settings_dict(broker, tmp_path / "s.db"))
    site = settings.site(SITE_ID)
    assert site.name == TEXTS["site"]
    assert site.services[0].name == TEXTS["service"]
    assert site.counters[0].name == TEXTS["counter"]
    assert site.priorities[0].name == TEXTS["priority"]
    # On the wire: an event whose free text arrives decomposed.
    wire = make_event("counter.paused", site=SITE_ID, source="server", seq=1, data={"counter": "quay-2"})
    body = json.loads(wire.to_json())
    body["data"]["reason"] = nfd(TEXTS["reason"])
    assert parse_event(json.dumps(body, ensure_ascii=False).encode()).data.reason == TEXTS["reason"]
    with TestClient(create_app(settings)) as http:
        runtime = http.app.state.runtime
        wait_until(lambda: http.get("/healthz").json()["broker"] == "connected")
        create_user(runtime.store, "can-bo", "mật-khẩu-dài-1", "desk", [SITE_ID], ["quay-1"])
        headers = {"Authorization": f"Bearer {create_token(runtime.store, 'can-bo')}"}
        response = http.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/pause", json={"reason": nfd(TEXTS["reason"])},
                             headers=headers)
        assert response.status_code == 200, response.text
        client = publisher(broker)
        client.publish(topics.event(SITE_ID, "counter.paused"), json.dumps(body, ensure_ascii=False).encode(),
                       qos=1).wait_for_publish(10)
        # The same words with the combining marks as JSON escapes (\u0323 ...).
        escaped = dict(body, id=str(uuid.uuid4()), seq=2)
        client.publish(topics.event(SITE_ID, "counter.paused"), json.dumps(escaped).encode(), qos=1).wait_for_publish(10)
        wait_until(lambda: runtime.store.counts()["stored"] >= 3, 10)
        view = http.get(f"/api/v1/sites/{SITE_ID}/counters/quay-1/view", headers=headers)
        assert TEXTS["reason"] in view.text or TEXTS["reason"] in json.dumps(view.json(), ensure_ascii=False)
        assert nfd(TEXTS["reason"]) not in json.dumps(view.json(), ensure_ascii=False)
        conn = runtime.store.reader()
        payloads = [json.loads(r[0]) for r in conn.execute("SELECT payload FROM events WHERE type = 'counter.paused'")]
        conn.close()
        client.loop_stop()
    reasons = [p["data"]["reason"] for p in payloads]
    assert len(reasons) == 3 and set(reasons) == {TEXTS["reason"]}
    assert all(unicodedata.is_normalized("NFC", r) for r in reasons), [r.encode()[:20] for r in reasons]


def test_a_ticket_printed_from_decomposed_names_is_the_same_picture(tmp_path):
    when = datetime(2026, 3, 2, 1, 5, tzinfo=UTC)
    ticket = str(uuid.uuid4())

    def content(transform):
        return TicketContent(
            office=transform(TEXTS["site"]), number="A023", service=transform(TEXTS["service"]),
            counter_hint=transform(TEXTS["counter"]), issued_at=when, people_ahead=4, wait_s=900,
            notice=transform("Vui lòng giữ phiếu và chờ đến lượt. Xin cảm ơn!"), url=f"http://x/t/{ticket}",
            priority=transform(TEXTS["priority"]),
        )

    composed = render_ticket(content(lambda t: t)).image
    decomposed = render_ticket(content(nfd)).image
    composed.save(tmp_path / "nfc.png")
    decomposed.save(tmp_path / "nfd.png")
    assert composed.tobytes() == decomposed.tobytes()
