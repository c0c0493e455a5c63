"""The print page in real Chromium (Playwright), printed to PDF with page.pdf(format="A4"):
A4 pages, the hand-computed figures in the PDF's text, no JavaScript needed (it is
disabled), and PNG pictures of the pages (docs/images with XEPHANG_DOCS_SCREENSHOTS=1).
A second, realistic month at five reception points gives the group report's picture."""

from __future__ import annotations

import io
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pypdf
import pypdfium2
from playwright.sync_api import sync_playwright

from protocol import topics
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.storage.events import EventStore, Incoming
from server.web.auth import create_token, create_user
from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.server.report_month import build_month
from tests.server.stats_day import LOCAL
from tests.server.test_dashboard_browser import SITES, month_of_events
from tests.support import SITE_ID, office_clock, server_settings_dict, site_dict
from tests.synthetic import counter_days

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
A4_PT = (595.28, 841.89)  # 210 x 297 mm in PDF points


def is_a4(pdf_page) -> bool:
    """Chromium rounds the paper to whole CSS pixels (8.27 x 11.7 in): within 1.5 pt of A4."""
    box = pdf_page.mediabox
    return abs(float(box.width) - A4_PT[0]) < 1.5 and abs(float(box.height) - A4_PT[1]) < 1.5


def _pdf_text(data: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def _pngs(data: bytes, directory: Path, stem: str) -> list[Path]:
    pdf = pypdfium2.PdfDocument(data)
    out = []
    for index in range(len(pdf)):
        path = directory / f"{stem}-{index + 1}.png"
        pdf[index].render(scale=1.4).to_pil().save(path)
        out.append(path)
    return out


def test_print_page_to_pdf_in_chromium(broker, tmp_path):
    data = server_settings_dict(broker, tmp_path / "server.db")
    data["sites"] = [site_dict(site_id, name) for site_id, name, _ in SITES]
    for site in data["sites"]:
        site["groups"] = {"province": "Hà Nội"}
    settings = load_settings(ServerSettings, None, **data)
    office = office_clock(10)
    now = office()
    sites = list(settings.sites)
    store = EventStore(tmp_path / "server.db", settings.sites)
    month, days = build_month(now)
    # The realistic month at the four other points (the hand-computed one stays alone at SITE_ID).
    realistic = [e for e in month_of_events(sites, now) if e.site != SITE_ID]
    realistic += counter_days(sites[1:], (now - timedelta(days=30)).astimezone(LOCAL).date(), 30)
    events = month + realistic
    for i in range(0, len(events), 500):
        store.ingest([Incoming(topics.event(e.site, e.type), e.to_json(), time.time()) for e in events[i:i + 500]])
    create_user(store, "lanh-dao", "mat-khau-lanh-dao", "manager", [s.id for s in sites])
    token = create_token(store, "lanh-dao")
    store.close()
    shots = tmp_path / "shots"
    shots.mkdir()
    with LiveServer(settings, clock=office) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # No JavaScript: the page and its charts are whole without it.
        context = browser.new_context(java_script_enabled=False, locale="vi-VN",
                                      extra_http_headers={"Authorization": f"Bearer {token}"})
        page = context.new_page()

        # 1. One site, the hand-computed month.
        got = page.goto(f"{server.url}/reports/print?site={SITE_ID}&month={days['M_from'][:7]}")
        assert got is not None and got.status == 200
        assert page.locator("svg").count() >= 4
        pdf = page.pdf(format="A4", print_background=True)
        reader, text = _pdf_text(pdf)
        assert 2 <= len(reader.pages) <= 4
        assert all(is_a4(pdf_page) for pdf_page in reader.pages), [pg.mediabox for pg in reader.pages]
        flat = " ".join(text.split())
        first, last = days["M_from"], days["M_to"]
        assert f"{first[8:]}/{first[5:7]}/{first[:4]} – {last[8:]}/{last[5:7]}/{last[:4]}" in flat
        assert "số liệu tại quầy" in flat.lower() and "BÁO CÁO TIẾP NHẬN" in flat.upper()
        assert "(7 − 2) ÷ 7 × 100 = 71,4%" in flat  # the 766-style ratio with its formula
        assert "66,7%" in flat and "kỳ trước 0,0%" in flat  # 60-minute share beside the previous period
        assert "Hồ sơ giải quyết trong một lần đến (%): 75,0%" in flat
        assert "Đi họp" in flat and "Nghỉ giải lao" in flat
        assert "Thủ trưởng đơn vị" in flat and "ký tên, đóng dấu" in flat and "Người lập biểu" in flat
        site_pngs = _pngs(pdf, shots, "report-site")

        # 2. The group (a province of five points), a 30-day period.
        start = (now - timedelta(days=30)).astimezone(LOCAL).date().isoformat()
        end = (now - timedelta(days=1)).astimezone(LOCAL).date().isoformat()
        got = page.goto(f"{server.url}/reports/print?group=province%3DH%C3%A0%20N%E1%BB%99i&from={start}&to={end}")
        assert got is not None and got.status == 200
        pdf = page.pdf(format="A4", print_background=True)
        reader, text = _pdf_text(pdf)
        assert all(is_a4(pdf_page) for pdf_page in reader.pages)
        for _, name, _ in SITES[1:]:
            assert name in " ".join(text.split())
        group_pngs = _pngs(pdf, shots, "report-group")
        browser.close()
    (tmp_path / "report.pdf").write_bytes(pdf)
    if os.environ.get("XEPHANG_DOCS_SCREENSHOTS") == "1":
        for path in site_pngs + group_pngs[:2]:
            shutil.copy(path, DOCS_IMAGES / path.name)
