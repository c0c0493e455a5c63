"""Hostile request bodies (nested past the recursion limit, 5,000-digit numbers, invalid
UTF-8, oversized forms) are refused with a 4xx, never a server error."""

from __future__ import annotations

import pytest

from tests.support import SITE_ID

BODIES = {
    "nested": b"[" * 100_000,
    "huge_integer": b'{"outcome": ' + b"9" * 5000 + b"}",
    "invalid_utf8": b'{"outcome": "\xff"}',
    "not_json": b"outcome=returned",
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_hostile_json_bodies_get_a_4xx(office, name):
    client = office.client
    headers = office.bearer("can-bo-a") | {"Content-Type": "application/json"}
    for url in (f"/api/v1/sites/{SITE_ID}/counters/quay-1/complete",
                f"/api/v1/tickets/{office.tickets[0]}/rating"):
        response = client.post(url, content=BODIES[name], headers=headers)
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert response.headers["content-type"].startswith("application/json")


def test_an_oversized_login_form_is_refused(office):
    response = office.client.post("/login", content=b"username=" + b"a" * 5_000_000,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= response.status_code < 500


def test_an_unparseable_body_answers_with_a_stable_code(office):
    response = office.client.post(f"/api/v1/sites/{SITE_ID}/counters/quay-1/complete", content=BODIES["nested"],
                                  headers=office.bearer("can-bo-a") | {"Content-Type": "application/json"})
    assert response.json().get("code") == "invalid_request"
