"""Passwords and tokens are stored hashed and never appear in logs, the database or the
settings' printed form; the broker's password file holds hashes only."""

from __future__ import annotations

import hashlib
import re

from protocol.settings import load_settings
from server.settings import ServerSettings
from tests.security.conftest import ACCOUNTS, login
from tests.support import SITE_ID, server_settings_dict


def _database_bytes(path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            data += candidate.read_bytes()
    return data


def test_passwords_tokens_and_sessions_are_stored_hashed_and_never_logged(office, broker, caplog, capfd):
    client = office.client
    # Exercise every path that touches a secret: good and bad logins, sessions, tokens.
    for name, (_role, _sites, _counters, password) in ACCOUNTS.items():
        client.cookies.clear()
        login(client, name, password)
        client.post("/logout")
    client.cookies.clear()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "can-bo-a", "password": "Sai-mật-khẩu-9", "csrf_token": token})
    csrf = login(client, "can-bo-a", ACCOUNTS["can-bo-a"][3])
    session_cookie = client.cookies.get("xephang_session")
    assert session_cookie
    client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/next", headers={"X-CSRF-Token": csrf})
    for name in ACCOUNTS:
        assert client.get("/api/v1/me", headers=office.bearer(name)).status_code == 200
    client.get("/api/v1/me", headers={"Authorization": "Bearer xph_wrong-token-value"})

    runtime = client.app.state.runtime
    conn = runtime.store.reader()
    hashes = dict(conn.execute("SELECT username, password_hash FROM users").fetchall())
    token_hashes = {r[0] for r in conn.execute("SELECT token_hash FROM api_tokens")}
    session_hashes = {r[0] for r in conn.execute("SELECT token_hash FROM sessions")}
    conn.close()
    assert set(hashes) == set(ACCOUNTS)
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert token_hashes == {hashlib.sha256(t.encode()).hexdigest() for t in office.tokens.values()}
    assert hashlib.sha256(session_cookie.encode()).hexdigest() in session_hashes

    secrets = [p for *_, p in ACCOUNTS.values()] + ["Sai-mật-khẩu-9"] + list(office.tokens.values()) + [session_cookie]
    secrets.append(broker.passwords["server"])
    stored = _database_bytes(office.database)
    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    assert len(caplog.records) > 10  # the logs were captured at DEBUG level, so the check below means something
    for secret in secrets:
        assert secret.encode() not in stored, f"a secret is stored in clear: {secret[:4]}…"
        assert secret not in logs, f"a secret reached the logs: {secret[:4]}…"


def test_settings_never_print_the_broker_password(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "s.db"))
    password = broker.passwords["server"]
    assert password not in repr(settings) and password not in str(settings)
    assert password not in settings.model_dump_json()


def test_broker_password_file_holds_only_hashes(broker):
    text = (broker.directory / "passwd").read_text()
    for user, password in broker.passwords.items():
        assert password not in text
        assert re.search(rf"^{re.escape(user)}:\$7\$101\$", text, re.M), user
    assert (broker.directory / "passwd").stat().st_mode & 0o077 == 0
