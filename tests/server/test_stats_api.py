"""The stats and live API through a real broker and the real app: the hand-computed day
arrives shuffled and duplicated over MQTT; JSON, CSV and XLSX give exactly its numbers;
alerts are published on the alerts topic."""

from __future__ import annotations

import csv
import io
import json
import queue
import uuid
from datetime import UTC, datetime

import openpyxl
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.events import make_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from tests.server.stats_day import (
    DAY,
    EXPECTED_BY_SITE,
    EXPECTED_SITE1_BY_SERVICE,
    THIRD_SITE_ID,
    at,
    build_day,
    noisy,
    third_site_dict,
)
from tests.support import OTHER_SITE_ID, SITE_ID, app_on_clock, clock_from, server_settings_dict, wait_until


def _client(broker, user="server"):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, broker.passwords[user])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


@pytest.fixture
def running(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["sites"].append(third_site_dict())
    settings = load_settings(ServerSettings, None, **data)
    events = build_day()
    # The day's data is pinned to D, so is the server's clock: noon on D, when day-end has
    # closed nothing of it yet, on whatever date the test runs.
    with TestClient(app_on_clock(settings, clock_from(at("12:00:00")))) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        publisher = _client(broker)
        for e in noisy(events):
            publisher.publish(topics.event(e.site, e.type), e.to_json(), qos=1).wait_for_publish(10)
        wait_until(lambda: runtime.store.counts()["stored"] == len(events), timeout_s=30)
        tokens = {}
        for name, role, sites in [("lanh-dao", "manager", [SITE_ID, OTHER_SITE_ID, THIRD_SITE_ID]),
                                  ("lanh-dao-1", "manager", [SITE_ID]), ("can-bo", "desk", [SITE_ID])]:
            create_user(runtime.store, name, "mat-khau-dai-123", role, sites, ["quay-1"] if role == "desk" else [])
            tokens[name] = {"Authorization": f"Bearer {create_token(runtime.store, name)}"}
        yield client, tokens, publisher
        publisher.loop_stop()


def _without_names(rows):
    return [{k: v for k, v in r.items() if k != "site_name"} for r in rows]


def test_api_returns_the_hand_computed_numbers_and_exports_match(running):
    client, tokens, _ = running
    manager = tokens["lanh-dao"]
    # The pre-aggregates follow ingest on their own, before anyone asks.
    reader = client.app.state.runtime.store.reader()
    wait_until(lambda: [tuple(r) for r in reader.execute(
        "SELECT issued FROM stats_agg WHERE level = 'd' AND dim = '' AND site = ? AND period = ?", (SITE_ID, DAY)
    )] == [(7,)], timeout_s=15)
    body = client.get(f"/api/v1/stats?from={DAY}&to={DAY}&group_by=site", headers=manager).json()
    assert _without_names(body["rows"]) == EXPECTED_BY_SITE
    assert body["rows"][1]["site_name"] == "Trung tâm Phục vụ hành chính công xã Thử Nghiệm"
    services = client.get(f"/api/v1/stats?from={DAY}&to={DAY}&site={SITE_ID}&group_by=service", headers=manager).json()
    assert _without_names(services["rows"]) == EXPECTED_SITE1_BY_SERVICE

    for group_by in ("site", "service", "day,counter"):
        query = f"from=2026-11-29&to=2026-12-01&group_by={group_by}"
        rows = client.get(f"/api/v1/stats?{query}", headers=manager).json()["rows"]
        csv_response = client.get(f"/api/v1/stats.csv?{query}", headers=manager)
        assert csv_response.headers["content-type"].startswith("text/csv")
        parsed = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
        assert len(parsed) == len(rows) > 0
        for got, want in zip(parsed, rows):
            assert set(got) <= set(want)
            assert got == {k: "" if want[k] is None else str(want[k]) for k in got}
        xlsx = client.get(f"/api/v1/stats.xlsx?{query}", headers=manager)
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
        table = list(sheet.iter_rows(values_only=True))
        header, lines = table[0], table[1:]
        assert len(lines) == len(rows)
        columns = [c for c in csv_response.content.decode("utf-8-sig").splitlines()[0].split(",")]
        assert header[columns.index("pct_within_target")] == "% trong hạn"
        for line, want in zip(lines, rows):
            for column, value in zip(columns, line):
                if column == "day":
                    assert value.strftime("%Y-%m-%d") == want["day"]
                    assert sheet.cell(2, columns.index("day") + 1).number_format == "dd/mm/yyyy"
                elif column.endswith("_s"):  # minutes in Excel, as on the dashboard; seconds in the API
                    assert value == (None if want[column] is None else pytest.approx(want[column] / 60)), column
                    assert sheet.cell(2, columns.index(column) + 1).number_format == "0.0"
                elif column.startswith("pct_") or column.endswith("_pct"):  # Excel percentages
                    assert value == (None if want[column] is None else pytest.approx(want[column] / 100)), column
                    assert sheet.cell(2, columns.index(column) + 1).number_format == "0.0%"
                else:  # an unknown service or counter ("") is an empty cell
                    assert value == (None if want[column] == "" else want[column]), column
        assert header[columns.index("wait_p50_s")] == "Chờ trung vị (phút)"
    for group_by, column, labels in (("week", 3, ["Tuần 48/2026", "Tuần 49/2026"]), ("month", 3, ["11/2026", "12/2026"])):
        xlsx = client.get(f"/api/v1/stats.xlsx?from=2026-11-29&to=2026-12-01&site={SITE_ID}&group_by={group_by}",
                          headers=manager)
        book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
        assert [r[column - 1] for r in book.worksheets[0].iter_rows(min_row=2, values_only=True)] == labels
        assert book.sheetnames == ["Thống kê", "Đặt lịch", "Ghi chú"]
        assert book["Ghi chú"]["B1"].value == "29/11/2026 - 01/12/2026"
    by_day = client.get("/api/v1/stats?from=2026-11-29&to=2026-12-01&site=test-site&group_by=day", headers=manager)
    assert [(r["day"], r["issued"]) for r in by_day.json()["rows"]] == [("2026-11-29", 1), (DAY, 7), ("2026-12-01", 1)]


def test_roles_sites_and_bad_input(running):
    client, tokens, _ = running
    assert client.get(f"/api/v1/stats?from={DAY}&to={DAY}").status_code == 401
    desk = client.get(f"/api/v1/stats?from={DAY}&to={DAY}", headers=tokens["can-bo"])
    assert desk.status_code == 403 and desk.json()["code"] == "forbidden"
    mine = client.get(f"/api/v1/stats?from={DAY}&to={DAY}", headers=tokens["lanh-dao-1"]).json()["rows"]
    assert [r["site"] for r in mine] == [SITE_ID]
    other = client.get(f"/api/v1/stats?from={DAY}&to={DAY}&site={OTHER_SITE_ID}", headers=tokens["lanh-dao-1"])
    assert other.status_code == 403
    manager = tokens["lanh-dao"]
    cases = [
        ("from=2026-13-01&to=2026-12-01", 400, "bad_date"),
        ("from=2026-12-02&to=2026-12-01", 400, "bad_range"),
        ("from=1900-12-01&to=2026-12-01", 400, "bad_date"),  # a typing slip, not a period
        ("from=2026-12-01&to=2099-12-01", 400, "bad_date"),
        ("from=2020-01-01&to=2026-12-01", 400, "bad_range"),
        (f"from={DAY}&to={DAY}&group_by=weekday", 400, "bad_group_by"),
        (f"from={DAY}&to={DAY}&site=no-such-site", 404, "unknown_site"),
    ]
    for query, status, code in cases:
        response = client.get(f"/api/v1/stats.xlsx?{query}", headers=manager)
        assert (response.status_code, response.json()["code"]) == (status, code), query
    assert client.get("/api/v1/live", headers=tokens["can-bo"]).status_code == 200
    assert client.get(f"/api/v1/live?site={OTHER_SITE_ID}", headers=tokens["can-bo"]).status_code == 403


def test_live_state_and_published_alerts(running, broker):
    client, tokens, publisher = running
    runtime = client.app.state.runtime
    monitor = runtime.alerts
    now = {"at": at("10:30:00").timestamp()}
    monitor.clock = lambda: now["at"]
    received: queue.Queue = queue.Queue()
    listener = _client(broker)
    listener.on_message = lambda c, u, m: received.put((m.topic, json.loads(m.payload)))
    listener.subscribe(f"{topics.PREFIX}/+/alerts", qos=1)
    wait_until(lambda: listener.is_connected())
    monitor.evaluate()
    _settle(received)  # what the monitor published with the real clock before ours

    live = client.get(f"/api/v1/live?site={SITE_ID}", headers=tokens["lanh-dao"]).json()["sites"][0]
    assert (live["waiting"], live["longest_wait_s"], live["at_risk"]) == (1, 1800, [])  # A003 since 10:00

    now["at"] = at("10:46:00").timestamp()  # A003 is 46 minutes old: past 45 of 60
    kiosk = _client(broker, "kiosk-1")
    kiosk.publish(topics.device_status(SITE_ID, "kiosk-1"),
                  json.dumps({"state": "online", "ts": datetime.now(UTC).isoformat(), "printer": "paper_out"}),
                  qos=1, retain=True).wait_for_publish(10)
    wait_until(lambda: runtime.store.reader().execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 1)
    paused = make_event("counter.paused", site=SITE_ID, source="keypad-1", seq=1, ts=at("10:20:00"),
                        data={"counter": "quay-1", "reason": "Đi họp"})
    publisher.publish(topics.event(SITE_ID, paused.type), paused.to_json(), qos=1).wait_for_publish(10)
    wait_until(lambda: runtime.store.reader().execute(
        "SELECT COUNT(*) FROM counters WHERE state = 'paused'").fetchone()[0] == 1)
    monitor.evaluate()
    live = client.get(f"/api/v1/live?site={SITE_ID}", headers=tokens["can-bo"]).json()["sites"][0]
    assert [(t["number"], t["age_s"]) for t in live["at_risk"]] == [("A003", 2760)]
    assert live["device_faults"][0]["problem"] == "paper_out"
    kinds = sorted((a["kind"], a["key"]) for a in live["alerts"])
    at_risk_id = live["at_risk"][0]["ticket_id"]
    assert kinds == [("counter_paused", "quay-1"), ("device_fault", "kiosk-1:printer"), ("ticket_at_risk", at_risk_id)]
    messages = []
    wait_until(lambda: messages.extend(_drain(received)) or len(messages) >= 3)
    assert {(t, m["kind"], m["state"]) for t, m in messages} == {
        (topics.alert(SITE_ID), "counter_paused", "raised"),
        (topics.alert(SITE_ID), "device_fault", "raised"),
        (topics.alert(SITE_ID), "ticket_at_risk", "raised"),
    }
    # The same state again publishes nothing; a cleared fault publishes "cleared".
    assert monitor.evaluate() == []
    kiosk.publish(topics.device_status(SITE_ID, "kiosk-1"),
                  json.dumps({"state": "online", "ts": datetime.now(UTC).isoformat(), "printer": "ok"}),
                  qos=1, retain=True).wait_for_publish(10)
    wait_until(lambda: "ok" in runtime.store.reader().execute("SELECT details FROM devices").fetchone()[0])
    monitor.evaluate()  # the monitor's own thread may get there first: read what was published
    later: list = []
    wait_until(lambda: later.extend(_drain(received)) or later)
    _settle(received)
    assert [(m["kind"], m["key"], m["state"]) for _t, m in later] == [("device_fault", "kiosk-1:printer", "cleared")]
    assert [a["kind"] for a in monitor.snapshot(SITE_ID)["alerts"]] == ["ticket_at_risk", "counter_paused"]
    listener.loop_stop()
    kiosk.loop_stop()


def _drain(q: queue.Queue) -> list:
    out = []
    while not q.empty():
        out.append(q.get())
    return out


def _settle(q: queue.Queue, quiet_s: float = 0.7) -> None:
    """Drop messages until none has arrived for `quiet_s`."""
    while True:
        try:
            q.get(timeout=quiet_s)
        except queue.Empty:
            return
