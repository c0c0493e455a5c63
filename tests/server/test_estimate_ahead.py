"""People ahead for a whole queue at once (server/desk/estimate.py `_all_people_ahead`)
equals the one-ticket definition `people_ahead` for any queue, ghosts included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.desk.estimate import Waiting, _all_people_ahead, people_ahead

tickets = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans(), st.integers(0, 30)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(tickets, st.lists(st.tuples(st.sampled_from(["a", "b", "d"]), st.booleans()), max_size=4))
def test_the_whole_queue_at_once_equals_one_ticket_at_a_time(rows: list[tuple[str, bool, int]],
                                                              new: list[tuple[str, bool]]) -> None:
    # Issue times collide on purpose (the ticket id breaks the tie, as in the dispatcher).
    waiting = [Waiting(f"t{i:03d}", service, priority, 1000.0 + at) for i, (service, priority, at) in enumerate(rows)]
    ghosts = [Waiting(f"new:{s}:{int(p)}", s, p, 2000.0) for s, p in new]
    everyone = waiting + ghosts
    fast = _all_people_ahead(waiting, everyone)
    assert fast == {t.ticket_id: people_ahead(waiting, t) for t in everyone}
