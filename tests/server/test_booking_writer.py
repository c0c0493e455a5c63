"""Booking changes go through the booking writer (group commit): the changes queued
together share one transaction and one commit, each in its own savepoint, and the last
places of a slot still go to exactly as many requests as there are places; while the
store's lock is held (a slow commit), waiting booking requests hold no worker thread, so
the rest of the server (a static file) still answers (docs/booking.md, "Speed")."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import wait

import httpx
import pytest

from server.booking.errors import BookingRefused
from tests.server.bookingsite import booking_settings, slot_key, tomorrow_at
from tests.server.livedesk import LiveServer
from tests.support import SITE_ID, office_clock

SERVICE = "tu-phap-ho-tich"


def test_bookings_queued_together_share_one_commit_and_never_overbook(broker, tmp_path):
    clock = office_clock()
    slot = slot_key(tomorrow_at(clock(), 10))
    with LiveServer(booking_settings(broker, tmp_path / "server.db", booking_limit=100_000), clock=clock) as server:
        bookings = server.runtime.bookings
        before = bookings.writer.batches
        with server.runtime.store.lock:  # the writer waits for the lock: the bookings queue up
            futures = [bookings.book_later(SITE_ID, SERVICE, slot) for _ in range(20)]
            time.sleep(0.2)
            assert not any(f.done() for f in futures)  # nobody is answered before the commit
        wait(futures, timeout=30)
        made = [f.result() for f in futures if f.exception() is None]
        refused = [f.exception() for f in futures if f.exception() is not None]
        assert len(made) == 5 and len({m["code"] for m in made}) == 5
        assert len(refused) == 15
        assert all(isinstance(e, BookingRefused) and e.code == "slot_full" for e in refused)
        # at most two transactions: the job the writer took before it waited, and the rest
        assert bookings.writer.batches - before <= 2
        conn = server.runtime.store.reader()
        try:
            stored = {r[0] for r in conn.execute("SELECT code FROM bookings WHERE status = 'booked'")}
        finally:
            conn.close()
        assert stored == {m["code"] for m in made}


@pytest.mark.parametrize("waiting", [60])
def test_a_static_file_answers_while_bookings_wait_for_the_store(broker, tmp_path, waiting):
    """More booking requests wait than the server has worker threads (40): before the
    booking writer each held a worker thread while it waited, and a static file (whose
    open and stat run on a worker thread) waited behind them."""
    clock = office_clock()
    slot = slot_key(tomorrow_at(clock(), 11))
    with LiveServer(booking_settings(broker, tmp_path / "server.db", booking_limit=100_000), clock=clock) as server:
        lock = server.runtime.store.lock

        async def scene() -> tuple[float, list[httpx.Response], int]:
            limits = httpx.Limits(max_connections=waiting + 5, max_keepalive_connections=waiting + 5)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
                body = {"site": SITE_ID, "service": SERVICE, "slot": slot}
                lock.acquire()
                try:
                    storm = [asyncio.create_task(http.post("/api/v1/bookings", json=body)) for _ in range(waiting)]
                    await asyncio.sleep(1.5)  # every booking request has reached the server and waits
                    answered_early = sum(t.done() for t in storm)
                    started = time.perf_counter()
                    floor = await http.get("/static/booking.css", timeout=10)
                    took = time.perf_counter() - started
                    assert floor.status_code == 200
                finally:
                    lock.release()
                return took, await asyncio.gather(*storm), answered_early

        took, answers, answered_early = asyncio.run(scene())
    assert answered_early == 0  # the bookings really waited for the store
    assert took < 5.0, f"the static file took {took:.1f} s while bookings waited"
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 5 + [409] * (waiting - 5)
