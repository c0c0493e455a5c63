"""The ticket's "Mời đến: Quầy …" names only open counters (issue 22, point 10): the
server's retained queue state says which counters serving a service are open; the kiosk
prints those, and all of them when it does not know or none is open yet."""

from __future__ import annotations

import json
from datetime import timedelta

from kiosk.queue_view import QueueView
from kiosk.service import counter_hint
from protocol.sites import Site
from server.desk.boardstate import queue_state
from server.storage.events import EventStore
from tests.support import SITE_ID, office_clock, site_dict


def test_the_hint_leaves_out_closed_counters(tmp_path):
    site = Site.model_validate(site_dict())
    now = office_clock()()
    store = EventStore(tmp_path / "s.db", [site])
    try:
        conn = store.reader()
        row = {"reason": None, "changed_at": None, "priority_streak": 0, "booked_streak": 0}  # as counter_states gives
        states = {c: {**row, "state": s} for c, s in (("quay-1", "open"), ("quay-2", "closed"), ("quay-3", "open"))}
        state = queue_state(conn, site, now, counters=states, counts={})
        conn.close()
    finally:
        store.close()
    assert state.services["tu-phap-ho-tich"].open_counter_numbers == [1]
    view = QueueView(site, max_age_s=120, clock=lambda: now)
    assert view.update(state.model_dump_json().encode())
    assert counter_hint(site, "tu-phap-ho-tich", "vi", view.open_counter_numbers("tu-phap-ho-tich", now)) == "Quầy 1"
    # Unknown (no state, or a stale one) or nobody open yet: every counter of the service.
    assert counter_hint(site, "tu-phap-ho-tich", "vi", None) == "Quầy 1, 2"
    stale = QueueView(site, max_age_s=120, clock=lambda: now)
    stale.update(state.model_copy(update={"ts": now - timedelta(minutes=10)}).model_dump_json().encode())
    assert stale.open_counter_numbers("tu-phap-ho-tich", now) is None
    nobody = json.loads(state.model_dump_json())
    nobody["services"]["tu-phap-ho-tich"]["open_counter_numbers"] = []
    view.update(json.dumps(nobody).encode())
    assert counter_hint(site, "tu-phap-ho-tich", "vi", view.open_counter_numbers("tu-phap-ho-tich", now)) == "Quầy 1, 2"
    assert SITE_ID == site.id
