"""Zalo ZNS and SMS brandname against local fake providers that answer with their
documented codes: each error its own test (token expired → refreshed once; invalid phone
→ rejected and the number deleted; template rejected → failed; quota exceeded → retried
later, never duplicated), and a notifier killed mid-send (SIGKILL, in its own process)
that neither duplicates nor loses the message when it starts again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from server.notify.channels import Message, Rejected, Retry
from server.notify.outbox import Outbox
from server.notify.sms import SmsChannel
from server.notify.zalo import ZaloChannel
from server.settings import SmsSection, ZaloSection
from tests.server.notify.fakes import FakeSms, FakeZalo
from tests.server.notify.helpers import Office, notifier, site
from tests.support import SITE_ID, child_env, office_clock, wait_until

ROOT = Path(__file__).resolve().parents[3]
PHONE = "84912345678"


@pytest.fixture
def zalo():
    fake = FakeZalo()
    yield fake
    fake.close()


@pytest.fixture
def sms():
    fake = FakeSms()
    yield fake
    fake.close()


def _zalo_settings(fake: FakeZalo, **extra) -> dict:
    return {"send_url": f"{fake.server.url}/message/template", "token_url": f"{fake.server.url}/v4/oa/access_token",
            "app_id": "app-1", "secret_key": "s3cret", "refresh_token": "r-0",
            "templates": {"near": "tpl-near", "called": "tpl-called"}, **extra}


def _sms_settings(fake: FakeSms, **extra) -> dict:
    return {"url": f"{fake.server.url}/send", "brandname": "UBND-XA", "api_key": "k", "secret_key": "s", **extra}


def _message(kind: str = "near", phone: str | None = PHONE, key: str = "xephang-1") -> Message:
    params = {"number": "A003", "ahead": 1, "minutes": 5, "wait": ", khoảng 5 phút", "site": "UBND xã Thử Nghiệm", "counter": 2}
    text = {"near": "Sắp đến lượt số A003 (a, ba) tại UBND xã Thử Nghiệm: còn 1 người trước bạn, khoảng 5 phút.",
            "called": "Mời công dân có số thứ tự A003 (a, ba) đến quầy số 2."}.get(kind, "Cảm ơn bạn.")
    return Message(key, "t-1", SITE_ID, kind, text, params, phone)


# -- Zalo ZNS ---------------------------------------------------------------------------
def test_zns_sends_the_template_and_refreshes_an_expired_token_once(zalo, tmp_path):
    outbox = Outbox(tmp_path / "n.db", tmp_path / "n.key")
    channel = ZaloChannel(ZaloSection(**_zalo_settings(zalo)), outbox)
    channel.send(_message())
    assert zalo.refreshes == 1 and zalo.accepted == [{
        "phone": PHONE, "template_id": "tpl-near", "tracking_id": "xephang-1",
        "template_data": {"number": "A003", "ahead": "1", "minutes": "5", "site": "UBND xã Thử Nghiệm", "counter": "2"}}]
    # The OA token expires (Zalo answers -124): one refresh with the rotated refresh token, sent once.
    zalo.access = "expired"
    channel.send(_message("called", key="xephang-2"))
    assert zalo.answers == [0, -124, 0] and zalo.refreshes == 2 and len(zalo.accepted) == 2
    # The new refresh token is kept (encrypted) for the next start, never the first one again.
    assert outbox.secret("zalo.refresh_token") == zalo.refresh == "r-2"
    assert b"r-2" not in (tmp_path / "n.db").read_bytes()
    again = ZaloChannel(ZaloSection(**_zalo_settings(zalo)), outbox)
    again.send(_message(key="xephang-3"))
    assert zalo.refreshes == 2 and len(zalo.accepted) == 3
    channel.close(), again.close(), outbox.close()


def test_zns_invalid_phone_and_no_zalo_account_are_rejected_and_forget_the_number(zalo, tmp_path):
    outbox = Outbox(tmp_path / "n.db", tmp_path / "n.key")
    channel = ZaloChannel(ZaloSection(**_zalo_settings(zalo)), outbox)
    with pytest.raises(Rejected) as bad:
        channel.send(_message(phone="8412"))
    assert bad.value.forget_contact and "-108" in bad.value.reason
    zalo.no_zalo.add(PHONE)
    with pytest.raises(Rejected) as none:
        channel.send(_message())
    assert none.value.forget_contact and "-118" in none.value.reason
    assert zalo.accepted == []
    channel.close(), outbox.close()


def test_zns_template_rejected_or_unknown_fails_without_forgetting_the_number(zalo, tmp_path):
    outbox = Outbox(tmp_path / "n.db", tmp_path / "n.key")
    draft = ZaloChannel(ZaloSection(**_zalo_settings(zalo, templates={"near": "tpl-draft"})), outbox)
    with pytest.raises(Rejected) as rejected:
        draft.send(_message())
    assert "-117" in rejected.value.reason and not rejected.value.forget_contact
    unknown = ZaloChannel(ZaloSection(**_zalo_settings(zalo, templates={"near": "tpl-nope"})), outbox)
    with pytest.raises(Rejected) as invalid:
        unknown.send(_message())
    assert "-109" in invalid.value.reason
    zalo.templates["tpl-near"].add("service")  # the approved template wants a parameter we do not send
    with pytest.raises(Rejected) as data:
        ZaloChannel(ZaloSection(**_zalo_settings(zalo)), outbox).send(_message())
    assert "-112" in data.value.reason
    with pytest.raises(Rejected):
        draft.send(_message("rating"))  # no template configured for this kind
    assert zalo.accepted == []
    outbox.close()


def test_zns_quota_exceeded_is_retried_later_and_sent_once(zalo, tmp_path):
    office = Office(tmp_path, office_clock())
    zalo.quota = 0
    n = notifier(office, channels=["page", "zalo"], near_people=0, zalo=_zalo_settings(zalo))
    n.start()
    try:
        result = office.issue("A001")
        n.add_contact(office.ids["A001"], SITE_ID, "zalo", PHONE, site().local_day(office.clock()).isoformat())
        n.on_ingested(result)
        wait_until(lambda: n.outbox.rows("channel = 'zalo' AND error LIKE '%quota%'"), 30)  # a loaded CI worker
        row = n.outbox.rows("channel = 'zalo'")[0]
        assert row["state"] == "pending" and row["next_at"] - row["created_at"] >= 3000  # the quota renews daily
        assert zalo.accepted == []
    finally:
        n.stop()
        office.close()


# -- SMS brandname ----------------------------------------------------------------------
def test_sms_sends_one_unaccented_message_in_the_documented_body(sms):
    channel = SmsChannel(SmsSection(**_sms_settings(sms)))
    channel.send(_message())
    assert list(sms.accepted.values()) == [{
        "Phone": PHONE, "Content": "Sap den luot so A003 (a, ba) tai UBND xa Thu Nghiem: con 1 nguoi truoc ban, khoang 5 phut.",
        "Brandname": "UBND-XA", "SmsType": "2", "RequestId": "xephang-1", "ApiKey": "k", "SecretKey": "s"}]
    # The same request id again (a resend after a restart): the gateway says 124, counted as sent.
    channel.send(_message())
    assert len(sms.accepted) == 1 and len(sms.requests) == 2
    channel.close()


def test_sms_invalid_or_blocked_phone_is_rejected_and_forgets_the_number(sms):
    channel = SmsChannel(SmsSection(**_sms_settings(sms)))
    with pytest.raises(Rejected) as bad:
        channel.send(_message(phone="12345"))
    assert bad.value.forget_contact and "108" in bad.value.reason
    sms.blocked.add(PHONE)
    with pytest.raises(Rejected) as blocked:
        channel.send(_message(key="xephang-2"))
    assert blocked.value.forget_contact and "99" in blocked.value.reason
    assert sms.accepted == {}
    channel.close()


def test_sms_template_or_brandname_rejected(sms):
    channel = SmsChannel(SmsSection(**_sms_settings(sms)))
    with pytest.raises(Rejected) as text:
        channel.send(Message("xephang-9", "t-1", SITE_ID, "rating", "Cảm ơn bạn đã đến.", {}, PHONE))
    assert "146" in text.value.reason and not text.value.forget_contact
    other = SmsChannel(SmsSection(**_sms_settings(sms, brandname="KHAC")))
    with pytest.raises(Rejected) as brand:
        other.send(_message())
    assert "104" in brand.value.reason
    assert sms.accepted == {}
    channel.close(), other.close()


def test_sms_out_of_balance_is_retried_later_and_bad_keys_are_retried(sms):
    channel = SmsChannel(SmsSection(**_sms_settings(sms)))
    sms.balance = 0
    with pytest.raises(Retry) as quota:
        channel.send(_message())
    assert "103" in quota.value.reason and quota.value.after_s and quota.value.after_s >= 600
    wrong = SmsChannel(SmsSection(**_sms_settings(sms, api_key="wrong")))
    with pytest.raises(Retry):
        wrong.send(_message())  # an office's configuration error: retried, and visible in the summary
    assert sms.accepted == {}
    channel.close(), wrong.close()


def test_a_text_too_long_for_sms_is_refused_at_start(sms, tmp_path):
    office = Office(tmp_path, office_clock())
    with pytest.raises(ValueError, match="notify text 'near' of site 'test-site' for sms"):
        notifier(office, channels=["page", "sms"], sms=_sms_settings(sms), texts={"near": "x" * 170})
    office.close()


# -- a restart mid-send -------------------------------------------------------------------
def _run(office: Office, config: dict, tmp_path: Path) -> subprocess.Popen:
    path = tmp_path / "notify.json"
    path.write_text(json.dumps(config))
    start = office.clock().isoformat()
    return subprocess.Popen([sys.executable, "-m", "tests.server.notify.run_notifier", str(office.db), str(path), start],
                            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def _opt_in(office: Office, config: dict, channel: str) -> None:
    setup = notifier(office, **config)
    setup.add_contact(office.ids["A001"], SITE_ID, channel, PHONE, site().local_day(office.clock()).isoformat())
    setup.outbox.close()


@pytest.mark.parametrize("provider", ["sms", "zalo"])
def test_killed_mid_send_then_restarted_sends_exactly_once(provider, zalo, sms, tmp_path):
    office = Office(tmp_path, office_clock())
    fake = sms if provider == "sms" else zalo
    section = _sms_settings(sms) if provider == "sms" else _zalo_settings(zalo)
    config = {"channels": ["page", provider], "near_people": 0, provider: section}
    office.issue("A001")
    _opt_in(office, config, provider)
    # SMS: the gateway accepts, then the notifier dies before the answer. ZNS: it dies
    # before Zalo accepted. Either way the message must arrive exactly once.
    fake.hold.set()
    first = _run(office, config, tmp_path)
    try:
        assert fake.held.wait(20)
    finally:
        _kill(first)
        fake.release.set()
    second = _run(office, config, tmp_path)
    try:
        def sent() -> list[dict]:
            check = notifier(office, **config)
            try:
                return check.outbox.rows("channel = ? AND state = 'sent'", (provider,))
            finally:
                check.outbox.close()
        row = wait_until(sent, timeout_s=20)[0]
        assert row["attempts"] == 2 and row["ticket_id"] == office.ids["A001"]
        accepted = list(fake.accepted.values()) if provider == "sms" else fake.accepted
        assert len(accepted) == 1
    finally:
        _kill(second)
        office.close()
