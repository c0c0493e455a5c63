"""The report pack through the real app (real broker, real SQLite file): the JSON API
gives the hand-computed month, the workbook opens with openpyxl with its sheets, headers,
number formats and charts on the right ranges, the same data gives the same file, the
monthly job keeps packs, and roles are enforced (a desk user is refused)."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

import openpyxl
import pytest
from fastapi.testclient import TestClient

from protocol import topics
from protocol.i18n import translator
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.stats.report_xlsx import DATE, DURATION, workbook
from server.storage.events import Incoming
from server.web.auth import create_token, create_user
from tests.server.report_month import build_month, expected
from tests.server.stats_day import LOCAL
from tests.support import OTHER_SITE_ID, SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until


@pytest.fixture
def app(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["sites"][0]["groups"] = {"commune": "Xã Thử Nghiệm"}
    data["sites"][1]["groups"] = {"commune": "Xã Thử Nghiệm"}
    settings = load_settings(ServerSettings, None, **data)
    clock = office_clock(10)
    events, days = build_month(clock())
    with TestClient(app_on_clock(settings, clock)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        runtime.store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in events])
        tokens = {}
        for name, role, sites in [("lanh-dao", "manager", [SITE_ID, OTHER_SITE_ID]), ("lanh-dao-1", "manager", [SITE_ID]),
                                  ("can-bo", "desk", [SITE_ID]), ("quan-tri", "admin", [])]:
            create_user(runtime.store, name, "mat-khau-dai-123", role, sites, ["quay-1"] if role == "desk" else [])
            tokens[name] = {"Authorization": f"Bearer {create_token(runtime.store, name)}"}
        yield client, tokens, days


def test_json_is_the_hand_computed_month_for_last_month_by_default(app):
    client, tokens, days = app
    got = client.get("/api/v1/reports", params={"site": SITE_ID}, headers=tokens["lanh-dao-1"])
    assert got.status_code == 200, got.text
    report = got.json()
    want = expected(days)
    assert report["period"]["from"] == days["M_from"] and report["period"]["to"] == days["M_to"]
    assert {k: report["summary"][k] for k in want["summary"]} == want["summary"]
    assert report["visits"] == want["visits"]
    assert report["index_766"]["ratio_pct"] == 71.4 and report["same_session"]["pct"] == 66.7
    assert report["label"] == "số liệu tại quầy" and report["generated"]["by"] == "lanh-dao-1"
    # the same month asked by name, and as a range, is the same report
    again = client.get("/api/v1/reports", params={"site": SITE_ID, "month": days["M_from"][:7]}, headers=tokens["lanh-dao-1"])
    ranged = client.get("/api/v1/reports", params={"site": SITE_ID, "from": days["M_from"], "to": days["M_to"]},
                        headers=tokens["lanh-dao-1"])
    for other in (again.json(), ranged.json()):
        assert {k: v for k, v in other.items() if k != "generated"} == {k: v for k, v in report.items() if k != "generated"}
    # a group of sites (the commune), a short period with its own previous period
    group = client.get("/api/v1/reports", params={"group": "commune=Xã Thử Nghiệm", "from": days["D1"], "to": days["D1"]},
                       headers=tokens["lanh-dao"]).json()
    assert [s["id"] for s in group["sites"]] == [SITE_ID, OTHER_SITE_ID]
    assert group["summary"]["issued"] == 6 and group["trend"] == want["trend"][:1]
    assert group["period"]["previous_to"] == (datetime.fromisoformat(days["D1"]) - timedelta(days=1)).date().isoformat()


def test_roles_and_scopes(app):
    client, tokens, days = app
    for path in ("/api/v1/reports", "/api/v1/reports.xlsx", "/api/v1/reports/archive"):
        assert client.get(path).status_code == 401
        refused = client.get(path, headers=tokens["can-bo"])
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    page = client.get("/reports/print", headers=tokens["can-bo"])
    assert page.status_code == 403 and "dành cho lãnh đạo" in page.text
    assert client.get("/reports/print", follow_redirects=False).status_code == 303
    # a manager of one site: not the other, not a group reaching past their sites
    assert client.get("/api/v1/reports", params={"site": OTHER_SITE_ID}, headers=tokens["lanh-dao-1"]).status_code == 403
    assert client.get("/api/v1/reports", params={"group": "commune=Xã Thử Nghiệm"},
                      headers=tokens["lanh-dao-1"]).status_code == 403
    assert client.get("/api/v1/reports", headers=tokens["lanh-dao-1"]).json()["sites"] == [
        {"id": SITE_ID, "name": "Trung tâm Phục vụ hành chính công xã Thử Nghiệm"}]
    assert client.get("/api/v1/reports", headers=tokens["quan-tri"]).status_code == 200
    bad = [({"month": "2026-13"}, "bad_date"), ({"from": days["D2"], "to": days["D1"]}, "bad_range"),
           ({"month": "2026-01", "from": days["D1"]}, "bad_range"), ({"site": "nope"}, "unknown_site"),
           ({"group": "commune"}, "unknown_group"), ({"site": SITE_ID, "group": "a=b"}, "bad_scope")]
    for params, code in bad:
        got = client.get("/api/v1/reports", params=params, headers=tokens["lanh-dao"])
        assert got.status_code in (400, 404) and got.json()["code"] == code, (params, got.text)


def test_workbook_sheets_headers_formats_and_charts(app):
    client, tokens, days = app
    got = client.get("/api/v1/reports.xlsx", params={"site": SITE_ID}, headers=tokens["lanh-dao"])
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["Bìa", "Tổng hợp", "Theo lĩnh vực", "Theo điểm tiếp nhận", "Xu hướng 60 phút", "Trong buổi",
                               "Số lần đến mỗi hồ sơ", "Quầy", "Lần tạm dừng", "Chờ theo giờ", "Có nguy cơ và quá hạn"]
    cover = book["Bìa"]
    text = "\n".join(str(c.value) for row in cover.iter_rows() for c in row if c.value is not None)
    first, last = days["M_from"], days["M_to"]
    assert f"{first[8:]}/{first[5:7]}/{first[:4]} - {last[8:]}/{last[5:7]}/{last[:4]}" in text
    assert "số liệu tại quầy" in text.lower() and "Người lập" in text and "lanh-dao" in text and "Quyết định 766" in text
    summary = book["Tổng hợp"]
    rows = {r[0]: r[1:] for r in summary.iter_rows(values_only=True) if r[0]}
    assert rows["% trong hạn"] == (66.7, 0.0)  # this period and the previous one
    assert rows["Trả trong buổi (%)"][0] == 66.7 and rows["Tỷ lệ kiểu QĐ 766 (%)"][0] == 71.4
    fields = book["Theo lĩnh vực"]
    header = [c.value for c in fields[1]]
    assert header[0] == "Lĩnh vực" and "Trả ngay" in header and "Hẹn trả" in header
    by_name = {r[0]: r for r in fields.iter_rows(min_row=2, values_only=True)}
    assert by_name["Tư pháp - Hộ tịch"][header.index("Trả ngay")] == 4
    # native charts on the right ranges
    (chart,) = fields._charts
    refs = [s.val.numRef.f for s in chart.series]
    assert refs == [f"'Theo lĩnh vực'!${col}$2:${col}$4" for col in "EFGH"]
    categories = chart.series[0].cat
    assert (categories.numRef or categories.strRef).f == "'Theo lĩnh vực'!$A$2:$A$4"
    trend = book["Xu hướng 60 phút"]
    (line,) = trend._charts
    assert line.series[0].val.numRef.f == "'Xu hướng 60 phút'!$D$2:$D$3"
    assert trend["A2"].number_format == DATE and trend["A2"].value.date().isoformat() == days["D1"]
    counters = book["Quầy"]
    head = [c.value for c in counters[1]]
    assert head[:4] == ["Quầy", "Thời gian mở quầy", "Lượt gọi", "Lượt gọi mỗi giờ mở quầy"]
    quay1 = next(r for r in counters.iter_rows(min_row=2) if r[0].value == "Quầy 1")
    # durations are Excel times, read back as durations
    assert quay1[1].number_format == DURATION and quay1[1].value == timedelta(seconds=25800)
    assert quay1[head.index("Thời gian rảnh")].value == timedelta(seconds=3060)
    (bars,) = counters._charts
    assert bars.series[0].val.numRef.f == "'Quầy'!$D$2:$D$4"
    heat = book["Chờ theo giờ"]
    assert heat.conditional_formatting  # a native colour scale
    exceptions = book["Có nguy cơ và quá hạn"]
    assert [r[4] for r in exceptions.iter_rows(min_row=2, values_only=True)] == ["A001", "A002"]


def test_same_data_same_file(app):
    client, tokens, days = app
    runtime = client.app.state.runtime
    from server.stats.report import assemble

    sites = runtime.settings.sites[:1]
    at = datetime.fromisoformat(f"{days['M_to']}T18:00:00").replace(tzinfo=LOCAL)
    one = workbook(assemble(runtime.stats, sites, days["M_from"], days["M_to"]), "lanh-dao", at, translator("server"))
    two = workbook(assemble(runtime.stats, sites, days["M_from"], days["M_to"]), "lanh-dao", at, translator("server"))
    assert one == two
    # Through the API, a second later: only the generation line differs.
    first = client.get("/api/v1/reports.xlsx", params={"site": SITE_ID}, headers=tokens["lanh-dao"]).content
    time.sleep(1.1)
    second = client.get("/api/v1/reports.xlsx", params={"site": SITE_ID}, headers=tokens["lanh-dao"]).content

    def cells(data: bytes) -> list:
        book = openpyxl.load_workbook(io.BytesIO(data))
        return [(ws.title, c.coordinate, c.value) for ws in book for row in ws.iter_rows() for c in row if c.value is not None]

    differ = [(a, b) for a, b in zip(cells(first), cells(second)) if a != b]
    assert len(cells(first)) == len(cells(second))
    assert len(differ) <= 1 and all(a[0] == "Bìa" for a, _ in differ)


def test_monthly_job_keeps_packs_and_managers_download_them(app):
    client, tokens, days = app
    archive = client.app.state.runtime.reports
    month = days["M_from"][:7]
    # The clock is at 10:00 on some day of the month after M; the job makes M's packs
    # from the first working day on (the test site works every day: the 1st).
    assert archive.due_month() == month
    assert archive.listing() == []  # the job's first run waits (first_delay_s)
    made = archive.run_once()
    assert sorted(made) == sorted([f"{month}-tat-ca.xlsx", f"{month}-{SITE_ID}.xlsx", f"{month}-{OTHER_SITE_ID}.xlsx"])
    assert archive.run_once() == []  # kept, never overwritten
    listing = client.get("/api/v1/reports/archive", headers=tokens["lanh-dao-1"]).json()["packs"]
    assert [p["name"] for p in listing] == [f"{month}-{SITE_ID}.xlsx"]
    got = client.get(f"/api/v1/reports/archive/{month}-{SITE_ID}.xlsx", headers=tokens["lanh-dao-1"])
    assert got.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book["Theo lĩnh vực"]["A2"].value == "Chứng thực"
    assert client.get(f"/api/v1/reports/archive/{month}-tat-ca.xlsx", headers=tokens["lanh-dao-1"]).status_code == 403
    assert client.get(f"/api/v1/reports/archive/{month}-tat-ca.xlsx", headers=tokens["lanh-dao"]).status_code == 200
    assert client.get("/api/v1/reports/archive/..%2Fserver.db", headers=tokens["lanh-dao"]).status_code == 404
