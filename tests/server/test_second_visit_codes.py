"""Return codes of the second visit (server/booking/returns.py, docs/second-visit.md) on
the real Dispatcher and Bookings over one real SQLite store: who may get one, one use,
the validity in days, another site's code, the configured priority of the return ticket
inside its service, and no code in the audit log."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from protocol.events import make_event
from protocol.sites import Site
from server.booking.errors import BookingRefused
from server.booking.service import Bookings
from server.desk.dispatch import Dispatcher
from server.storage.events import EventStore
from tests.support import OTHER_SITE_ID, SITE_ID, office_clock, site_dict

SERVICE = "tu-phap-ho-tich"


@pytest.fixture
def office(tmp_path):
    base = office_clock()()
    now = [base]
    data = site_dict()
    data["return_visit"] = {"valid_days": 3, "priority": "elderly"}
    sites = [Site.model_validate(data), Site.model_validate(site_dict(OTHER_SITE_ID, "Điểm khác"))]
    store = EventStore(tmp_path / "server.db", sites)
    dispatcher = Dispatcher(store, sites, [SITE_ID, OTHER_SITE_ID], "server-desk", lambda *a: None,
                            clock=lambda: now[0]).launch()
    bookings = Bookings(store, sites, "server-desk", lambda: now[0], lambda events: None)
    seq = [0]

    def issue(number: str, site: str = SITE_ID) -> str:
        seq[0] += 1
        now[0] += timedelta(seconds=1)
        ticket_id = str(uuid.uuid4())
        store.append_local([make_event("ticket.issued", site=site, source="kiosk-1", seq=seq[0], ts=now[0], data={
            "ticket_id": ticket_id, "number": number, "service": SERVICE, "priority": None})])
        return ticket_id

    def serve(counter: str, outcome: str, dossier: str | None, site: str = SITE_ID) -> str:
        now[0] += timedelta(seconds=1)
        ticket_id = dispatcher.call_next(site, counter, "test")["ticket_id"]
        now[0] += timedelta(seconds=1)
        dispatcher.complete(site, counter, outcome, dossier, "test")
        return ticket_id

    try:
        yield store, bookings, dispatcher, now, issue, serve
    finally:
        dispatcher.stop()
        store.close()


def test_who_gets_a_code_and_how_long_it_lives(office):
    store, bookings, dispatcher, now, issue, serve = office
    for number in ("A001", "A002", "A003", "A004"):
        issue(number)
    returned = serve("quay-1", "returned", "HS-1")
    no_code = serve("quay-1", "guided", None)
    guided = serve("quay-1", "guided", "HS-3")
    for ticket_id, counter, refusal in ((returned, "quay-1", "not_guided"), (no_code, "quay-1", "no_dossier_code"),
                                        (guided, "quay-2", "other_counter"), (str(uuid.uuid4()), "quay-1", "unknown_ticket")):
        with pytest.raises(BookingRefused) as refused:
            bookings.hand_out_return(SITE_ID, counter, ticket_id, "can-bo")
        assert refused.value.code == refusal
    found = bookings.hand_out_return(SITE_ID, "quay-1", guided, "can-bo")
    assert found["expires_at"] == pytest.approx((now[0] + timedelta(days=3)).timestamp())
    assert bookings.hand_out_return(SITE_ID, "quay-1", guided, "can-bo")["code"] == found["code"]  # asked again
    # Another site's desk cannot check it in; on the last valid minute it issues one ticket...
    with pytest.raises(BookingRefused) as refused:
        bookings.check_in(found["code"], OTHER_SITE_ID, "kiosk")
    assert refused.value.code == "other_site"
    now[0] += timedelta(days=3, minutes=-1)
    second = bookings.check_in(found["code"], SITE_ID, "kiosk")
    assert (second["kind"], second["number"], second["counter"]) == ("return", "BS001", 1)
    # ...once only.
    with pytest.raises(BookingRefused) as refused:
        bookings.check_in(found["code"], SITE_ID, "kiosk")
    assert refused.value.code == "code_used"
    conn = store.reader()
    try:
        row = conn.execute("SELECT priority, channel, preferred_counter, dossier_code FROM tickets WHERE ticket_id = ?",
                           (second["ticket_id"],)).fetchone()
        audit_text = " ".join(str(tuple(r)) for r in conn.execute("SELECT * FROM audit_log"))
    finally:
        conn.close()
    assert tuple(row) == ("elderly", "return", "quay-1", "HS-3")  # the site's return priority
    assert found["code"] not in audit_text and "return_code" in audit_text


def test_a_code_past_its_days_or_handed_out_a_day_late_is_refused(office):
    store, bookings, dispatcher, now, issue, serve = office
    issue("A001")
    issue("A002")
    first = serve("quay-1", "guided", "HS-1")
    second = serve("quay-1", "guided", "HS-2")
    found = bookings.hand_out_return(SITE_ID, "quay-1", first, "can-bo")
    now[0] += timedelta(days=3, minutes=1)
    with pytest.raises(BookingRefused) as refused:
        bookings.check_in(found["code"], SITE_ID, "kiosk")
    assert refused.value.code == "code_expired"
    with pytest.raises(BookingRefused) as refused:
        bookings.hand_out_return(SITE_ID, "quay-1", second, "can-bo")  # not on the day of the visit
    assert refused.value.code == "too_late"


def test_the_return_priority_goes_first_at_its_counter(office):
    store, bookings, dispatcher, now, issue, serve = office
    issue("A001")
    first = serve("quay-1", "guided", "HS-1")
    code = bookings.hand_out_return(SITE_ID, "quay-1", first, "can-bo")["code"]
    walk_ins = [issue("A002"), issue("A003")]
    second = bookings.check_in(code, SITE_ID, "kiosk")
    now[0] += timedelta(seconds=1)
    # Issued after the two walk-ins, the priority return ticket is called before them.
    assert dispatcher.call_next(SITE_ID, "quay-1", "test")["ticket_id"] == second["ticket_id"]
    dispatcher.complete(SITE_ID, "quay-1", "returned", None, "test")
    assert dispatcher.call_next(SITE_ID, "quay-1", "test")["ticket_id"] == walk_ins[0]
