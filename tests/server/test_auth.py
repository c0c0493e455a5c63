"""Accounts and roles: argon2 passwords, session cookies with CSRF, bearer tokens, login
limit, site and counter checks, manager read-only, the audit log, the users CLI."""

from __future__ import annotations

import argparse
import io
import re
import sqlite3

import pytest
from fastapi.testclient import TestClient

from protocol.errors import XephangError
from protocol.settings import load_settings
from server.commands import users as users_cli
from server.settings import ServerSettings
from server.web.auth import create_token, create_user
from tests.support import OTHER_SITE_ID, SITE_ID, server_settings_dict, wait_until, write_toml


@pytest.fixture
def app_client(broker, tmp_path):
    from server.web.app import create_app

    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        wait_until(lambda: client.get("/healthz").json()["broker"] == "connected")
        store = app.state.runtime.store
        create_user(store, "officer", "officer-pass-1", "desk", [SITE_ID], ["quay-1"])
        create_user(store, "boss", "boss-pass-123", "manager", [SITE_ID], [])
        yield client, app.state.runtime, tmp_path / "server.db"


def _login(client, username, password, headers=None):
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf},
                       headers=headers or {}, follow_redirects=False)


def _csrf(client):
    page = client.get("/desk")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_no_account_exists_until_one_is_made(broker, tmp_path):
    from server.web.app import create_app

    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "fresh.db"))
    with TestClient(create_app(settings)) as client:
        for user, password in (("admin", "admin"), ("admin", "password"), ("demo", "demo")):
            assert _login(client, user, password).status_code == 401
    assert sqlite3.connect(tmp_path / "fresh.db").execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0


def test_login_sets_a_safe_cookie_and_passwords_are_argon2(app_client):
    client, runtime, db = app_client
    response = _login(client, "officer", "officer-pass-1")
    assert response.status_code == 303 and response.headers["location"] == "/desk"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("xephang_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    stored = sqlite3.connect(db).execute("SELECT password_hash FROM users WHERE username = 'officer'").fetchone()[0]
    assert stored.startswith("$argon2id$") and "officer-pass-1" not in stored
    assert client.get("/api/v1/me").json() == {"username": "officer", "role": "desk", "sites": [SITE_ID], "counters": ["quay-1"]}


def test_cookie_posts_need_the_csrf_token_bearer_posts_do_not(app_client):
    client, runtime, db = app_client
    _login(client, "officer", "officer-pass-1")
    url = f"/api/v1/sites/{SITE_ID}/counters/quay-1/open"
    refused = client.post(url)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    assert client.post(url, headers={"X-CSRF-Token": "guess"}).json()["code"] == "csrf"
    ok = client.post(url, headers={"X-CSRF-Token": _csrf(client)})
    assert ok.status_code == 200 and ok.json()["state"] == "open"
    token = create_token(runtime.store, "officer", "keypad-bridge")
    client.cookies.clear()
    bearer = client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/pause", json={"reason": "Đi họp"},
                         headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200 and bearer.json() == {"site": SITE_ID, "counter": "quay-1", "state": "paused", "reason": "Đi họp"}
    wrong = client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/resume", headers={"Authorization": "Bearer xph_nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
    stored = sqlite3.connect(db).execute("SELECT token_hash FROM api_tokens").fetchone()[0]
    assert token not in stored and len(stored) == 64


def test_five_failed_logins_then_429(app_client):
    client, runtime, db = app_client
    for _ in range(5):
        assert _login(client, "officer", "wrong-password").status_code == 401
    blocked = _login(client, "officer", "officer-pass-1", headers={"Accept": "application/json"})
    assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_attempts"
    assert _login(client, "boss", "boss-pass-123").status_code == 303  # other user names are not blocked
    rows = sqlite3.connect(db).execute("SELECT actor, action, ok, code, remote FROM audit_log WHERE action = 'login'").fetchall()
    assert rows.count(("officer", "login", 0, "bad_credentials", "testclient")) == 5
    assert ("officer", "login", 0, "too_many_attempts", "testclient") in rows
    assert ("boss", "login", 1, None, "testclient") in rows


def test_roles_sites_and_counters_are_enforced_and_audited(app_client):
    client, runtime, db = app_client
    store = runtime.store
    officer = {"Authorization": f"Bearer {create_token(store, 'officer')}"}
    boss = {"Authorization": f"Bearer {create_token(store, 'boss')}"}
    base = f"/api/v1/sites/{SITE_ID}/counters"
    other_site = client.post(f"/api/v1/sites/{OTHER_SITE_ID}/counters/quay-1/open", headers=officer)
    assert other_site.status_code == 403 and other_site.json()["code"] == "forbidden"
    assert client.post(f"{base}/quay-2/open", headers=officer).json()["code"] == "forbidden"
    assert client.post(f"{base}/quay-1/open", headers=officer).status_code == 200
    # A manager reads everything of their site but does no desk action.
    assert client.post(f"{base}/quay-1/pause", headers=boss, json={}).json()["code"] == "forbidden"
    assert client.get(f"/api/v1/sites/{SITE_ID}/queue", headers=boss).status_code == 200
    board = client.get(f"/api/v1/sites/{SITE_ID}/board", headers=boss).json()
    assert next(c for c in board["counters"] if c["id"] == "quay-1")["state"] == "open"
    assert client.get(f"{base}/quay-2/view", headers=boss).json()["counter"]["id"] == "quay-2"
    assert client.get(f"/api/v1/sites/{OTHER_SITE_ID}/queue", headers=boss).json()["code"] == "forbidden"
    # Only admins call a ticket out of turn (supervisor).
    call = client.post(f"{base}/quay-1/call", headers=officer, json={"ticket_id": "x"})
    assert call.status_code == 403
    audit = client.get(f"/api/v1/sites/{SITE_ID}/audit", headers=boss).json()
    assert client.get(f"/api/v1/sites/{SITE_ID}/audit", headers=officer).json()["code"] == "forbidden"
    seen = [(a["actor"], a["action"], a["ok"], a["code"], a["via"]) for a in audit]
    assert ("officer", "open", False, "forbidden", "api") in seen  # quay-2
    assert ("officer", "open", True, None, "api") in seen
    assert ("boss", "pause", False, "forbidden", "api") in seen
    assert ("officer", "call_ticket", False, "forbidden", "api") in seen
    assert all(a["remote"] == "testclient" for a in audit)


def test_state_changes_are_post_only(app_client):
    client, runtime, db = app_client
    for route in client.app.routes:
        methods = getattr(route, "methods", set()) or set()
        path = getattr(route, "path", "")
        if path.startswith("/api/v1/sites/") and path.rsplit("/", 1)[-1] in (
            "next", "recall", "start", "complete", "no-show", "transfer", "pause", "resume", "open", "close", "call"
        ):
            assert methods == {"POST"}, path


def _cli(argv):
    parser = argparse.ArgumentParser(prog="xephang")
    users_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_users_cli_adds_lists_and_makes_tokens(broker, tmp_path, capsys, monkeypatch):
    db = tmp_path / "cli.db"
    config = write_toml(tmp_path / "xephang.toml", server_settings_dict(broker, db))
    assert _cli(["users", "add", "lan", "--role", "desk", "--site", SITE_ID, "--counter", "quay-2", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    password = re.search(r"password \(shown once\): (\S+)", out).group(1)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-manager-password\n"))
    _cli(["users", "add", "hoa", "--role", "manager", "--site", SITE_ID, "--password-stdin", "--config", str(config)])
    capsys.readouterr()
    _cli(["users", "list", "--config", str(config)])
    assert capsys.readouterr().out == f"hoa\tmanager\t{SITE_ID}\t-\nlan\tdesk\t{SITE_ID}\tquay-2\n"
    _cli(["tokens", "create", "lan", "--name", "bridge", "--config", str(config)])
    token = capsys.readouterr().out.strip()
    assert token.startswith("xph_") and len(token) > 40
    with pytest.raises(XephangError, match="unknown site"):
        _cli(["users", "add", "x", "--role", "desk", "--site", "nowhere", "--counter", "quay-1", "--config", str(config)])
    with pytest.raises(XephangError, match="counter"):
        _cli(["users", "add", "x", "--role", "desk", "--site", SITE_ID, "--counter", "quay-9", "--config", str(config)])
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(XephangError, match="at least 10"):
        _cli(["users", "add", "x", "--role", "admin", "--password-stdin", "--config", str(config)])
    with pytest.raises(XephangError, match="already exists"):
        _cli(["users", "add", "lan", "--role", "desk", "--site", SITE_ID, "--counter", "quay-2", "--config", str(config)])
    with pytest.raises(XephangError, match="no user"):
        _cli(["tokens", "create", "nobody", "--config", str(config)])
    # The generated password works with the server.
    from server.web.app import create_app

    settings = load_settings(ServerSettings, config)
    with TestClient(create_app(settings)) as client:
        assert _login(client, "lan", password).status_code == 303
        assert client.get("/api/v1/me", headers={}).json()["username"] == "lan"
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["counters"] == ["quay-2"]


def test_desk_page_needs_login_and_is_read_only_for_managers(app_client):
    client, runtime, db = app_client
    anonymous = client.get("/desk", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    _login(client, "boss", "boss-pass-123")
    page = client.get(f"/desk?site={SITE_ID}&counter=quay-2")
    assert page.status_code == 200 and 'data-can-act="no"' in page.text and 'data-action="next"' not in page.text
    client.cookies.clear()
    _login(client, "officer", "officer-pass-1")
    own = client.get("/desk")
    assert 'data-counter="quay-1"' in own.text and 'data-action="next"' in own.text and "Gọi số tiếp" in own.text
    assert client.get(f"/desk?site={SITE_ID}&counter=quay-2").status_code == 403
    english = client.get("/desk?lang=en")
    assert "Call next" in english.text and 'lang="en"' in english.text
