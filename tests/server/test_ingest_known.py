"""A batch of events already stored (the server's own desk events echoed by the broker,
redeliveries) is settled without the write lock or a commit, and still counted as
duplicates; a batch with anything new in it goes through the write path as before."""

from __future__ import annotations

import threading

from protocol.sites import Site
from server.storage.events import EventStore, Incoming
from tests.support import site_dict
from tests.synthetic import default_start, ticket_lives


def _messages(events):
    return [Incoming(f"xephang/v1/{e.site}/events/{e.type}", e.to_json(), 0.0, mid=i + 1, qos=1)
            for i, e in enumerate(events)]


def _holding_lock(store: EventStore, work) -> bool:
    """Run `work` while another thread holds the store's write lock; True if it finished."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(10)
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(5)
    finished = not worker.is_alive()
    release.set()
    holder.join(10)
    worker.join(30)
    return finished


def test_an_all_known_batch_needs_no_write_lock_and_is_counted(tmp_path):
    site = Site.model_validate(site_dict())
    events = ticket_lives(site, 20, default_start(), seed=11)
    store = EventStore(tmp_path / "server.db", [site])
    store.append_local(events)
    results = []
    assert _holding_lock(store, lambda: results.append(store.ingest(_messages(events))))
    assert results[0].duplicates == len(events) and results[0].stored == []
    assert store.counts() == {"stored": len(events), "duplicates": len(events), "rejected": 0}
    store.close()
    reopened = EventStore(tmp_path / "server.db", [site])
    assert reopened.counts() == {"stored": len(events), "duplicates": len(events), "rejected": 0}
    reopened.close()


def test_a_batch_with_one_new_event_is_written_and_counts_the_rest(tmp_path):
    site = Site.model_validate(site_dict())
    events = ticket_lives(site, 20, default_start(), seed=12)
    store = EventStore(tmp_path / "server.db", [site])
    store.append_local(events[:-1])
    results = []
    assert not _holding_lock(store, lambda: results.append(store.ingest(_messages(events))))
    assert [str(e.id) for e in results[0].stored] == [str(events[-1].id)]
    assert store.counts() == {"stored": len(events), "duplicates": len(events) - 1, "rejected": 0}
    store.close()
