"""OpenAPI docs work on a closed network: every asset comes from the server itself."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from tests.support import server_settings_dict


def test_docs_page_loads_swagger_ui_from_the_server_not_a_cdn(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "s.db"))
    with TestClient(create_app(settings)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert len(urls) >= 4 and all(u.startswith("/") for u in urls), urls
        assert "http" not in page.text.replace("http-equiv", "")
        for url in urls:
            assert client.get(url).status_code == 200, url
        spec = client.get("/openapi.json").json()
        assert any(path.startswith("/api/v1/") for path in spec["paths"])


def test_docs_render_operations_in_chromium_and_root_is_a_landing_page(broker, tmp_path):
    """Swagger UI (bundled, OpenAPI 3.0 only) renders every operation of the API, not
    "Unable to render this definition"; this also runs after any upgrade of FastAPI or the
    UI package. `/` is a page with the links, not a JSON 404."""
    from playwright.sync_api import sync_playwright

    from tests.server.livedesk import CHROMIUM, CHROMIUM_ARGS, LiveServer

    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "s.db"))
    with LiveServer(settings) as server, sync_playwright() as p:
        spec = server.app.openapi()
        # Swagger UI lists an operation once under each of its tags ("default" without one).
        operations = sum(max(1, len(op.get("tags", []))) for path in spec["paths"].values()
                         for method, op in path.items() if method in ("get", "post", "put", "delete", "patch"))
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() == operations > 20
        assert "Unable to render" not in page.inner_text("body")
        assert page.locator(".errors-wrapper").count() == 0
        page.screenshot(path=str(tmp_path / "api-docs.png"))
        # An operation opens and shows its parameters and responses.
        page.locator(".opblock-summary-path", has_text="/api/v1/live").first.click()
        page.wait_for_selector(".opblock.is-open .responses-wrapper")
        assert "200" in page.inner_text(".opblock.is-open .responses-wrapper")
        schemas = page.locator("section.models .model-container").count()
        assert schemas == len(spec["components"]["schemas"])
        assert errors == []
        if os.environ.get("XEPHANG_DOCS_SCREENSHOTS"):
            shutil.copy(tmp_path / "api-docs.png", Path(__file__).resolve().parents[2] / "docs" / "images" / "api-docs.png")

        page.goto(f"{server.url}/")
        assert page.title() == "xephang"
        hrefs = page.eval_on_selector_all("main a", "as => as.map(a => a.getAttribute('href'))")
        assert {"/desk", "/dashboard", "/docs"} <= set(hrefs)
        assert "Hệ thống xếp hàng" in page.inner_text("h1")
        browser.close()
