"""The board's pure model and the parsing of queued messages (no pygame, no broker)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from display.board import BoardModel
from display.feed import Inbound, apply_inbound
from protocol import topics
from protocol.sites import Site
from tests.display.conftest import T0, board_state, call_event, event_item, state_item
from tests.support import SITE_ID, site_dict


def model(**kwargs) -> BoardModel:
    return BoardModel(SITE_ID, Site.model_validate(site_dict()), **{"stale_after_s": 60, "flash_s": 5, **kwargs})


def test_state_then_call_updates_counter_recent_and_flash():
    board = model()
    board.set_link(True, 0)
    changed, said = apply_inbound(state_item(board_state(T0)), board, 1.0, T0)
    assert changed and said is None
    assert board.counters["quay-1"].ticket_number == "A001"
    assert [c.number for c in board.recent] == ["B002", "A001"]
    assert board.waiting_rows()[0] == ("Tư pháp - Hộ tịch", 5)
    event = call_event("A002", "quay-1", ts=T0 + timedelta(seconds=5))
    changed, said = apply_inbound(event_item(event), board, 6.0, T0 + timedelta(seconds=6))
    assert changed
    assert (said.number, said.counter_number, said.recall) == ("A002", 1, False)
    assert board.newest.number == "A002" and board.counters["quay-1"].ticket_number == "A002"
    assert board.flashing(6.0) and board.flashing(10.9) and not board.flashing(11.1)
    assert board.data_at == T0 + timedelta(seconds=5)


def test_duplicate_event_is_shown_once_and_announced_once():
    board = model()
    event = call_event("A003", "quay-2", ts=T0)
    first = apply_inbound(event_item(event), board, 1.0, T0)[1]
    second = apply_inbound(event_item(event), board, 2.0, T0)[1]
    assert first is not None and second is None
    assert [c.number for c in board.recent] == ["A003"]


def test_recall_is_announced_again():
    board = model()
    apply_inbound(event_item(call_event("A003", "quay-2", ts=T0)), board, 1.0, T0)
    later = T0 + timedelta(seconds=40)
    said = apply_inbound(event_item(call_event("A003", "quay-2", ts=later, kind="ticket.recalled", seq=2)), board, 41, later)[1]
    assert said is not None and said.recall
    assert board.newest.recall and len(board.recent) == 2


def test_old_call_replayed_after_a_lost_link_is_shown_not_spoken():
    board = model(announce_max_age_s=120)
    old = call_event("B009", "quay-2", ts=T0 - timedelta(minutes=30))
    changed, said = apply_inbound(event_item(old), board, 1.0, T0)
    assert changed and said is None
    assert board.newest.number == "B009" and not board.flashing(1.0)


def test_older_state_does_not_replace_newer_and_newer_calls_survive_a_state():
    board = model()
    apply_inbound(state_item(board_state(T0)), board, 1.0, T0)
    apply_inbound(state_item(board_state(T0 - timedelta(minutes=5), waiting={"chung-thuc": 99})), board, 2.0, T0)
    assert board.waiting["chung-thuc"] == 2
    call = call_event("A007", "quay-1", ts=T0 + timedelta(seconds=10))
    apply_inbound(event_item(call), board, 3.0, T0 + timedelta(seconds=10))
    # The server's next state was made before it saw A007: A007 stays the newest call.
    apply_inbound(state_item(board_state(T0 + timedelta(seconds=5))), board, 4.0, T0 + timedelta(seconds=11))
    assert board.newest.number == "A007"


def test_status_waiting_online_stale_offline():
    board = model(stale_after_s=60)
    assert board.status(0) == "offline"
    apply_inbound(Inbound("link", up=True), board, 0.0, T0)
    assert board.status(1) == "waiting"
    apply_inbound(state_item(board_state(T0)), board, 2.0, T0)
    assert board.status(61.9) == "online"
    assert board.status(62.1) == "stale"
    apply_inbound(state_item(board_state(T0 + timedelta(seconds=70))), board, 70.0, T0)
    assert board.status(71) == "online"
    apply_inbound(Inbound("link", up=False), board, 72.0, T0)
    assert board.status(72) == "offline"
    # The last numbers stay on the board while offline.
    assert board.counters["quay-1"].ticket_number == "A001"


def test_bad_messages_are_counted_never_raised():
    board = model()
    called = topics.event(SITE_ID, "ticket.called")
    bad = [
        Inbound("message", called, b"\xff\xfe not utf-8"),
        Inbound("message", called, b"[1, 2]"),
        Inbound("message", called, b'{"v": 1, "type": "ticket.called"}'),
        Inbound("message", topics.board_state(SITE_ID), b'{"site": "test-site"}'),
        Inbound("message", topics.board_state(SITE_ID), b"not json"),
        Inbound("message", "xephang/v1/BAD SITE/state/board", b"{}"),
        Inbound("message", called, call_event("A001", "quay-1", ts=T0, kind="ticket.recalled").to_json()),
        Inbound("message", topics.event("other-site", "ticket.called"), call_event("A001", "quay-1", ts=T0, site="other-site").to_json()),
    ]
    for item in bad:
        assert apply_inbound(item, board, 1.0, T0) == (False, None), item
    assert board.bad_messages == len(bad)
    assert board.recent == [] and board.data_at is None
    # A cleared retained board (empty payload) is not an error.
    assert apply_inbound(Inbound("message", topics.board_state(SITE_ID), b""), board, 1.0, T0) == (False, None)
    assert board.bad_messages == len(bad)


def test_pure_modules_do_not_import_pygame_or_paho():
    code = (
        "import sys, display.board, display.feed, display.settings, display.demo, protocol.speech;"
        "print(sorted(m for m in ('pygame', 'paho') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_big_call_clears_when_its_counter_closes():
    """Day end closes the counters: the board stops inviting A032 to a closed counter 3
    (issue 22), and says the counters are closed; the last calls stay listed."""
    board = model()
    apply_inbound(state_item(board_state(T0)), board, 1.0, T0)
    later = T0 + timedelta(seconds=10)
    apply_inbound(event_item(call_event("A032", "quay-3", ts=later)), board, 2.0, later)
    assert board.current_call.number == "A032"
    closed = [{"id": f"quay-{n}", "number": n, "name": f"Quầy {n}", "state": "closed"} for n in (1, 2, 3)]
    evening = T0 + timedelta(hours=1)
    calls = [{"ticket_id": board.newest.ticket_id, "number": "A032", "counter": "quay-3", "counter_number": 3, "ts": later}]
    apply_inbound(state_item(board_state(evening, counters=closed, recent_calls=calls)), board, 3.0, evening)
    assert board.current_call is None and board.all_closed
    assert board.newest.number == "A032"  # still in the list of last calls
    # A counter that only paused keeps its call on the board.
    paused = [{**c, "state": "paused" if c["id"] == "quay-3" else "open"} for c in closed]
    board2 = model()
    apply_inbound(state_item(board_state(T0)), board2, 1.0, T0)
    apply_inbound(event_item(call_event("A033", "quay-3", ts=later)), board2, 2.0, later)
    calls2 = [{**calls[0], "ticket_id": board2.newest.ticket_id, "number": "A033"}]
    apply_inbound(state_item(board_state(evening, counters=paused, recent_calls=calls2)), board2, 3.0, evening)
    assert board2.current_call.number == "A033" and not board2.all_closed


def test_the_channel_mark_follows_the_state_and_survives_a_recall():
    """A call event has no channel: the server's next state brings the mark of a new call
    (and wins over the event's copy of that call); a recall keeps the mark it had."""
    import uuid

    board = model()
    board.set_link(True, 0)
    apply_inbound(state_item(board_state(T0)), board, 1.0, T0)
    ticket = uuid.uuid4()
    called_at = T0 + timedelta(seconds=5)
    from protocol.events import make_event

    def call(kind, ts, seq):
        return make_event(kind, site=SITE_ID, source="server", seq=seq, ts=ts,
                          data={"ticket_id": ticket, "number": "LH002", "counter": "quay-1"})

    apply_inbound(event_item(call("ticket.called", called_at, 1)), board, 6.0, called_at)
    assert board.newest.channel == "" and board.counters["quay-1"].channel == ""
    state = board_state(
        called_at + timedelta(seconds=1),
        counters=[{"id": "quay-1", "number": 1, "name": "Quầy 1", "state": "open", "ticket_number": "LH002",
                   "ticket_id": str(ticket), "ticket_channel": "appointment"}],
        recent_calls=[{"ticket_id": str(ticket), "number": "LH002", "counter": "quay-1", "counter_number": 1,
                       "ts": called_at, "channel": "appointment"}],
    )
    apply_inbound(state_item(state), board, 7.0, called_at)
    assert board.newest.channel == "appointment" and board.counters["quay-1"].channel == "appointment"
    assert len([c for c in board.recent if c.ticket_id == str(ticket)]) == 1
    recalled_at = called_at + timedelta(seconds=60)
    apply_inbound(event_item(call("ticket.recalled", recalled_at, 2)), board, 66.0, recalled_at)
    assert board.newest.recall and board.newest.channel == "appointment"
    assert board.counters["quay-1"].channel == "appointment"
