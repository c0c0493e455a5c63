"""The public ticket-status page and its JSON reveal that ticket's position and nothing
else: no other ticket's id or number, no personal data, no way to probe ids."""

from __future__ import annotations

from tests.security.conftest import issue_tickets
from tests.support import OTHER_SITE_ID

ALLOWED_KEYS = {"number", "service", "status", "people_ahead", "estimated_wait_s", "counter", "rated", "spoken", "updated_at",
                "wait_low_s", "wait_high_s", "wait_text", "documents",
                "second_visit", "return_code"}  # the second visit: a mark, and the ticket's own return code


def test_ticket_view_reveals_only_its_own_position(office, broker):
    client = office.client
    runtime = client.app.state.runtime
    others_site = issue_tickets(broker, runtime, 2, site=OTHER_SITE_ID, start_seq=20)
    mine = office.tickets[2]  # A003: two tickets ahead of it
    conn = runtime.store.reader()
    numbers = dict(conn.execute("SELECT ticket_id, number FROM tickets").fetchall())
    conn.close()
    view = client.get(f"/api/v1/tickets/{mine}")
    assert view.status_code == 200
    body = view.json()
    assert set(body) <= ALLOWED_KEYS
    assert body["number"] == "A003" and body["people_ahead"] == 2 and body["status"] == "waiting"
    page = client.get(f"/t/{mine}")
    assert page.status_code == 200 and "A003" in page.text
    for answer in (view, page):
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["referrer-policy"] == "no-referrer"
        for ticket_id, number in numbers.items():
            if ticket_id == mine:
                continue
            assert ticket_id not in answer.text
            assert number not in answer.text.replace("A003", ""), number
    assert set(others_site) <= set(numbers)


def test_unknown_and_malformed_ids_cannot_be_told_apart(office):
    client = office.client
    unknown = client.get("/api/v1/tickets/00000000-0000-4000-8000-000000000000")
    malformed = client.get("/api/v1/tickets/not-an-id")
    injection = client.get("/api/v1/tickets/' OR 1=1 --")
    assert unknown.status_code == malformed.status_code == injection.status_code == 404
    assert unknown.json() == malformed.json() == injection.json()
    assert client.get("/t/00000000-0000-4000-8000-000000000000").status_code == 404
