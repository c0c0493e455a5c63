"""The retained queue state as the kiosk reads it: bad payloads are ignored, old ones
are unknown, another site's state is not ours, `closed` counts only on its day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kiosk.queue_view import Estimate, QueueView
from protocol.sites import Site
from tests.support import site_dict

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi


def view() -> QueueView:
    return QueueView(Site.model_validate(site_dict()), max_age_s=300, clock=lambda: NOW)


def state(**changes) -> bytes:
    body = {"site": "test-site", "ts": (NOW - timedelta(seconds=20)).isoformat(),
            "services": {"chung-thuc": {"waiting": 2, "estimated_wait_s": 240}}}
    body.update(changes)
    return json.dumps(body).encode()


def test_bad_payloads_are_ignored_and_keep_the_last_good_state():
    queue = view()
    assert queue.update(state())
    for bad in (b"not json", b"[]", b'{"site": "test-site"}', state(site="other-site"), state(ts="2026-11-30T03:00:00"), b"\xff\xfe"):
        assert queue.update(bad) is False
    assert queue.rejected == 6
    assert queue.estimate("chung-thuc", NOW, lambda since: 0) == Estimate(2, 240)


def test_old_or_missing_state_is_unknown_and_a_cleared_retained_message_forgets():
    queue = view()
    assert queue.estimate("chung-thuc", NOW, lambda since: 0) == Estimate(None, None)
    queue.update(state(ts=(NOW - timedelta(minutes=6)).isoformat()))
    assert queue.estimate("chung-thuc", NOW, lambda since: 0) == Estimate(None, None)
    queue.update(state())
    assert queue.estimate("chung-thuc", NOW, lambda since: 1) == Estimate(3, 240)
    queue.update(b"")
    assert queue.state is None


def test_closed_counts_only_on_its_local_day():
    queue = view()
    queue.update(state(closed=True))
    assert queue.day_closed(NOW)
    assert not queue.day_closed(NOW + timedelta(hours=14))  # 00:00 next day in Hanoi
    queue.update(state(closed=False))
    assert not queue.day_closed(NOW)
