"""The server speaks HTTPS itself when server.tls_cert and server.tls_key are set."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from broker.config import free_port
from protocol.settings import ConfigError, load_settings
from server.settings import ServerSettings
from tests.support import server_settings_dict, wait_until, write_toml


def _certificate(folder):
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_server_answers_over_https_only(broker, tmp_path):
    cert, key = _certificate(tmp_path)
    port = free_port()
    config = write_toml(tmp_path / "x.toml", server_settings_dict(
        broker, tmp_path / "s.db", http_port=port, tls_cert=str(cert), tls_key=str(key)))
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "xephang.cli", "server", "--config", str(config)],
                               stdout=log, stderr=log, start_new_session=True)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False

    def health():
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())
        except OSError:
            return None

    try:
        body = wait_until(health, 30)
        assert "database" in body
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def test_a_certificate_without_its_key_stops_at_start(broker, tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "s.db", tls_cert="c.pem"))
    assert any("tls_cert and server.tls_key go together" in line for line in caught.value.lines)
