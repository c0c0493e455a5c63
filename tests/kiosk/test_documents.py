"""Documents to bring (issue 20): a service's list of papers from the site config is
printed on the ticket and shown on the ticket page; a service without one prints as
before."""

from __future__ import annotations

import sqlite3

from fastapi.testclient import TestClient
from PIL import ImageChops

from hardware.buttons import Press
from kiosk.ticket_image import render_ticket
from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.kiosk.raster import decode_ticket
from tests.kiosk.test_service import make_kiosk
from tests.server.livedesk import Kiosk as WireKiosk
from tests.support import app_on_clock, office_clock, server_settings_dict, site_dict, wait_until

PAPERS = ["Tờ khai đăng ký khai sinh (bản chính)", "Giấy chứng sinh", "Căn cước của cha hoặc mẹ"]


def with_papers(site: dict) -> None:
    for service in site["services"]:
        if service["id"] == "tu-phap-ho-tich":
            service["documents"] = list(PAPERS)


def test_the_ticket_lists_the_papers_of_its_service_and_only_of_its_service(tmp_path):
    site = site_dict()
    with_papers(site)
    kiosk, _wall, _db = make_kiosk(tmp_path, office_clock()(), site_changes={"services": site["services"]})
    with_list = kiosk.issue(Press("tu-phap-ho-tich"))
    job = kiosk.printer.transport.jobs[-1]
    without = kiosk.issue(Press("chung-thuc"))
    assert with_list.content.documents == tuple(PAPERS)
    assert without.content.documents == ()
    printed = decode_ticket(job)
    assert ImageChops.difference(printed.convert("L"), render_ticket(with_list.content).image.convert("L")).getbbox() is None
    bare = render_ticket(with_list.content.__class__(**{**with_list.content.__dict__, "documents": ()}))
    # the list takes room on the paper: three items of one line each and a heading
    assert printed.height - bare.image.height > 4 * 21
    out = tmp_path / "ticket-documents.png"
    printed.save(out)
    assert out.stat().st_size > 1000


def test_the_ticket_page_shows_the_papers_while_the_citizen_waits(tmp_path, broker):
    data = server_settings_dict(broker, tmp_path / "server.db")
    with_papers(data["sites"][0])
    settings = load_settings(ServerSettings, None, **data)
    office = office_clock()
    with TestClient(app_on_clock(settings, office)) as client:
        runtime = client.app.state.runtime
        wait_until(lambda: runtime.ingestor.link.connected.is_set())
        wire = WireKiosk(broker, clock=office)
        try:
            with_list = wire.issue("A001", "tu-phap-ho-tich", None)
            without = wire.issue("B001", "chung-thuc", None)

            def waiting() -> int:
                conn = sqlite3.connect(runtime.store.path)
                try:
                    return conn.execute("SELECT COUNT(*) FROM tickets WHERE status = 'waiting'").fetchone()[0]
                finally:
                    conn.close()

            wait_until(lambda: waiting() == 2)
            page = client.get(f"/t/{with_list}").text
            assert "Giấy tờ cần mang" in page and all(p in page for p in PAPERS)
            assert "Giấy tờ cần mang" not in client.get(f"/t/{without}").text
            assert client.get(f"/api/v1/tickets/{with_list}").json()["documents"] == PAPERS
            assert client.get(f"/api/v1/tickets/{without}").json()["documents"] == []
        finally:
            wire.close()
