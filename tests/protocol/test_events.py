"""The v1 event models: parsing, readable errors, NFC text, topics, and the schema doc."""

from __future__ import annotations

import json
import unicodedata
import uuid

import pytest

from protocol import topics
from protocol.events import EVENT_TYPES, InvalidEvent, make_event, parse_event
from protocol.schema import DEFAULT_PATH, schema_text

TICKET = "6f1c2d1e-1111-4111-8111-111111111111"
EXAMPLES = {
    "ticket.issued": {"ticket_id": TICKET, "number": "A023", "service": "chung-thuc", "priority": "elderly"},
    "ticket.called": {"ticket_id": TICKET, "number": "1023", "counter": "quay-3"},
    "ticket.recalled": {"ticket_id": TICKET, "number": "1023", "counter": "quay-3"},
    "ticket.started": {"ticket_id": TICKET, "counter": "quay-3"},
    "ticket.completed": {"ticket_id": TICKET, "counter": "quay-3", "outcome": "appointment",
                         "dossier_code": "000.00.12.H26-261130-0001"},
    "ticket.no_show": {"ticket_id": TICKET, "counter": "quay-3"},
    "ticket.transferred": {"ticket_id": TICKET, "counter": "quay-3", "to_service": "dat-dai"},
    "counter.opened": {"counter": "quay-3"},
    "counter.paused": {"counter": "quay-3", "reason": "Đi họp"},
    "counter.closed": {"counter": "quay-3"},
    "feedback.given": {"ticket_id": TICKET, "counter": "quay-3", "rating": 1, "scale": "4-level"},
    "ticket.checked_in": {"ticket_id": TICKET, "via": "desk"},
    "ticket.requeued": {"ticket_id": TICKET, "counter": "quay-3", "queue_at": "2026-11-30T08:20:00.000500+07:00"},
}


def _envelope(kind, data, **extra):
    body = {"v": 1, "id": str(uuid.uuid4()), "type": kind, "site": "xa-phu-dong", "source": "kiosk-1",
            "seq": 7, "ts": "2026-11-30T08:15:00+07:00", "data": data}
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode()


def test_every_v1_event_type_round_trips():
    assert set(EXAMPLES) == set(EVENT_TYPES)
    for kind, data in EXAMPLES.items():
        event = parse_event(_envelope(kind, data))
        assert event.type == kind
        again = parse_event(event.to_json())
        assert again == event


def test_unknown_fields_are_ignored_for_forward_compatibility():
    event = parse_event(_envelope("ticket.called", {**EXAMPLES["ticket.called"], "extra": 1}, later_field="x"))
    assert event.data.counter == "quay-3"


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xc3\x28", "not UTF-8"),
        (b"{oops", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"v": 2}', "unsupported protocol version 2"),
        (b'{"v": 1, "type": "ticket.eaten"}', "unknown event type 'ticket.eaten'"),
        (_envelope("ticket.completed", {**EXAMPLES["ticket.completed"], "outcome": "lost"}), "data.outcome"),
        (_envelope("ticket.issued", EXAMPLES["ticket.issued"], ts="2026-11-30T08:15:00"), "ts must carry a UTC offset"),
        (_envelope("ticket.issued", EXAMPLES["ticket.issued"], site="Xã Phù Đổng"), "site"),
        (_envelope("ticket.issued", EXAMPLES["ticket.issued"], seq=-1), "seq"),
        (b"x" * 70_000, "payload too large"),
    ],
)
def test_bad_payloads_raise_one_readable_reason(payload, reason):
    with pytest.raises(InvalidEvent) as caught:
        parse_event(payload)
    assert reason in caught.value.reason
    assert "\n" not in caught.value.reason


def test_vietnamese_text_is_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", "Đi họp giao ban")
    event = make_event("counter.paused", site="s", source="server", seq=1, data={"counter": "quay-1", "reason": decomposed})
    assert event.data.reason == unicodedata.normalize("NFC", decomposed) != decomposed


def test_topics_build_and_parse():
    assert topics.event("xa-1", "ticket.issued") == "xephang/v1/xa-1/events/ticket.issued"
    assert topics.parse("xephang/v1/xa-1/commands/quay-2") == topics.Topic("xa-1", "commands", "quay-2")
    assert topics.parse("xephang/v1/xa-1/devices/kiosk-1/status").name == "kiosk-1"
    for bad in ("xephang/v2/xa-1/state/board", "xephang/v1/XA/state/board", "xephang/v1/xa-1/state/other", "a/b"):
        with pytest.raises(topics.InvalidTopic):
            topics.parse(bad)
    with pytest.raises(topics.InvalidTopic):
        topics.event("Bad Site", "ticket.issued")


def test_committed_json_schema_matches_the_models():
    assert DEFAULT_PATH.read_text(encoding="utf-8") == schema_text(), "run: python -m protocol.schema"


def test_a_requeued_place_needs_a_utc_offset():
    with pytest.raises(InvalidEvent, match="queue_at must carry a UTC offset"):
        parse_event(_envelope("ticket.requeued", {**EXAMPLES["ticket.requeued"], "queue_at": "2026-11-30T08:20:00"}))
