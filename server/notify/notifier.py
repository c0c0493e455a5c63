"""The notifier: an ingest listener that never makes ingest wait, one thread that turns
ingested batches into outbox rows, one sending thread per channel, and the day-end purge
of contacts.

    ingest writer ──on_ingested (marks sites dirty; O(1), no I/O)──► trigger thread
    trigger thread: read the dirty sites' tickets (server.notify.triggers), add outbox rows
    sender thread per channel: claim a due row → channel.send → sent / retry / failed

A channel that hangs holds only its own thread: ingest, the other channels and the
trigger thread go on. The desk's own events reach ingest again through the broker (as
duplicates), so a batch with duplicates marks every dispatched site dirty: that is how a
call made at the desk console triggers "called". Imports protocol, server.desk (through
triggers), server.settings and this package.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from protocol.sites import Site
from server.notify.channels import Channel, FileChannel, Message, PageChannel, Rejected, Retry
from server.notify.outbox import Notice, Outbox, Row
from server.notify.texts import KINDS, ZNS_MAX, check, render, text_for
from server.notify.triggers import Rules, scan
from server.settings import NotifySection
from server.storage import tickets
from server.storage.events import BatchResult

log = logging.getLogger(__name__)
Reader = Callable[[], Any]
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 600.0
PURGE_EVERY_S = 60.0
SCAN_EVERY_S = 30.0  # rescan even without a batch (a restart, a missed echo)
# At most one scan per SCAN_GAP_S: under fifty desks acting at once, batches arrive many
# times a second and a scan reads every waiting ticket of a site; coalescing them keeps
# the notifier's cost small (bench/notify.py) for at most this much added delay.
SCAN_GAP_S = 0.5
REMIND_EVERY_S = 5.0  # how often planned reminders (bookings) are looked at: they go out within this of their time


def backoff_s(attempts: int, rng: random.Random, first_s: float = BACKOFF_FIRST_S) -> float:
    """2 s, 4 s, 8 s … up to 10 min, with ±20 % jitter so retries of many messages spread."""
    base = min(first_s * 2 ** max(0, attempts - 1), BACKOFF_MAX_S)
    return float(base * rng.uniform(0.8, 1.2))


def default_paths(settings: NotifySection, database: Path) -> tuple[Path, Path, Path]:
    """(outbox database, contacts key, file channel) beside the event database unless set."""
    return (
        settings.database or database.with_name(database.stem + "-notify.db"),
        settings.key_file or database.with_name(database.stem + "-notify.key"),
        settings.file or database.with_name(database.stem + "-messages.jsonl"),
    )


def build_channels(settings: NotifySection, database: Path, outbox: Outbox) -> dict[str, Channel]:
    """The channels some site uses, each built once from its settings."""
    wanted = set(settings.channels) | {c for chosen in settings.site_channels.values() for c in chosen}
    _, _, file_path = default_paths(settings, database)
    channels: dict[str, Channel] = {}
    for name in sorted(wanted):
        if name == "page":
            channels[name] = PageChannel()
        elif name == "file":
            channels[name] = FileChannel(file_path)
        elif name == "webpush":
            from server.notify.webpush import WebPushChannel, vapid_key_path

            channels[name] = WebPushChannel(settings.webpush, vapid_key_path(settings.webpush, database))
        elif name == "zalo":
            from server.notify.zalo import ZaloChannel

            channels[name] = ZaloChannel(settings.zalo, outbox)
        elif name == "sms":
            from server.notify.sms import SmsChannel

            channels[name] = SmsChannel(settings.sms)
    return channels


class Notifier:
    def __init__(
        self,
        settings: NotifySection,
        sites: list[Site],
        dispatch_sites: list[str],
        reader: Reader,
        database: Path,
        clock: Callable[[], datetime],
        channels: dict[str, Channel] | None = None,
        backoff_first_s: float = BACKOFF_FIRST_S,
        remind_every_s: float = REMIND_EVERY_S,
    ):
        self.settings = settings
        self.sites = {s.id: s for s in sites if s.id in dispatch_sites}
        self.reader = reader
        self.clock = clock
        path, key_file, _ = default_paths(settings, database)
        self.outbox = Outbox(path, key_file)
        self.channels = channels if channels is not None else build_channels(settings, database, self.outbox)
        self.rules = Rules(settings.near_people, settings.near_minutes, settings.rating_invite)
        self.rng = random.Random()
        self.backoff_first_s = backoff_first_s
        self.remind_every_s = remind_every_s
        self.remind_passes = 0  # passes of the reminder thread (tests wait on it to see that nothing went)
        self.scans = 0  # trigger passes done (tests wait on it to see that nothing happened)
        self.seen: set[tuple[str, str]] = set()
        self.errors = 0
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._dirty_at: float | None = None
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self.channels}
        self._threads: list[threading.Thread] = []
        self._today: dict[str, str] = {}
        self._conn: Any = None
        self.check_texts()

    def check_texts(self) -> None:
        """Every text of every site fits every channel it may go by (TextError otherwise):
        SMS within its limit (without accents when so sent), ZNS within 400 characters."""
        for site in self.sites.values():
            for name in self.channels_for(site.id):
                limit, plain = 1000, False
                if name == "sms":
                    limit, plain = self.settings.sms.max_chars, self.settings.sms.unaccented
                elif name == "zalo":
                    limit = ZNS_MAX
                for kind in KINDS:
                    template = text_for(kind, site.id, self.settings.texts, self.settings.site_texts)
                    try:
                        check(template, limit, plain, {"site": site.name})
                    except ValueError as exc:
                        raise ValueError(f"notify text {kind!r} of site {site.id!r} for {name}: {exc}") from None

    # -- the ingest listener: must never block -----------------------------------------
    def on_ingested(self, result: BatchResult) -> None:
        touched = {e.site for e in result.stored if e.site in self.sites}
        if result.duplicates:
            touched = set(self.sites)
        if touched:
            self._mark(touched)

    def _mark(self, sites: set[str]) -> None:
        with self._lock:
            self._dirty |= sites
            if self._dirty_at is None:
                self._dirty_at = time.time()
        self._poke.set()

    # -- what the booking part (issue 17) and the web layer call ------------------------
    def channels_for(self, site: str) -> list[str]:
        return [c for c in self.settings.site_channels.get(site, self.settings.channels) if c in self.channels]

    def schedule(self, notice: Notice) -> int:
        """Queue one notice on every channel of its site that can reach this citizen;
        `notice.due_at` delays it (booking reminders: the day before, 30 minutes before
        the slot). Returns how many messages were added (0: already queued)."""
        return self._queue([notice])

    def plan(self, notices: list[Notice]) -> int:
        """Plan messages for a time on the server's clock (`notice.due_at`; booking
        reminders, server/notify/reminders.py): kept in the outbox database, released as
        ordinary messages on every channel that can reach the citizen then (a phone number
        given after the booking counts), at most once per key and kind, across restarts.
        Returns how many were newly planned."""
        return self.outbox.plan(notices)

    def release_due(self) -> int:
        """Queue the planned messages whose time has come (the reminder thread calls this)."""
        due = self.outbox.due_reminders(self.clock().timestamp())
        if not due:
            return 0
        added = self._queue(due)
        self.outbox.released(due)  # a crash before this line releases them again: the outbox's UNIQUE keeps one
        return added

    def _queue(self, notices: list[Notice]) -> int:
        """Write the messages of many notices in one outbox transaction."""
        items: list[tuple[Notice, str, str, float | None]] = []
        now = time.time()
        told_at = self.clock().timestamp()
        for notice in notices:
            chosen = self.channels_for(notice.site)
            contacts = self.outbox.channels_of(notice.ticket_id) if any(self.channels[n].needs_contact for n in chosen) else set()
            text = render(text_for(notice.kind, notice.site, self.settings.texts, self.settings.site_texts), notice.params)
            for name in chosen:
                channel = self.channels[name]
                if channel.needs_contact and name not in contacts:
                    continue
                instant = getattr(channel, "instant", False) and notice.due_at is None
                items.append((notice, name, text, told_at if instant else None))
            self.seen.add((notice.ticket_id, notice.kind))
        added = self.outbox.add_many(items, now) if items else []
        for name in set(added):
            self._wake[name].set()
        return len(added)

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        today = min((self._site_today(s) for s in self.sites.values()), default="")
        self.seen = self.outbox.known(today)
        self._mark(set(self.sites))  # catch up after a restart
        self._threads = [threading.Thread(target=self._trigger_loop, name="xephang-notify", daemon=True),
                         threading.Thread(target=self._remind_loop, name="xephang-notify-remind", daemon=True)]
        # Instant channels (the ticket page) need no sender: their rows are written delivered.
        self._threads += [threading.Thread(target=self._send_loop, args=(name,), name=f"xephang-notify-{name}", daemon=True)
                          for name, channel in self.channels.items() if not getattr(channel, "instant", False)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the threads; a sender stuck in a hung request is left behind (daemon):
        its row stays `sending` and goes again, with the same key, at the next start."""
        self._stop.set()
        self._poke.set()
        for event in self._wake.values():
            event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception:  # noqa: BLE001 - stopping must finish
                log.exception("closing channel %s failed", channel.name)
        if not any(t.is_alive() for t in self._threads):
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self.outbox.close()

    # -- trigger thread -------------------------------------------------------------------
    def _trigger_loop(self) -> None:
        last_purge = 0.0
        last_scan = 0.0
        while not self._stop.is_set():
            self._poke.wait(SCAN_EVERY_S)
            gap_s = SCAN_GAP_S - (time.monotonic() - last_scan)
            if gap_s > 0 and self._stop.wait(gap_s):
                return
            self._poke.clear()
            if self._stop.is_set():
                return
            last_scan = time.monotonic()
            with self._lock:
                dirty, self._dirty = self._dirty or set(self.sites), set()
                event_at, self._dirty_at = self._dirty_at or time.time(), None
            try:
                self._scan(dirty, event_at)
                if time.monotonic() - last_purge >= PURGE_EVERY_S:
                    last_purge = time.monotonic()
                    self.purge()
            except Exception:  # noqa: BLE001 - the notifier must outlive one bad scan
                self.errors += 1
                log.exception("notifier scan failed")

    def _remind_loop(self) -> None:
        while not self._stop.wait(self.remind_every_s):
            try:
                self.release_due()
                for name, channel in self.channels.items():
                    if getattr(channel, "instant", False):  # no sender thread: delayed rows are delivered here
                        self.outbox.deliver_due(name, time.time(), self.clock().timestamp())
                self.remind_passes += 1
            except Exception:  # noqa: BLE001 - the next pass tries again
                self.errors += 1
                log.exception("releasing planned messages failed")

    def _scan(self, sites: set[str], event_at: float) -> None:
        now = self.clock().timestamp()
        if self._conn is None:  # one reading connection for the trigger thread's life
            self._conn = self.reader()
        try:
            notices = [n for site in sorted(sites) for n in scan(self._conn, self.sites[site], self.rules, now, self.seen, event_at)]
        except Exception:
            self._conn.close()
            self._conn = None
            raise
        if notices:
            self._queue(notices)
        self.scans += 1

    def _site_today(self, site: Site) -> str:
        return site.local_day(self.clock()).isoformat()

    def purge(self) -> int:
        """Day end for personal data: every contact kept for an earlier day is deleted."""
        today = {site.id: self._site_today(site) for site in self.sites.values()}
        if today != self._today:
            self._today = today
            self.seen = {pair for pair in self.seen if pair in self.outbox.known(min(today.values(), default=""))}
        removed = self.outbox.purge(today)
        if removed:
            log.info("day end: %d contact(s) of citizens deleted", removed)
        return removed

    # -- sender threads ---------------------------------------------------------------------
    def _send_loop(self, name: str) -> None:
        channel = self.channels[name]
        wake = self._wake[name]
        limit = getattr(channel, "batch", 1)
        while not self._stop.is_set():
            rows = self.outbox.claim(name, time.time(), limit)
            if not rows:
                due = self.outbox.next_due(name)
                wait_s = 1.0 if due is None else min(1.0, max(0.0, due - time.time()))
                wake.wait(wait_s)
                wake.clear()
                continue
            delivered = [row.id for row in rows if self._send_one(channel, row)]
            if delivered:
                self.outbox.sent(delivered, time.time(), self.clock().timestamp())

    def _send_one(self, channel: Channel, row: Row) -> bool:
        """Send one claimed row; True when delivered (the caller marks it sent)."""
        name = channel.name
        address = self.outbox.contact(row.ticket_id, name) if channel.needs_contact else None
        if channel.needs_contact and address is None:
            self.outbox.failed(row.id, "no contact (withdrawn or purged)")
            return False
        message = Message(row.key, row.ticket_id, row.site, row.kind, row.text, row.params, address)
        try:
            channel.send(message)
        except Retry as exc:
            self._retry(row.id, row.attempts, exc.reason, exc.after_s)
        except Rejected as exc:
            # The contact goes first: whoever sees the row failed sees the contact gone
            # (a crash in between leaves the row to a retry that fails for no contact).
            if exc.forget_contact:
                self.outbox.remove_contact(row.ticket_id, name)
            self.outbox.failed(row.id, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not kill its thread
            self.errors += 1
            log.exception("channel %s failed on message %s", name, row.key)
            self._retry(row.id, row.attempts, type(exc).__name__, None)
        else:
            return True
        return False

    def _retry(self, row_id: int, attempts: int, reason: str, after_s: float | None) -> None:
        if attempts >= self.settings.max_attempts:
            self.outbox.failed(row_id, f"gave up after {attempts} attempts: {reason}")
            return
        delay_s = max(after_s or 0.0, backoff_s(attempts, self.rng, self.backoff_first_s))
        self.outbox.retry(row_id, reason, time.time() + delay_s)

    # -- contacts ------------------------------------------------------------------------
    def add_contact(self, ticket_id: str, site: str, channel: str, address: str, day: str) -> None:
        """Keep a citizen's contact for one ticket, until the end of `day` (its site-local
        day; a booking passes its slot's day). Messages already due are not resent."""
        self.outbox.add_contact(ticket_id, channel, site, day or self._site_today(self.sites[site]), address, time.time())

    def push_key(self) -> str | None:
        channel = self.channels.get("webpush")
        key = getattr(channel, "application_server_key", None)
        return key if isinstance(key, str) else None

    # -- reading -------------------------------------------------------------------------
    def page_notices(self, ticket_id: str) -> list[dict[str, Any]]:
        return self.outbox.for_ticket(ticket_id, "page") if "page" in self.channels else []

    def summary(self, site: str, day: str, last_day: str | None = None) -> dict[str, Any]:
        """The manager's view of one site-day (or the days `day`..`last_day`): messages by
        channel, kind and state; and, per channel, of the citizens who got "near" and were
        then called, the share told at least `near_minutes` before their call, counted
        only where the queue allowed it (their wait, issue to call, was at least
        `near_minutes` long)."""
        rows = self.outbox.rows("site = ? AND day >= ? AND day <= ?", (site, day, last_day or day))
        counts: dict[str, dict[str, dict[str, int]]] = {}
        for row in rows:
            by_kind = counts.setdefault(row["channel"], {}).setdefault(row["kind"], {})
            by_kind[row["state"]] = by_kind.get(row["state"], 0) + 1
        near = [r for r in rows if r["kind"] == "near" and r["state"] == "sent"]
        calls: dict[str, tuple[float, float]] = {}
        conn = self.reader()
        try:
            ids = sorted({r["ticket_id"] for r in near})
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for ticket_id, issued_at, called_at in tickets.first_calls(conn, chunk):
                    if issued_at is not None:  # always: a near notice is made for an issued ticket only
                        calls[ticket_id] = (issued_at, called_at)
        finally:
            conn.close()
        lead_s = self.settings.near_minutes * 60
        in_time: dict[str, dict[str, Any]] = {}
        for row in near:
            if row["ticket_id"] not in calls:
                continue
            issued_at, called_at = calls[row["ticket_id"]]
            if called_at - issued_at < lead_s:
                continue  # the queue did not allow it
            entry = in_time.setdefault(row["channel"], {"eligible": 0, "told_in_time": 0})
            entry["eligible"] += 1
            entry["told_in_time"] += int(called_at - row["told_at"] >= lead_s)
        for entry in in_time.values():
            entry["share_pct"] = round(100.0 * entry["told_in_time"] / entry["eligible"], 1) if entry["eligible"] else None
        return {"site": site, "day": day, "to": last_day or day, "messages": counts,
                "told_in_time": in_time, "near_minutes": self.settings.near_minutes}
