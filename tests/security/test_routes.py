"""Every state-changing route refuses anonymous and wrong-role users; a desk user cannot
act on another site or counter; CSRF is refused; login is rate-limited."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from tests.security.conftest import ACCOUNTS, login
from tests.support import OTHER_SITE_ID, SITE_ID

SAFE = {"GET", "HEAD", "OPTIONS"}
# Routes open to anonymous callers by design, with the reason and a test of it below.
PUBLIC_POSTS = {
    "/login": "the login form itself (double-submit CSRF, rate limit)",
    "/logout": "ends the caller's own session; anonymous gets a redirect",
    "/api/v1/tickets/{ticket_id}/rating": "a citizen rates their own completed ticket; the ticket id is the key",
    # Citizens' phones (issues 17 and 18): no account by design; rate-limited per address,
    # and per code where a code is the key (docs/booking.md, docs/notifications.md).
    "/api/v1/bookings": "a citizen books a slot; no login, no personal data",
    "/api/v1/bookings/{code}/cancel": "the booking code is the key",
    "/api/v1/bookings/{code}/move": "the booking code is the key",
    "/api/v1/online-numbers": "a citizen takes today's number from a phone",
    "/book/{site}/{service}": "the booking page's form (the same as /api/v1/bookings)",
    "/book/{site}/{service}/number": "the booking page's form for an online number",
    "/b/{code}/cancel": "the booking page's form; the code is the key",
    "/b/{code}/move": "the booking page's form; the code is the key",
    "/api/v1/tickets/{ticket_id}/subscribe": "a citizen opts in to alerts for their own ticket; the ticket id is the key",
    "/api/v1/tickets/{ticket_id}/unsubscribe": "a citizen opts out; the ticket id is the key",
    "/api/v1/bookings/{code}/remind": "a citizen opts in to their booking's reminders (consent); the code is the key",
    "/b/{code}/remind": "the booking page's reminder opt-in form; the code is the key",
}
BODIES = {"complete": {"outcome": "returned"}, "transfer": {"to_service": "dat-dai"}, "pause": {"reason": "Đi họp"},
          "call": {"ticket_id": "00000000-0000-4000-8000-000000000000"}, "rating": {"rating": 1, "scale": "4-level"},
          "reprint": {"ticket_id": "00000000-0000-4000-8000-000000000000"},
          "return-code": {"ticket_id": "00000000-0000-4000-8000-000000000000"}}


def routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route, also those hidden from the OpenAPI schema."""
    found: list[tuple[str, str]] = []

    def walk(items: list[BaseRoute]) -> None:
        for route in items:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif hasattr(route, "routes") and not hasattr(route, "methods"):
                walk(route.routes)
            elif getattr(route, "methods", None):
                found.extend((m, route.path) for m in route.methods)

    walk(app.router.routes)
    return sorted(set(found))


def _fill(path: str, ticket: str, site: str = SITE_ID, counter: str = "quay-1") -> str:
    return path.replace("{site}", site).replace("{counter}", counter).replace("{ticket_id}", ticket)


def _body(path: str) -> dict | None:
    return BODIES.get(path.rsplit("/", 1)[-1])


def state_changing(app) -> list[str]:
    return [path for method, path in routes(app) if method not in SAFE]


def test_the_route_walk_sees_hidden_routes(office):
    found = routes(office.client.app)
    assert ("POST", "/login") in found and ("GET", "/desk") in found  # not in the schema
    assert len(state_changing(office.client.app)) >= 14


def test_every_state_changing_route_refuses_anonymous(office):
    client = office.client
    for path in state_changing(client.app):
        if path in PUBLIC_POSTS:
            continue
        client.cookies.clear()
        response = client.post(_fill(path, office.tickets[0]), json=_body(path), follow_redirects=False)
        assert response.status_code in (401, 403), (path, response.status_code, response.text[:200])
    # The same with a forged or expired bearer token and a made-up session cookie.
    for path in state_changing(client.app):
        if path in PUBLIC_POSTS:
            continue
        bad = client.post(_fill(path, office.tickets[0]), json=_body(path),
                          headers={"Authorization": "Bearer xph_not-a-real-token"}, follow_redirects=False)
        assert bad.status_code == 401, (path, bad.status_code)
        client.cookies.set("xephang_session", "made-up")
        forged = client.post(_fill(path, office.tickets[0]), json=_body(path), follow_redirects=False)
        client.cookies.clear()
        assert forged.status_code in (401, 403), (path, forged.status_code)


def test_public_posts_are_the_ones_listed_and_behave(office):
    client = office.client
    public = set(state_changing(client.app)) - {p for p in state_changing(client.app) if p.startswith("/api/v1/sites/")}
    assert public - set(PUBLIC_POSTS) == set(), f"unexpected anonymous-looking routes: {public - set(PUBLIC_POSTS)}"
    assert client.post("/logout", follow_redirects=False).status_code == 303
    # Rating a ticket that is waiting (not completed) or unknown does nothing.
    assert client.post(f"/api/v1/tickets/{office.tickets[0]}/rating", json=BODIES["rating"]).status_code == 409
    unknown = "00000000-0000-4000-8000-000000000000"
    assert client.post(f"/api/v1/tickets/{unknown}/rating", json=BODIES["rating"]).status_code == 404
    runtime = client.app.state.runtime
    conn = runtime.store.reader()
    assert conn.execute("SELECT COUNT(*) FROM events WHERE type = 'feedback.given'").fetchone()[0] == 0
    conn.close()


def test_wrong_roles_are_refused(office):
    client = office.client
    desk_actions = [p for p in state_changing(client.app) if p.startswith("/api/v1/sites/{site}/counters/")]
    assert len(desk_actions) >= 10
    for path in desk_actions:
        response = client.post(_fill(path, office.tickets[0]), json=_body(path), headers=office.bearer("lanh-dao"))
        assert response.status_code == 403, (path, response.status_code)
        assert response.json()["code"] == "forbidden"
    # Out-of-turn calls are for the administrator only.
    call = client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/call", json={"ticket_id": office.tickets[1]},
                       headers=office.bearer("can-bo-a"))
    assert call.status_code == 403
    # Managers' reading is not for desk users.
    for path in ("/api/v1/stats", "/api/v1/stats.csv", f"/api/v1/sites/{SITE_ID}/audit"):
        assert client.get(path, headers=office.bearer("can-bo-a")).status_code == 403, path
    assert client.get("/api/v1/stats", headers=office.bearer("lanh-dao")).status_code == 200


def test_a_desk_user_cannot_act_on_another_site_or_counter(office):
    client = office.client
    desk = office.bearer("can-bo-a")
    for site, counter in ((OTHER_SITE_ID, "quay-1"), (SITE_ID, "quay-2"), (SITE_ID, "quay-3"), ("no-such-site", "quay-1")):
        for action in ("next", "pause", "open", "close"):
            response = client.post(f"/api/v1/sites/{site}/counters/{counter}/{action}", json=_body(action), headers=desk)
            assert response.status_code == 403, (site, counter, action, response.status_code)
    assert client.get(f"/api/v1/sites/{OTHER_SITE_ID}/queue", headers=desk).status_code == 403
    # Their own counter works, and the refusals changed nothing.
    own = client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/next", headers=desk)
    assert own.status_code == 200 and own.json()["ticket_id"] in office.tickets
    audit = client.get(f"/api/v1/sites/{SITE_ID}/audit", headers=office.bearer("lanh-dao")).json()
    text = str(audit)
    assert "forbidden" in text  # refusals are audited


def test_csrf_is_refused_for_cookie_sessions(office):
    client = office.client
    csrf = login(client, "can-bo-a", ACCOUNTS["can-bo-a"][3])
    assert csrf
    url = f"/api/v1/sites/{SITE_ID}/counters/quay-1/pause"
    missing = client.post(url, json={"reason": "Đi họp"})
    assert missing.status_code == 403 and missing.json()["code"] == "csrf"
    wrong = client.post(url, json={"reason": "Đi họp"}, headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "csrf"
    right = client.post(url, json={"reason": "Đi họp"}, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200, right.text
    # Another origin's page cannot read the token: login itself needs the form's cookie pair.
    other = TestClient(client.app)
    forged_login = other.post("/login", data={"username": "can-bo-a", "password": ACCOUNTS["can-bo-a"][3],
                                              "csrf_token": "guess"}, follow_redirects=False)
    assert forged_login.status_code == 403


def test_session_cookie_flags(office):
    client = office.client
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"username": "can-bo-a", "password": ACCOUNTS["can-bo-a"][3],
                                           "csrf_token": token}, follow_redirects=False)
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("xephang_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_login_is_rate_limited(office):
    client = office.client
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def attempt(password: str) -> int:
        return client.post("/login", data={"username": "can-bo-a", "password": password, "csrf_token": token},
                           headers={"Accept": "application/json"}, follow_redirects=False).status_code

    assert [attempt(f"sai-{i}") for i in range(5)] == [401] * 5
    assert attempt("sai-6") == 429
    assert attempt(ACCOUNTS["can-bo-a"][3]) == 429  # even the right password waits now
    # Another user name from the same address is not locked out by these failures.
    other = client.post("/login", data={"username": "lanh-dao", "password": ACCOUNTS["lanh-dao"][3],
                                        "csrf_token": token}, follow_redirects=False)
    assert other.status_code == 303


def test_logout_needs_the_csrf_token_too(office):
    """Another site's page must not be able to log a desk officer out mid-shift."""
    client = office.client
    csrf = login(client, "can-bo-a", ACCOUNTS["can-bo-a"][3])
    client.post("/logout", follow_redirects=False)  # no token: a forged cross-site form
    assert client.get("/api/v1/me").status_code == 200
    client.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert client.get("/api/v1/me").status_code == 401
