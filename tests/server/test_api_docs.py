"""OpenAPI docs work on a closed network: every asset comes from the server itself."""

from __future__ import annotations

import re

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
