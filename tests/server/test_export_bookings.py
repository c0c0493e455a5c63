"""The booking figures in the exports (docs/measures.md "Channels"): a hand-computed day
built from real events on the real app, a real broker and SQLite, with the server's clock
set by the test: five appointments (two checked in, 15 minutes early and 10 minutes late;
one cancelled; one not come, marked by the booking sweep; one still to come), two online
numbers (one checked in) and three walk-ins from a kiosk through the broker. The JSON,
the CSV and the Excel workbook (opened with openpyxl) carry exactly the figures computed
by hand, grouped by site, by service and by day; the statistics grouped by channel carry
the channel in both files, labelled in Vietnamese in Excel; English headers on request."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from fastapi.testclient import TestClient

from server.booking.service import NoShowSweep
from server.web.auth import create_token, create_user
from tests.server.bookingsite import booking_settings, slot_key
from tests.server.livedesk import Kiosk
from tests.support import SITE_ID, app_on_clock, office_clock, wait_until

CIVIL, CERT = "tu-phap-ho-tich", "chung-thuc"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


class SetClock:
    """The server's clock, standing still where the test puts it (the project clock's date)."""

    def __init__(self) -> None:
        self.day = office_clock()().astimezone(ZONE).date()
        self.now = self.at(7, 0)

    def at(self, hour: int, minute: int) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, hour, minute, tzinfo=ZONE)

    def __call__(self) -> datetime:
        return self.now


# By hand, for the day D. Appointments (by the booked slot's day): A 09:00 checked in at
# 08:45 (-900 s), B 09:00 checked in at 09:10 (+600 s), C 09:00 cancelled, E 09:00 not come
# (the sweep at 09:16, past the 15-minute check-in window), F 10:00 (Chứng thực) still to
# come. Online numbers: two (Tư pháp), one checked in. Tickets issued: A and B
# (appointment), the two online numbers, walk-ins A001, A002 (Tư pháp) and B001 (Chứng
# thực): 7, of which 2 by appointment. Punctuality, nearest rank over [-900, 600]:
# median = rank 1 = -900 s, p90 = rank 2 = 600 s.
BY_SITE = {"site": SITE_ID, "bookings": 5, "cancelled": 1, "checked_in": 2, "no_show": 1, "pending": 1,
           "online_numbers": 2, "online_checked_in": 1, "punctuality_median_s": -900, "punctuality_p90_s": 600,
           "issued": 7, "issued_appointment": 2, "pct_by_booking": 28.6}
BY_SERVICE = [
    {"site": SITE_ID, "service": CERT, "bookings": 1, "cancelled": 0, "checked_in": 0, "no_show": 0, "pending": 1,
     "online_numbers": 0, "online_checked_in": 0, "punctuality_median_s": None, "punctuality_p90_s": None,
     "issued": 1, "issued_appointment": 0, "pct_by_booking": 0.0},
    {"site": SITE_ID, "service": CIVIL, "bookings": 4, "cancelled": 1, "checked_in": 2, "no_show": 1, "pending": 0,
     "online_numbers": 2, "online_checked_in": 1, "punctuality_median_s": -900, "punctuality_p90_s": 600,
     "issued": 6, "issued_appointment": 2, "pct_by_booking": 33.3},
]
BY_CHANNEL = {"kiosk": 3, "online": 2, "appointment": 2}


@pytest.fixture
def day(broker, tmp_path):
    clock = SetClock()
    settings = booking_settings(broker, tmp_path / "server.db",
                                {"early_checkin_minutes": 120, "late_checkin_minutes": 15})
    with TestClient(app_on_clock(settings, clock)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        create_user(runtime.store, "lanh-dao", "mat-khau-dai-1", "manager", [SITE_ID], [])
        create_user(runtime.store, "can-bo", "mat-khau-dai-2", "desk", [SITE_ID], ["quay-1"])
        manager = {"Authorization": f"Bearer {create_token(runtime.store, 'lanh-dao')}"}
        desk = {"Authorization": f"Bearer {create_token(runtime.store, 'can-bo')}"}

        def book(service: str, hour: int) -> str:
            made = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": service,
                                                         "slot": slot_key(clock.at(hour, 0))})
            assert made.status_code == 201, made.text
            return str(made.json()["code"])

        def check_in(code: str) -> None:
            answer = client.post(f"/api/v1/sites/{SITE_ID}/check-in", json={"code": code, "counter": "quay-1"}, headers=desk)
            assert answer.status_code == 200, answer.text

        codes = {name: book(CIVIL, 9) for name in "ABCE"}
        codes["F"] = book(CERT, 10)
        assert client.post(f"/api/v1/bookings/{codes['C']}/cancel").status_code == 200
        clock.now = clock.at(8, 0)
        kiosk = Kiosk(broker, clock=clock)
        for number, service in (("A001", CIVIL), ("A002", CIVIL), ("B001", CERT)):
            kiosk.issue(number, service)
        kiosk.close()
        clock.now = clock.at(8, 30)
        online = [client.post("/api/v1/online-numbers", json={"site": SITE_ID, "service": CIVIL}).json()["code"]
                  for _ in range(2)]
        clock.now = clock.at(8, 45)
        check_in(codes["A"])
        clock.now = clock.at(8, 50)
        check_in(online[0])
        clock.now = clock.at(9, 10)
        check_in(codes["B"])
        clock.now = clock.at(9, 16)
        assert NoShowSweep(runtime.bookings).sweep_appointments() == 1  # E
        reader = runtime.store.reader()
        wait_until(lambda: reader.execute("SELECT COUNT(*) FROM tickets WHERE site = ?", (SITE_ID,)).fetchone()[0] == 7)
        reader.close()
        yield client, manager, clock.day.isoformat()


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _as_csv(row: dict) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in row.items()}


def _sheet(response, title: str) -> tuple[list, list[tuple]]:
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    table = list(book[title].iter_rows(values_only=True))
    return list(table[0]), table[1:]


def test_the_booking_figures_of_the_day_in_json_csv_and_excel(day):
    client, manager, d = day
    query = f"from={d}&to={d}&site={SITE_ID}"
    body = client.get(f"/api/v1/stats/bookings?{query}", headers=manager).json()
    assert [{k: v for k, v in r.items() if k != "site_name"} for r in body["rows"]] == [BY_SITE]
    by_service = client.get(f"/api/v1/stats/bookings?{query}&group_by=service", headers=manager).json()["rows"]
    assert [{k: v for k, v in r.items() if k != "site_name"} for r in by_service] == BY_SERVICE
    # The dashboard's figures are the same numbers (one implementation).
    figures = client.get(f"/api/v1/sites/{SITE_ID}/bookings/figures?from={d}&to={d}", headers=manager).json()
    assert {k: figures[k] for k in BY_SITE if k in figures} == {k: v for k, v in BY_SITE.items() if k in figures}

    rows = _csv(client.get(f"/api/v1/stats/bookings.csv?{query}&group_by=service,counter,hour", headers=manager))
    assert [{k: v for k, v in r.items() if k != "site_name"} for r in rows] == [_as_csv(r) for r in BY_SERVICE]
    assert list(rows[0]) == ["site", "site_name", "service", *list(BY_SITE)[1:]]  # counter and hour do not apply

    header, lines = _sheet(client.get(f"/api/v1/stats.xlsx?{query}&group_by=service", headers=manager), "Đặt lịch")
    assert header == ["Mã điểm", "Điểm tiếp nhận", "Lĩnh vực", "Lịch hẹn đã đặt", "Đã hủy", "Đã xác nhận có mặt",
                      "Đặt lịch nhưng không đến", "Đã đặt, chưa đến giờ", "Số lấy từ xa", "Số từ xa đã xác nhận có mặt",
                      "Đúng giờ: trung vị (phút)", "Đúng giờ: p90 (phút)", "Số phiếu đã cấp", "Số phiếu theo lịch hẹn",
                      "% phục vụ theo lịch hẹn"]
    got = [dict(zip(["site", "site_name", "service", *list(BY_SITE)[1:]], line)) for line in lines]
    assert [(g["service"], g["bookings"], g["cancelled"], g["checked_in"], g["no_show"], g["pending"],
             g["online_numbers"], g["online_checked_in"], g["issued"], g["issued_appointment"]) for g in got] == [
        (CERT, 1, 0, 0, 0, 1, 0, 0, 1, 0), (CIVIL, 4, 1, 2, 1, 0, 2, 1, 6, 2)]
    civil = got[1]
    # Minutes (signed: negative is early) and Excel percentages, as the other sheet.
    assert (civil["punctuality_median_s"], civil["punctuality_p90_s"]) == (pytest.approx(-15.0), pytest.approx(10.0))
    assert civil["pct_by_booking"] == pytest.approx(0.333) and got[0]["pct_by_booking"] == 0
    assert got[0]["punctuality_median_s"] is None

    # By day: the day is a real date; the notes define the figures.
    response = client.get(f"/api/v1/stats.xlsx?{query}&group_by=day", headers=manager)
    header, lines = _sheet(response, "Đặt lịch")
    assert header[2] == "Ngày" and len(lines) == 1
    assert lines[0][2].strftime("%Y-%m-%d") == d and lines[0][3:10] == (5, 1, 2, 1, 1, 2, 1)
    notes = [r[0] for r in openpyxl.load_workbook(io.BytesIO(response.content))["Ghi chú"].iter_rows(values_only=True)]
    assert any(n and "Đúng giờ: giờ xác nhận có mặt trừ giờ bắt đầu khung giờ" in n for n in notes)


def test_the_statistics_grouped_by_channel_in_csv_and_excel(day):
    client, manager, d = day
    query = f"from={d}&to={d}&site={SITE_ID}&group_by=channel"
    api = client.get(f"/api/v1/stats?{query}", headers=manager).json()["rows"]
    assert {r["channel"]: r["issued"] for r in api} == BY_CHANNEL
    rows = _csv(client.get(f"/api/v1/stats.csv?{query}", headers=manager))
    assert {r["channel"]: int(r["issued"]) for r in rows} == BY_CHANNEL
    assert [r["channel"] for r in rows] == [r["channel"] for r in api]
    header, lines = _sheet(client.get(f"/api/v1/stats.xlsx?{query}", headers=manager), "Thống kê")
    channel, issued = header.index("Kênh"), header.index("Số phiếu đã cấp")
    labels = {"kiosk": "Trực tiếp (ki-ốt)", "online": "Số lấy từ xa", "appointment": "Lịch hẹn"}
    assert {line[channel]: line[issued] for line in lines} == {labels[k]: v for k, v in BY_CHANNEL.items()}
    # English on request, as the rest of the interface.
    header, lines = _sheet(client.get(f"/api/v1/stats.xlsx?{query}&lang=en", headers=manager), "Statistics")
    assert "Channel" in header and "Tickets issued" in header
    assert {line[header.index("Channel")] for line in lines} == {"Walk-in (kiosk)", "Online number", "Booked appointment"}
    # The bookings sheet is by site here (a booking has no channel): the whole day.
    booked_header, booked = _sheet(client.get(f"/api/v1/stats.xlsx?{query}&lang=en", headers=manager), "Bookings")
    assert booked_header[:5] == ["Site id", "Reception point", "Appointments booked", "Cancelled", "Checked in"]
    assert [line[2:9] for line in booked] == [(5, 1, 2, 1, 1, 2, 1)]
