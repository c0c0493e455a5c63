"""A channel that hangs must not slow ingest: with a real Mosquitto and the real ingest
writer, a channel stuck in its first send leaves ingest storing every ticket (100), the ticket
page channel telling every citizen, and its own messages waiting in the outbox until it
answers again, each then sent once."""

from __future__ import annotations

import threading
from typing import ClassVar

from server.mqtt.ingest import Ingestor
from server.notify.channels import FileChannel, Message, PageChannel
from tests.server.livedesk import Kiosk
from tests.server.notify.helpers import Office, file_lines, notifier
from tests.support import office_clock, wait_until


class Hanging:
    """Blocks in send until released (a provider that accepts the connection, then never answers)."""

    name: ClassVar[str] = "file"
    needs_contact: ClassVar[bool] = False

    def __init__(self, target: FileChannel):
        self.target = target
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, message: Message) -> None:
        self.entered.set()
        self.release.wait()
        self.target.send(message)

    def close(self) -> None:
        return None


def test_a_hung_channel_slows_neither_ingest_nor_the_other_channels(broker, tmp_path):
    clock = office_clock()
    office = Office(tmp_path, clock)
    hanging = Hanging(FileChannel(office.db.with_name("events-messages.jsonl")))
    n = notifier(office, use={"page": PageChannel(), "file": hanging}, near_people=1000)
    ingestor = Ingestor(office.store, broker.settings_for("server"), client_id="server")
    ingestor.listeners.append(n.on_ingested)
    n.start()
    ingestor.start()
    kiosk = Kiosk(broker, clock=clock)
    try:
        wait_until(lambda: ingestor.link.connected.is_set())
        kiosk.issue("A001", "tu-phap-ho-tich")
        assert hanging.entered.wait(10)
        # The file channel is now stuck; 99 more tickets arrive (100: the most that can be near).
        ids = [kiosk.issue(f"A{i:03d}", "tu-phap-ho-tich") for i in range(2, 101)]
        wait_until(lambda: office.store.counts()["stored"] == 100, timeout_s=30)
        assert ingestor.commit_failures == 0 and ingestor.pending == 0
        # Every citizen is told on the ticket page while the file channel hangs.
        wait_until(lambda: len(n.outbox.rows("channel = 'page' AND state = 'sent'")) == 100, timeout_s=30)
        assert n.page_notices(ids[-1])[0]["kind"] == "near"
        waiting = n.outbox.rows("channel = 'file'")
        assert len(waiting) == 100 and sum(r["state"] == "sending" for r in waiting) == 1
        assert file_lines(office) == []
        # It answers again: every message goes out, each once.
        hanging.release.set()
        wait_until(lambda: len(file_lines(office)) == 100, timeout_s=30)
        assert len({line["ticket_id"] for line in file_lines(office)}) == 100
    finally:
        hanging.release.set()
        kiosk.close()
        ingestor.stop()
        n.stop()
        office.close()
