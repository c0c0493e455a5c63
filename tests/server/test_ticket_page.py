"""The citizen's ticket page and its public API on a real server, broker and SQLite:
what a ticket shows as it goes from waiting to called to completed, one rating per
ticket (emitted by the server as feedback.given and counted in the stats), and that
nothing about other tickets can be read or probed."""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.settings import load_settings
from protocol.speech import call_sentence, ticket_words
from protocol.waitrange import printed_range
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from server.web.ratelimit import RateLimiter
from tests.server.livedesk import Kiosk
from tests.support import SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until

PUBLIC_KEYS = {"number", "service", "status", "people_ahead", "estimated_wait_s", "wait_low_s", "wait_high_s", "wait_text",
               "counter", "rated", "spoken", "documents",
               "updated_at", "second_visit", "return_code"}


@pytest.fixture
def office(broker, tmp_path):
    db = tmp_path / "server.db"
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, db))
    office = office_clock()  # 10:00 on the project clock's date: no midnight mid-test
    app = app_on_clock(settings, office)
    with TestClient(app) as client:
        runtime = app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        kiosk = Kiosk(broker, clock=office)
        yield client, runtime, kiosk, db
        kiosk.close()


def _issue(runtime, kiosk, *specs) -> dict[str, str]:
    ids = {number: kiosk.issue(number, service, priority) for number, service, priority in specs}
    wait_until(lambda: _count(runtime.store.path, "SELECT COUNT(*) FROM tickets WHERE status = 'waiting'") >= len(ids))
    return ids


def _count(db, sql, *args) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def _view(client, ticket_id, lang="vi") -> dict:
    response = client.get(f"/api/v1/tickets/{ticket_id}?lang={lang}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def test_ticket_goes_from_waiting_to_called_to_completed(office):
    client, runtime, kiosk, db = office
    ids = _issue(runtime, kiosk, ("A001", "tu-phap-ho-tich", None), ("A002", "tu-phap-ho-tich", None),
                 ("A003", "tu-phap-ho-tich", "elderly"), ("B001", "chung-thuc", None))
    dispatcher = runtime.dispatcher

    a2 = _view(client, ids["A002"])
    assert set(a2) == PUBLIC_KEYS
    assert a2["number"] == "A002" and a2["service"] == "Tư pháp - Hộ tịch" and a2["status"] == "waiting"
    # A001 came earlier; the priority A003 goes ahead too. B001 is another service.
    assert a2["people_ahead"] == 2
    assert a2["estimated_wait_s"] is None  # no counter open yet: said so, never a made-up figure
    assert a2["wait_text"] == "chưa ước tính được (2 người phía trước)"
    assert _view(client, ids["A002"], "en")["wait_text"] == "not yet estimated (2 ahead)"
    assert a2["counter"] is None and a2["rated"] is False
    assert a2["spoken"] == {"number": "a, hai", "call": None} == {"number": ticket_words("A002"), "call": None}
    assert _view(client, ids["A003"])["people_ahead"] == 0
    assert _view(client, ids["A001"])["people_ahead"] == 1
    assert _view(client, ids["B001"])["people_ahead"] == 0
    assert _view(client, ids["A002"], "en")["service"] == "Civil status"

    # quay-1 calls: the priority ticket first. Its page says where to go, in the board's words.
    dispatcher.call_next(SITE_ID, "quay-1", "test")
    a3 = _view(client, ids["A003"])
    assert a3["status"] == "called"
    assert a3["counter"] == {"number": 1, "name": "Quầy 1"}
    assert a3["spoken"]["call"] == call_sentence("A003", 1)
    assert a3["spoken"]["call"] == "Mời công dân có số thứ tự a, ba đến quầy số một"
    page = client.get(f"/t/{ids['A003']}")
    assert page.status_code == 200
    assert "Mời đến quầy số 1" in page.text and "Đang gọi số của bạn" in page.text

    time.sleep(0.3)  # a measurable service time
    dispatcher.complete(SITE_ID, "quay-1", "returned", actor="test")
    a3 = _view(client, ids["A003"])
    assert a3["status"] == "completed" and a3["counter"]["number"] == 1 and a3["spoken"]["call"] is None
    # The estimate for A002 (one ahead, quay-1 open and free): the estimator's range, in words.
    a2 = _view(client, ids["A002"])
    assert a2["people_ahead"] == 1
    assert 0 <= a2["wait_low_s"] <= a2["estimated_wait_s"] <= a2["wait_high_s"]
    printed = printed_range(a2["wait_low_s"], a2["wait_high_s"])
    words = (f"dưới {printed.high_min} phút" if printed.under
             else f"khoảng {printed.low_min}–{printed.high_min} phút")
    assert a2["wait_text"] == words
    assert words in client.get(f"/t/{ids['A002']}").text
    assert "Sắp đến lượt bạn" in client.get(f"/t/{ids['A001']}").text

    dispatcher.call_next(SITE_ID, "quay-1", "test")
    dispatcher.no_show(SITE_ID, "quay-1", "test")
    assert _view(client, ids["A001"])["status"] == "no_show"


def _listen(broker, topic: str) -> tuple[mqtt.Client, list[dict]]:
    got: list[dict] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listen-{uuid.uuid4().hex[:6]}")
    client.username_pw_set("display-1", broker.passwords["display-1"])
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, 1)
    client.on_subscribe = lambda *args: ready.set()
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert ready.wait(5)
    return client, got


def test_one_rating_per_completed_ticket_reaches_the_stats(office, broker):
    client, runtime, kiosk, db = office
    ids = _issue(runtime, kiosk, ("B001", "chung-thuc", None), ("B002", "chung-thuc", None))
    dispatcher = runtime.dispatcher
    listener, published = _listen(broker, topics.event(SITE_ID, "feedback.given"))

    # Not yet completed: refused, with a code the page understands.
    refused = client.post(f"/api/v1/tickets/{ids['B001']}/rating", json={"rating": 1, "scale": "4-level"})
    assert refused.status_code == 409 and refused.json()["code"] == "not_completed"
    dispatcher.call_next(SITE_ID, "quay-2", "test")
    refused = client.post(f"/api/v1/tickets/{ids['B001']}/rating", json={"rating": 1, "scale": "4-level"})
    assert refused.status_code == 409 and refused.json()["code"] == "not_completed"
    dispatcher.complete(SITE_ID, "quay-2", "appointment", actor="test")

    bad = client.post(f"/api/v1/tickets/{ids['B001']}/rating", json={"rating": 5, "scale": "4-level"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_rating"
    bad = client.post(f"/api/v1/tickets/{ids['B001']}/rating", json={"rating": "good"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"

    ok = client.post(f"/api/v1/tickets/{ids['B001']}/rating", json={"rating": 2, "scale": "4-level"})
    assert ok.status_code == 201 and ok.json() == {"rated": True}
    again = client.post(f"/api/v1/tickets/{ids['B001']}/rating", json={"rating": 4, "scale": "4-level"})
    assert again.status_code == 409 and again.json()["code"] == "already_rated"
    assert _view(client, ids["B001"])["rated"] is True
    assert _view(client, ids["B002"])["rated"] is False

    # Exactly one feedback.given, made by the server with its own next seq, anonymous.
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT source, seq, payload FROM events WHERE type = 'feedback.given'").fetchall()
    max_seq = conn.execute("SELECT MAX(seq) FROM events WHERE source = 'server' AND type != 'feedback.given'").fetchone()[0]
    conn.close()
    assert len(rows) == 1
    source, seq, payload = rows[0]
    assert source == "server" and seq == max_seq + 1
    data = json.loads(payload)["data"]
    assert data == {"ticket_id": ids["B001"], "counter": "quay-2", "rating": 2, "scale": "4-level"}
    wait_until(lambda: published)
    assert published[0]["data"]["rating"] == 2 and published[0]["site"] == SITE_ID
    listener.loop_stop()
    listener.disconnect()

    # The stats count it: satisfaction per counter and service.
    create_user(runtime.store, "boss", "boss-pass", "manager", [SITE_ID])
    token = create_token(runtime.store, "boss")
    stats = client.get("/api/v1/stats?group_by=counter,service", headers={"Authorization": f"Bearer {token}"})
    assert stats.status_code == 200, stats.text
    rows = [r for r in stats.json()["rows"] if r["ratings"]]
    assert [(r["counter"], r["service"], r["ratings"], r["satisfied"], r["satisfaction_pct"]) for r in rows] == [
        ("quay-2", "chung-thuc", 1, 1, 100.0)
    ]


def test_unknown_and_malformed_ids_look_the_same(office):
    client, runtime, kiosk, db = office
    ids = _issue(runtime, kiosk, ("A001", "tu-phap-ho-tich", None))
    client.app.state.lookup_limiter = RateLimiter(limit=10**6, window_s=60)
    probes = [str(uuid.uuid4()), "abc", "1", "A001", "%", "' OR 1=1 --", ids["A001"][:-1] + "x", "x" * 300,
              ids["A001"] + "0"]
    bodies = set()
    for probe in probes:
        api = client.get(f"/api/v1/tickets/{probe}")
        assert api.status_code == 404, probe
        bodies.add(api.text)
        page = client.get(f"/t/{probe}")
        assert page.status_code == 404 and "Không tìm thấy phiếu" in page.text
        assert "A001" not in page.text
        rating = client.post(f"/api/v1/tickets/{probe}/rating", json={"rating": 1, "scale": "4-level"})
        assert rating.status_code == 404 and rating.text in bodies
    assert bodies == {'{"code":"not_found","detail":"no such ticket"}'}
    # No listing of tickets exists.
    assert client.get("/api/v1/tickets").status_code in (404, 405)
    assert client.get("/api/v1/tickets/").status_code in (404, 405)

    # Malformed and unknown ids cost the same: both do the same one indexed lookup.
    # Measured interleaved (one of each per round), so a burst of load on a shared
    # machine falls on both sides alike instead of on one block of requests.
    def elapsed_ms(ticket_id: str) -> float:
        start = time.perf_counter()
        client.get(f"/api/v1/tickets/{ticket_id}")
        return (time.perf_counter() - start) * 1000

    rounds = [(elapsed_ms(str(uuid.uuid4())), elapsed_ms("not-a-ticket")) for _ in range(60)]
    unknown = statistics.median(u for u, _ in rounds)
    malformed = statistics.median(m for _, m in rounds)
    print(f"median lookup: unknown id {unknown:.2f} ms, malformed id {malformed:.2f} ms")
    assert abs(unknown - malformed) < max(1.5, 0.5 * min(unknown, malformed)), (unknown, malformed)


def test_a_ticket_reveals_nothing_about_other_tickets(office):
    client, runtime, kiosk, db = office
    ids = _issue(runtime, kiosk, ("A001", "tu-phap-ho-tich", None), ("A002", "tu-phap-ho-tich", "elderly"),
                 ("A003", "tu-phap-ho-tich", None))
    runtime.dispatcher.call_next(SITE_ID, "quay-1", "test")  # A002 (priority) is called
    for mine, others in (("A001", ("A002", "A003")), ("A003", ("A001", "A002")), ("A002", ("A001", "A003"))):
        answers = [client.get(f"/api/v1/tickets/{ids[mine]}").text, client.get(f"/t/{ids[mine]}").text,
                   client.get(f"/t/{ids[mine]}?lang=en").text]
        for text in answers:
            assert mine in text
            for other in others:
                assert other not in text and ids[other] not in text
            found_ids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
            assert found_ids <= {ids[mine]}
    assert set(client.get(f"/api/v1/tickets/{ids['A003']}").json()) == PUBLIC_KEYS


def test_lookups_and_ratings_are_rate_limited_per_address(office):
    client, runtime, kiosk, db = office
    ids = _issue(runtime, kiosk, ("A001", "tu-phap-ho-tich", None))
    statuses = [client.get(f"/api/v1/tickets/{uuid.uuid4()}").status_code for _ in range(61)]
    assert statuses[:60] == [404] * 60 and statuses[60] == 429
    # A citizen with a real ticket is not locked out by failed probes.
    assert client.get(f"/api/v1/tickets/{ids['A001']}").status_code == 200
    codes = [client.post(f"/api/v1/tickets/{ids['A001']}/rating", json={"rating": 1}).json()["code"] for _ in range(11)]
    assert codes[:10] == ["not_completed"] * 10 and codes[10] == "too_many_requests"


def test_page_is_small_vietnamese_first_and_self_contained(office):
    client, runtime, kiosk, db = office
    ids = _issue(runtime, kiosk, ("A001", "tu-phap-ho-tich", None))
    page = client.get(f"/t/{ids['A001']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in page.text and "Số thứ tự của bạn" in page.text and "Đang chờ" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # Only this server's own assets: no external URL anywhere.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert set(assets) == {"/static/ticket.css", "/static/ticket.js", "/static/notify.js", "?lang=en"}
    assert "http://" not in page.text and "https://" not in page.text
    sizes = [len(page.content)] + [len(client.get(a).content) for a in ("/static/ticket.css", "/static/ticket.js", "/static/notify.js")]
    print(f"page bytes: html {sizes[0]}, css {sizes[1]}, js {sizes[2]}, alerts js {sizes[3]}")
    # 16 kB before the alerts of issue 18 (notify.js, about 8 kB unminified).
    assert sum(sizes) < 24_000, sizes
    english = client.get(f"/t/{ids['A001']}?lang=en")
    assert '<html lang="en">' in english.text and "Your number" in english.text and "Waiting" in english.text


def test_every_ticket_page_text_has_a_vietnamese_translation():
    import unicodedata
    from pathlib import Path

    from protocol.i18n import parse_po
    from server.web.routes.ticket_page import JS_TEXTS, RATING_LABELS, STATUS_TEXTS

    server = Path(__file__).resolve().parents[2] / "server" / "web"
    used = set(JS_TEXTS) | set(RATING_LABELS) | set(STATUS_TEXTS.values())
    for path in (server / "templates" / "ticket.html", server / "routes" / "ticket_page.py"):
        used |= set(re.findall(r'\b_\("([^"]+)"\)', path.read_text(encoding="utf-8")))
    assert len(used) > 25
    catalog = parse_po((server.parent / "locale" / "vi.po").read_text(encoding="utf-8"))
    missing = sorted(m for m in used if not catalog.get(m))
    assert missing == []
    for message in used:
        assert unicodedata.is_normalized("NFC", catalog[message]), message
