"""Single poisoned payloads that once stopped the server's ingest thread for good: each is
rejected with a reason and the valid events behind it are stored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from protocol import topics
from protocol.events import InvalidEvent, parse_event
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.web.app import create_app
from tests.reliability.support import publisher, synthetic_events
from tests.support import SITE_ID, server_settings_dict, wait_until

POISON = {
    # json.loads raises a plain ValueError (not JSONDecodeError) past 4300 digits.
    "huge_integer": b'{"v": 1, "type": "ticket.issued", "seq": ' + b"9" * 5000 + b"}",
    "huge_integer_version": b'{"v": ' + b"1" * 4400 + b"}",
    # `type` not hashable: `kind in EVENT_TYPES` raised TypeError (found by hypothesis).
    "type_is_a_list": b'{"v": 1, "type": [], "id": "x"}',
    "type_is_an_object": b'{"v": 1, "type": {"a": 1}}',
    # A number as `ts` was read as seconds since 1970 (found by the fuzz run).
    "ts_is_a_number": json.dumps({
        "v": 1, "id": "44c54d8b-3bb1-2a6b-22a8-5496cb8b84c3", "type": "ticket.issued", "site": SITE_ID,
        "source": "kiosk-1", "seq": 9, "ts": 5, "data": {"ticket_id": "cef968ea-6677-726e-60c5-0661a2062bdc",
                                                        "number": "A001", "service": "chung-thuc", "priority": None},
    }).encode(),
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_parser_raises_only_invalid_event_on_poison(name):
    with pytest.raises(InvalidEvent):
        parse_event(POISON[name])


def test_poisoned_payloads_do_not_stop_ingest(broker, tmp_path):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "server.db"))
    valid = synthetic_events(SITE_ID, 5, seed=5)
    with TestClient(create_app(settings)) as http:
        wait_until(lambda: http.get("/healthz").json()["broker"] == "connected")
        client = publisher(broker)
        topic = topics.event(SITE_ID, "ticket.issued")
        status = topics.device_status(SITE_ID, "kiosk-1")
        for payload in POISON.values():
            client.publish(topic, payload, qos=1).wait_for_publish(10)
            client.publish(status, payload, qos=1).wait_for_publish(10)
        client.publish(status, json.dumps({"state": "online", "ts": "9" * 5000}), qos=1).wait_for_publish(10)
        for event in valid:
            client.publish(topics.event(event.site, event.type), event.to_json(), qos=1).wait_for_publish(10)
        wait_until(lambda: http.get("/healthz").json()["events"]["stored"] == len(valid), 15)
        health = http.get("/healthz").json()
        assert health["events"]["rejected"] == len(POISON)
        assert health["ok"] is True
        client.loop_stop()
