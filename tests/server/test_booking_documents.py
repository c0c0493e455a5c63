"""Documents to bring on the booking page (issue 20): the papers of the chosen field are
listed while the citizen picks a slot and on the booking's own page until it is used;
a field without a list shows none, and a cancelled booking no longer lists them."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.server.bookingsite import BOOKING, slot_key, tomorrow_at
from tests.support import SITE_ID, app_on_clock, office_clock, server_settings_dict, wait_until

PAPERS = ["Tờ khai đăng ký khai sinh (bản chính)", "Giấy chứng sinh"]
WITH, WITHOUT = "tu-phap-ho-tich", "dat-dai"


def papers_on(html: str) -> list[str]:
    section = re.search(r'<section id="documents".*?</section>', html, flags=re.S)
    return re.findall(r"<li>(.*?)</li>", section.group(0)) if section else []


def test_the_booking_page_lists_the_papers_of_the_chosen_field(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    for site in data["sites"]:
        site["booking"] = dict(BOOKING)
        assert {s["id"] for s in site["services"]} >= {WITH, WITHOUT}
        for service in site["services"]:
            if service["id"] == WITH:
                service["documents"] = list(PAPERS)
    clock = office_clock()
    app = app_on_clock(load_settings(ServerSettings, None, **data), clock)
    with TestClient(app) as client:
        wait_until(lambda: app.state.runtime.ingestor.link.connected.is_set())
        start = tomorrow_at(clock(), 9)
        picking = client.get(f"/book/{SITE_ID}/{WITH}", params={"day": start.date().isoformat()})
        assert picking.status_code == 200 and "Giấy tờ cần mang" in picking.text
        assert papers_on(picking.text) == PAPERS
        assert papers_on(client.get(f"/book/{SITE_ID}/{WITHOUT}").text) == []

        made = client.post("/api/v1/bookings", json={"site": SITE_ID, "service": WITH, "slot": slot_key(start)}).json()
        assert client.get(f"/api/v1/bookings/{made['code']}").json()["service"]["documents"] == PAPERS
        assert papers_on(client.get(f"/b/{made['code']}").text) == PAPERS
        assert client.post(f"/api/v1/bookings/{made['code']}/cancel").status_code == 200
        assert papers_on(client.get(f"/b/{made['code']}").text) == []
