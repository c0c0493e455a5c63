"""Web Push against a local push service that checks the VAPID signature, audience and
expiry, the aes128gcm encoding and TTL, and decrypts each payload with the subscription's
own keys: delivered once (also after a 429), a gone subscription forgets the contact, a
refused message is failed, a service that is down is retried."""

from __future__ import annotations

import json

import pytest

from server.notify.channels import Message, Rejected, Retry
from server.notify.webpush import WebPushChannel
from server.settings import WebPushSection
from tests.server.notify.fakes import PushService
from tests.server.notify.helpers import Office, notifier, site
from tests.support import SITE_ID, office_clock, wait_until


@pytest.fixture
def push():
    service = PushService()
    yield service
    service.close()


def test_near_is_pushed_encrypted_once_after_a_429_and_not_again_after_a_restart(push, tmp_path):
    office = Office(tmp_path, office_clock())
    day = site().local_day(office.clock()).isoformat()
    settings = {"channels": ["page", "webpush"], "near_people": 1, "near_minutes": 0,
                "webpush": {"subject": "mailto:ubnd@example.vn"}}
    first = notifier(office, **settings)
    first.start()
    try:
        for number in ("A001", "A002", "A003", "A004"):
            first.on_ingested(office.issue(number))
        busy, _, _ = push.subscription("busy")
        gone, _, _ = push.subscription("gone")
        first.add_contact(office.ids["A003"], SITE_ID, "webpush", json.dumps(busy), day)
        first.add_contact(office.ids["A004"], SITE_ID, "webpush", json.dumps(gone), day)
        first.on_ingested(office.call("A001"))  # A003 now has one ahead: near
        wait_until(lambda: first.outbox.rows("channel = 'webpush' AND state = 'sent'"))
        row = first.outbox.rows("channel = 'webpush'")[0]
        assert row["ticket_id"] == office.ids["A003"] and row["attempts"] == 2
        assert [d["payload"]["body"] for d in push.delivered] == [row["text"]]
        assert "A003" in row["text"] and push.delivered[0]["payload"]["url"] == f"/t/{office.ids['A003']}"
        # A gone subscription: failed once, and the contact is deleted at once.
        first.on_ingested(office.call("A002"))
        wait_until(lambda: first.outbox.rows("channel = 'webpush' AND state = 'failed'"))
        assert first.outbox.channels_of(office.ids["A004"]) == set()
        assert push.refused == []
    finally:
        first.stop()
    second = notifier(office, **settings)
    second.start()
    try:
        wait_until(lambda: second.scans >= 1)
        second.on_ingested(office.call("A002", kind="ticket.recalled"))
        wait_until(lambda: second.scans >= 2)
        assert len(push.delivered) == 1
    finally:
        second.stop()
        office.close()


def _message(address: str | None, kind: str = "near") -> Message:
    return Message("xephang-1", "t-1", SITE_ID, kind, "Sắp đến lượt số A003 (a, ba)", {}, address)


def test_each_documented_answer(push, tmp_path):
    channel = WebPushChannel(WebPushSection(subject="mailto:ubnd@example.vn"), tmp_path / "vapid.pem")
    ok, _, _ = push.subscription("ok")
    channel.send(_message(json.dumps(ok)))
    assert push.refused == [] and len(push.delivered) == 1
    assert push.delivered[0]["payload"] == {"title": "Sắp đến lượt của bạn", "body": "Sắp đến lượt số A003 (a, ba)",
                                            "tag": "xephang-near", "url": "/t/t-1"}
    assert push.delivered[0]["ttl"] == "900" and push.delivered[0]["urgency"] == "normal"
    gone, _, _ = push.subscription("gone")
    with pytest.raises(Rejected) as refused:
        channel.send(_message(json.dumps(gone)))
    assert refused.value.forget_contact
    big, _, _ = push.subscription("big")
    with pytest.raises(Rejected) as too_big:
        channel.send(_message(json.dumps(big)))
    assert not too_big.value.forget_contact
    down, _, _ = push.subscription("down")
    with pytest.raises(Retry):
        channel.send(_message(json.dumps(down)))
    busy, _, _ = push.subscription("busy")
    with pytest.raises(Retry) as later:
        channel.send(_message(json.dumps(busy)))
    assert later.value.after_s == 0
    # The same key made on first start is read again: the page's applicationServerKey holds.
    again = WebPushChannel(WebPushSection(), tmp_path / "vapid.pem")
    assert again.application_server_key == channel.application_server_key
    assert (tmp_path / "vapid.pem").stat().st_mode & 0o777 == 0o600
    channel.close()
    again.close()
