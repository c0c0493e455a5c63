"""The notifier's triggers and outbox on real SQLite files: "near" and "called" once per
ticket and kind, in order, across a restart; retries with back-off that never duplicate;
a message that cannot be sent is given up, not repeated forever."""

from __future__ import annotations

from typing import ClassVar

from server.notify.channels import FileChannel, Message, PageChannel, Rejected, Retry
from tests.server.notify.helpers import Office, file_lines, notifier
from tests.support import office_clock, wait_until


def _sent(n, channel: str) -> list[dict]:
    return n.outbox.rows("channel = ? AND state = 'sent'", (channel,))


def test_near_then_called_once_each_and_nothing_again_after_a_restart(tmp_path):
    office = Office(tmp_path, office_clock())
    first = notifier(office, near_people=2)
    first.start()
    try:
        for i in range(1, 7):
            first.on_ingested(office.issue(f"A00{i}", back_s=60 - i))
        # A001..A003 have 0, 1 and 2 people ahead: near; A004..A006 not yet.
        wait_until(lambda: len(_sent(first, "file")) == 3 and len(_sent(first, "page")) == 3)
        assert [(line["kind"], line["ticket_id"]) for line in file_lines(office)] == [
            ("near", office.ids[n]) for n in ("A001", "A002", "A003")]
        near = file_lines(office)[1]["text"]
        assert "A002" in near and "a, hai" in near and "còn 1 người" in near

        first.on_ingested(office.call("A001"))
        wait_until(lambda: len(file_lines(office)) == 5)
        # The call, and A004 now has two ahead.
        assert [(line["kind"], line["ticket_id"]) for line in file_lines(office)[3:]] == [
            ("called", office.ids["A001"]), ("near", office.ids["A004"])]
        assert file_lines(office)[3]["text"] == "Mời công dân có số thứ tự A001 (a, một) đến quầy số 1."
        first.on_ingested(office.call("A001", kind="ticket.recalled"))
        wait_until(lambda: len(file_lines(office)) == 6)
        assert file_lines(office)[5]["kind"] == "recalled"
        # The same batch again (MQTT delivers at least once): nothing new.
        scans = first.scans
        first.on_ingested(office.call("A001", kind="ticket.recalled"))
        wait_until(lambda: first.scans > scans)
    finally:
        first.stop()
    before = len(file_lines(office))

    # A restart: the new notifier rescans every site at once and sends nothing twice.
    second = notifier(office, near_people=2)
    second.start()
    try:
        wait_until(lambda: second.scans >= 1)
        second.on_ingested(office.call("A001", kind="ticket.recalled"))
        wait_until(lambda: second.scans >= 2)
        assert len(file_lines(office)) == before == 6
        rows = second.outbox.rows()
        assert len(rows) == 12 and {r["state"] for r in rows} == {"sent"}
        pairs = [(r["ticket_id"], r["kind"], r["channel"]) for r in rows]
        assert len(set(pairs)) == len(pairs)
        # Latency is measured by the benchmark; here only that each row knows its event.
        assert all(r["sent_at"] >= r["event_at"] for r in rows)
    finally:
        second.stop()
        office.close()


class Flaky:
    """A channel that fails `failures` times, then writes to a file channel."""

    name: ClassVar[str] = "file"
    needs_contact: ClassVar[bool] = False

    def __init__(self, target: FileChannel, failures: int, rejected: bool = False):
        self.target, self.failures, self.rejected, self.calls = target, failures, rejected, 0

    def send(self, message: Message) -> None:
        self.calls += 1
        if self.rejected:
            raise Rejected("template rejected")
        if self.calls <= self.failures:
            raise Retry("provider busy")
        self.target.send(message)

    def close(self) -> None:
        return None


def test_retries_back_off_and_deliver_once(tmp_path):
    office = Office(tmp_path, office_clock())
    target = FileChannel(office.db.with_name("events-messages.jsonl"))
    flaky = Flaky(target, failures=3)
    n = notifier(office, use={"page": PageChannel(), "file": flaky}, near_people=0)
    n.start()
    try:
        n.on_ingested(office.issue("A001"))
        wait_until(lambda: len(_sent(n, "file")) == 1)
        row = _sent(n, "file")[0]
        assert row["attempts"] == 4 and flaky.calls == 4
        assert len(file_lines(office)) == 1
        # Back-off doubles: 0.05, 0.1, 0.2 s (±20 %) at least between the attempts.
        assert row["sent_at"] - row["created_at"] >= 0.35 * 0.8 * 0.9
    finally:
        n.stop()
        office.close()


def test_a_refused_message_is_failed_once_and_one_that_keeps_failing_is_given_up(tmp_path):
    office = Office(tmp_path, office_clock())
    target = FileChannel(office.db.with_name("events-messages.jsonl"))
    refused = Flaky(target, failures=0, rejected=True)
    n = notifier(office, use={"page": PageChannel(), "file": refused}, near_people=0)
    n.start()
    try:
        n.on_ingested(office.issue("A001"))
        wait_until(lambda: n.outbox.rows("state = 'failed'"))
        assert refused.calls == 1 and n.outbox.rows("channel = 'file'")[0]["error"] == "template rejected"
    finally:
        n.stop()
    failing = Flaky(target, failures=1000)
    again = notifier(office, use={"page": PageChannel(), "file": failing}, near_people=1, max_attempts=3)
    again.start()
    try:
        again.on_ingested(office.issue("A002"))
        wait_until(lambda: any(r["ticket_id"] == office.ids["A002"] for r in again.outbox.rows("state = 'failed'")))
        assert failing.calls == 3
        assert file_lines(office) == []
    finally:
        again.stop()
        office.close()
