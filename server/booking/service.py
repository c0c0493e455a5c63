"""Bookings: book, move and cancel an appointment slot with its code; take an online
number for today; check a citizen in by code. Every rule runs inside one write
transaction of the event store (`store.writing()`: the store's lock, BEGIN IMMEDIATE),
so counting a slot's places and taking one cannot interleave with another request: the
last place of a slot goes to exactly one of any number of concurrent requests.

Tickets leave here as `ticket.issued` events with `channel` (`online`, `appointment`)
stored in the same transaction as the booking row, then published and announced to the
dispatcher's state feed and the statistics after the commit (`announce`), exactly like a
kiosk's ticket arriving through ingest: a citizen never holds a number the queue does not
know. Numbers are the server's own (`TX001` online, `LH001` appointment: two letters,
which no kiosk number has, docs/booking.md), counted per site and day.
Imports protocol and server.storage only; no FastAPI, no paho.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from protocol.errors import Refused
from protocol.events import InvalidEvent, make_event
from protocol.sites import Site
from server.booking import codes, returns
from server.booking.errors import BookingRefused
from server.booking.slots import Slot, bookable, bookable_services, day_slots, find_slot, places_per_slot
from server.storage import audit
from server.storage.audit import Actor
from server.storage.events import EventStore, next_seq
from server.storage.groupcommit import GroupCommit, Job

log = logging.getLogger(__name__)
PREFIX = {"online": "TX", "appointment": "LH", "return": returns.PREFIX}
TAKEN = ("booked", "checked_in")  # statuses that hold a place of a slot
Clock = Callable[[], datetime]
Announce = Callable[[list[Any]], None]
# Told after the commit of a change to an appointment: (what happened, the booking's row:
# code, site, service, kind, local_day, slot_start_at, status). The reminders of issue 18
# (server/notify/reminders.py) listen; a listener's failure never undoes the change.
Listener = Callable[[str, dict[str, Any]], None]
# Called inside the check-in's write transaction, after an appointment's ticket is written
# and before the commit: (the booking's code, its site, the new ticket's id, its site-local
# day). The notifier (server/notify/reminders.py) gives the ticket the phone the citizen
# opted in with for the booking, so no ticket of a booking with a phone is ever committed
# without it. A hook's failure is logged and never refuses the check-in.
TicketHook = Callable[[str, str, str, str], None]


def _nothing_to_record(_conn: sqlite3.Connection, _refused: Refused) -> None:
    """A refused booking change leaves no trace in the database (the caller gets the refusal)."""


@dataclass(frozen=True)
class SlotView:
    slot: Slot
    places: int
    free: int
    open: bool  # bookable now (horizon, cut-off) and a place is free


class Bookings:
    def __init__(self, store: EventStore, sites: Iterable[Site], source: str, clock: Clock, announce: Announce):
        self.store = store
        self.sites = {s.id: s for s in sites}
        self.source = source
        self.clock = clock
        self.announce = announce
        self.listeners: list[Listener] = []
        self.ticket_hooks: list[TicketHook] = []
        self.writer = GroupCommit(store, lambda _done: None, "xephang-booking")

    # -- reading -----------------------------------------------------------------------
    def site(self, site_id: str) -> Site:
        site = self.sites.get(site_id)
        if site is None:
            raise BookingRefused("unknown_site", f"no site {site_id!r}")
        return site

    def booking_sites(self) -> list[Site]:
        return [s for s in self.sites.values() if s.booking.enabled or s.booking.online_numbers]

    def slots(self, conn: sqlite3.Connection, site_id: str, service_id: str, day_text: str) -> list[SlotView]:
        site, _service = self._bookable(site_id, service_id, appointments=True)
        try:
            day = datetime.strptime(day_text, "%Y-%m-%d").date()
        except ValueError:
            raise BookingRefused("invalid_day", "a day is written YYYY-MM-DD") from None
        places = places_per_slot(site, service_id)
        now = self.clock()
        taken = dict(conn.execute(
            "SELECT slot_start_at, COUNT(*) FROM bookings WHERE site = ? AND service = ? AND local_day = ? "
            f"AND status IN {TAKEN} GROUP BY slot_start_at",
            (site_id, service_id, day.isoformat()),
        ).fetchall())
        views = []
        for slot in day_slots(site, day):
            free = max(0, places - int(taken.get(slot.start.timestamp(), 0)))
            views.append(SlotView(slot, places, free, free > 0 and bookable(site, slot, now)))
        return views

    def view(self, conn: sqlite3.Connection, code_text: str) -> dict[str, Any] | None:
        """What the holder of a code may see: that booking, nothing about anyone else."""
        code = codes.canonical(code_text)
        if code is None:
            return None
        row = conn.execute(
            "SELECT b.code, b.site, b.service, b.kind, b.local_day, b.slot_start_at, b.status, b.ticket_id, "
            "b.checked_in_at, t.number, t.status, t.issued_at, h.held_at FROM bookings b "
            "LEFT JOIN tickets t ON t.ticket_id = b.ticket_id LEFT JOIN ticket_holds h ON h.ticket_id = b.ticket_id "
            "WHERE b.code = ?",
            (code,),
        ).fetchone()
        if row is None or row[1] not in self.sites:
            return None
        names = ("code", "site", "service", "kind", "local_day", "slot_start_at", "status", "ticket_id",
                 "checked_in_at", "number", "ticket_status", "issued_at", "held_at")
        found = dict(zip(names, tuple(row)))
        site = self.sites[found["site"]]
        if found["held_at"] is not None and found["ticket_status"] == "waiting" and found["checked_in_at"] is None:
            found["held_until_at"] = found["held_at"] + site.booking.grace_minutes * 60
        else:
            found["held_until_at"] = None
        return found

    def day_list(self, conn: sqlite3.Connection, site_id: str) -> list[dict[str, Any]]:
        """Today's bookings of a site per slot, with who checked in (the desk console)."""
        site = self.site(site_id)
        day = site.local_day(self.clock()).isoformat()
        rows = conn.execute(
            "SELECT b.code, b.service, b.kind, b.slot_start_at, b.status, t.number, b.checked_in_at FROM bookings b "
            "LEFT JOIN tickets t ON t.ticket_id = b.ticket_id WHERE b.site = ? AND b.local_day = ? "
            "AND b.status != 'cancelled' ORDER BY b.slot_start_at IS NULL, b.slot_start_at, b.created_at",
            (site_id, day),
        ).fetchall()
        names = ("code", "service", "kind", "slot_start_at", "status", "number", "checked_in_at")
        return [dict(zip(names, tuple(r))) for r in rows]

    # -- appointments ------------------------------------------------------------------
    def book(self, site_id: str, service_id: str, slot_key: str) -> dict[str, Any]:
        made: dict[str, Any] = self.book_later(site_id, service_id, slot_key).result()
        self.changed("booked", made["code"])
        return made

    def book_later(self, site_id: str, service_id: str, slot_key: str) -> Future[dict[str, Any]]:
        """Queue a booking for the writer (one transaction with the other changes queued
        with it); the future holds the answer or the refusal. The caller tells the
        listeners (`changed`) once it has the answer."""
        site, _service = self._bookable(site_id, service_id, appointments=True)
        slot = self._slot(site, slot_key)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.clock()
            self._check_free(conn, site, service_id, slot, now)
            code = self._unused_code(conn)
            conn.execute(
                "INSERT INTO bookings (code, site, service, kind, local_day, slot_start_at, status, created_at, changed_at) "
                "VALUES (?, ?, ?, 'appointment', ?, ?, 'booked', ?, ?)",
                (code, site.id, service_id, slot.start.date().isoformat(), slot.start.timestamp(),
                 now.timestamp(), now.timestamp()),
            )
            return {"code": code, "site": site.id, "service": service_id, "slot": slot.key}

        return self._later("book", run)

    def move(self, code_text: str, slot_key: str) -> dict[str, Any]:
        moved: dict[str, Any] = self.move_later(code_text, slot_key).result()
        if moved.pop("moved"):
            self.changed("moved", moved["code"])
        return moved

    def move_later(self, code_text: str, slot_key: str) -> Future[dict[str, Any]]:
        """Queue a move for the writer; the answer's `moved` says whether the slot changed
        (then the caller tells the listeners and drops the key)."""
        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            booking = self._appointment(conn, code_text, ("booked",))
            site = self.sites[booking["site"]]
            slot = self._slot(site, slot_key)
            now = self.clock()
            self._before_cutoff(site, booking, now)
            if slot.start.timestamp() == booking["slot_start_at"]:
                return {"code": booking["code"], "slot": slot.key, "moved": False}
            self._check_free(conn, site, booking["service"], slot, now)
            conn.execute(
                "UPDATE bookings SET local_day = ?, slot_start_at = ?, changed_at = ?, moves = moves + 1 WHERE code = ?",
                (slot.start.date().isoformat(), slot.start.timestamp(), now.timestamp(), booking["code"]),
            )
            return {"code": booking["code"], "slot": slot.key, "moved": True}

        return self._later("move", run)

    def cancel(self, code_text: str) -> dict[str, Any]:
        done: dict[str, Any] = self.cancel_later(code_text).result()
        self.changed("cancelled", done["code"])
        return done

    def cancel_later(self, code_text: str) -> Future[dict[str, Any]]:
        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            booking = self._appointment(conn, code_text, ("booked",))
            now = self.clock()
            conn.execute("UPDATE bookings SET status = 'cancelled', changed_at = ? WHERE code = ?",
                         (now.timestamp(), booking["code"]))
            return {"code": booking["code"], "status": "cancelled"}

        return self._later("cancel", run)

    def _later(self, label: str, run: Callable[[sqlite3.Connection], dict[str, Any]]) -> Future[dict[str, Any]]:
        """A change for the booking writer (group commit, server/storage/groupcommit.py):
        the changes queued while it commits run together, each in its own savepoint, under
        one commit; a refusal rolls back its own change only. Before it, each booking
        took the store lock and its own commit on a web worker thread: under a burst the
        waiting requests held every worker thread (docs/booking.md, "Speed")."""
        return self.writer.submit(Job(label, lambda conn: (run(conn), []), _nothing_to_record))

    # -- online numbers ----------------------------------------------------------------
    def take_number(self, site_id: str, service_id: str) -> dict[str, Any]:
        """Today's number, in the queue at once; the citizen checks in on arrival."""
        site, _service = self._bookable(site_id, service_id, appointments=False)
        with self.store.writing() as conn:
            now = self.clock()
            if not site.is_open_for_tickets(now):
                raise BookingRefused("closed_now", "numbers are given during opening hours only")
            code = self._unused_code(conn)
            event = self._issue(conn, site, service_id, "online", now)
            conn.execute(
                "INSERT INTO bookings (code, site, service, kind, local_day, slot_start_at, status, ticket_id, "
                "created_at, changed_at) VALUES (?, ?, ?, 'online', ?, NULL, 'issued', ?, ?, ?)",
                (code, site.id, service_id, site.local_day(now).isoformat(), str(event.data.ticket_id),
                 now.timestamp(), now.timestamp()),
            )
        self.announce([event])
        return {"code": code, "ticket_id": str(event.data.ticket_id), "number": event.data.number}

    # -- check-in ----------------------------------------------------------------------
    def check_in(self, code_text: str, site_id: str, via: str = "desk", counter: str | None = None,
                 actor: Actor | str | None = None) -> dict[str, Any]:
        """The citizen is here: an appointment gets its ticket now; an online number's
        ticket becomes callable. Refused, printing nothing, for an unknown, used,
        cancelled, other-site or other-day code, or outside the check-in window."""
        site = self.site(site_id)
        second = self._check_in_return(code_text, site, via, counter, actor)
        if second is not None:
            return second
        with self.store.writing() as conn:
            code = codes.canonical(code_text)
            booking = self._row(conn, code) if code else None
            if booking is None:
                raise BookingRefused("unknown_code", "no booking has this code")
            if booking["site"] != site.id:
                raise BookingRefused("other_site", "this code is for another reception point")
            now = self.clock()
            if booking["status"] == "cancelled":
                raise BookingRefused("code_cancelled", "this booking was cancelled")
            if booking["status"] == "checked_in":
                raise BookingRefused("code_used", "this code has already been checked in")
            if booking["status"] not in ("booked", "issued"):
                raise BookingRefused("code_expired", "this code can no longer be used")
            if booking["local_day"] != site.local_day(now).isoformat():
                raise BookingRefused("other_day", f"this code is for {booking['local_day']}")
            if booking["kind"] == "appointment":
                event = self._check_in_appointment(conn, site, booking, now)
            else:
                event = self._check_in_online(conn, site, booking, now, via, counter)
            conn.execute("UPDATE bookings SET status = 'checked_in', checked_in_at = ?, changed_at = ?, ticket_id = ? "
                         "WHERE code = ?", (now.timestamp(), now.timestamp(), str(event.data.ticket_id), booking["code"]))
            ticket_id = str(event.data.ticket_id)
            number = event.data.number if event.type == "ticket.issued" else booking["number"]
            if booking["kind"] == "appointment":
                self._new_ticket(booking["code"], site.id, ticket_id, site.local_day(now).isoformat())
            audit.record(conn, audit.as_actor(actor), "check_in", site=site.id, counter=counter, target=ticket_id,
                         detail={"number": number, "kind": booking["kind"], "via": via}, at=now.timestamp())
        self.announce([event])
        self.changed("checked_in", booking["code"])
        return {"code": booking["code"], "kind": booking["kind"], "ticket_id": ticket_id, "number": number,
                "service": booking["service"], "slot_start_at": booking["slot_start_at"]}

    # -- the second visit (server/booking/returns.py, docs/second-visit.md) -------------------
    def hand_out_return(self, site_id: str, counter: str, ticket_id: str, actor: Actor | str | None = None
                        ) -> dict[str, Any]:
        """A desk gives the citizen of its completed `guided` ticket a return code (audited)."""
        site = self.site(site_id)
        with self.store.writing() as conn:
            now = self.clock()
            known = returns.of_ticket(conn, ticket_id[:64])
            found = returns.hand_out(conn, site, counter, ticket_id, now, self._unused_code)
            if known is None:
                audit.record(conn, audit.as_actor(actor), "return_code", site=site.id, counter=counter,
                             target=found["ticket_id"], detail={"service": found["service"],
                                                                "expires_at": found["expires_at"]}, at=now.timestamp())
        return found

    def _check_in_return(self, code_text: str, site: Site, via: str, counter: str | None,
                         actor: Actor | str | None) -> dict[str, Any] | None:
        """A return code's check-in: one "bổ sung" ticket, in the transaction that uses the
        code. None when the text is no return code (the booking check-in goes on)."""
        code = codes.canonical(code_text)
        if code is None:
            return None
        with self.store.writing() as conn:
            found = returns.find(conn, code)
            if found is None:
                return None
            now = self.clock()
            returns.usable(found, site, now)
            event = self._issue(conn, site, found["service"], "return", now, extra=found)
            ticket_id = str(event.data.ticket_id)
            returns.mark_used(conn, code, ticket_id, now)
            audit.record(conn, audit.as_actor(actor), "check_in", site=site.id, counter=counter, target=ticket_id,
                         detail={"number": event.data.number, "kind": "return", "via": via,
                                 "first_ticket": found["ticket_id"]}, at=now.timestamp())
        self.announce([event])
        preferred = site.counter(found["counter"])
        return {"code": code, "kind": "return", "ticket_id": ticket_id, "number": event.data.number,
                "service": found["service"], "slot_start_at": None,
                "counter": preferred.number if preferred else None}

    def _check_in_appointment(self, conn: sqlite3.Connection, site: Site, booking: dict[str, Any], now: datetime) -> Any:
        start = datetime.fromtimestamp(booking["slot_start_at"], UTC)
        rules = site.booking
        if now < start - timedelta(minutes=rules.early_checkin_minutes):
            raise BookingRefused("too_early", f"check-in opens {rules.early_checkin_minutes} minutes before the slot")
        if now > start + timedelta(minutes=rules.late_checkin_minutes):
            raise BookingRefused("too_late", "the slot has passed; please take a number at the kiosk")
        return self._issue(conn, site, booking["service"], "appointment", now, appointment_start=start)

    def _check_in_online(self, conn: sqlite3.Connection, site: Site, booking: dict[str, Any], now: datetime, via: str,
                         counter: str | None) -> Any:
        if booking["ticket_status"] != "waiting":
            raise BookingRefused("turn_passed", "this number is no longer waiting; please take a new one")
        data: dict[str, Any] = {"ticket_id": booking["ticket_id"], "via": via}
        if counter:
            data["counter"] = counter
        return self._event(conn, site, "ticket.checked_in", data, now)

    # -- internals ---------------------------------------------------------------------
    def _new_ticket(self, code: str, site_id: str, ticket_id: str, day: str) -> None:
        for hook in self.ticket_hooks:
            try:
                hook(code, site_id, ticket_id, day)
            except Exception:  # noqa: BLE001 - the citizen is checked in whatever a hook does
                log.exception("check-in hook failed")

    def changed(self, what: str, code: str) -> None:
        """Tell the listeners (after the commit) what became of an appointment."""
        if not self.listeners:
            return
        conn = self.store.reader()
        try:
            row = conn.execute(
                "SELECT code, site, service, kind, local_day, slot_start_at, status FROM bookings WHERE code = ?", (code,),
            ).fetchone()
        finally:
            conn.close()
        if row is None or row[3] != "appointment":
            return
        booking = dict(zip(("code", "site", "service", "kind", "local_day", "slot_start_at", "status"), tuple(row)))
        for listener in self.listeners:
            try:
                listener(what, booking)
            except Exception:  # noqa: BLE001 - the booking stands whatever a listener does
                log.exception("booking listener failed on %s", what)

    def upcoming(self, conn: sqlite3.Connection, now: datetime) -> list[dict[str, Any]]:
        """Appointments still booked whose slot has not started (reminders catch up at start)."""
        rows = conn.execute(
            "SELECT code, site, service, kind, local_day, slot_start_at, status FROM bookings "
            "WHERE kind = 'appointment' AND status = 'booked' AND slot_start_at > ? ORDER BY slot_start_at",
            (now.timestamp(),),
        ).fetchall()
        names = ("code", "site", "service", "kind", "local_day", "slot_start_at", "status")
        return [dict(zip(names, tuple(r))) for r in rows if r[1] in self.sites]

    def _bookable(self, site_id: str, service_id: str, appointments: bool) -> tuple[Site, Any]:
        site = self.site(site_id)
        if appointments and not site.booking.enabled:
            raise BookingRefused("booking_off", "this reception point takes no appointments")
        if not appointments and not site.booking.online_numbers:
            raise BookingRefused("online_numbers_off", "this reception point gives no numbers online")
        service = next((s for s in bookable_services(site) if s.id == service_id), None)
        if service is None:
            raise BookingRefused("unknown_service", f"no bookable service {service_id!r} at this site")
        return site, service

    def _slot(self, site: Site, slot_key: str) -> Slot:
        slot = find_slot(site, slot_key)
        if slot is None:
            raise BookingRefused("unknown_slot", "no such slot on that day")
        return slot

    def _check_free(self, conn: sqlite3.Connection, site: Site, service_id: str, slot: Slot, now: datetime) -> None:
        if not bookable(site, slot, now):
            raise BookingRefused("slot_closed", "this slot can no longer be booked")
        taken = conn.execute(
            f"SELECT COUNT(*) FROM bookings WHERE site = ? AND service = ? AND slot_start_at = ? AND status IN {TAKEN}",
            (site.id, service_id, slot.start.timestamp()),
        ).fetchone()[0]
        if taken >= places_per_slot(site, service_id):
            raise BookingRefused("slot_full", "no place is left in this slot")

    def _before_cutoff(self, site: Site, booking: dict[str, Any], now: datetime) -> None:
        start = datetime.fromtimestamp(booking["slot_start_at"], UTC)
        if start - timedelta(minutes=site.booking.cutoff_minutes) <= now:
            raise BookingRefused("past_cutoff", "this booking can no longer be changed")

    def _unused_code(self, conn: sqlite3.Connection) -> str:
        while True:
            code = codes.new_code()
            if conn.execute("SELECT 1 FROM bookings WHERE code = ?", (code,)).fetchone() is None \
                    and not returns.code_taken(conn, code):
                return code

    def _row(self, conn: sqlite3.Connection, code: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT b.code, b.site, b.service, b.kind, b.local_day, b.slot_start_at, b.status, b.ticket_id, "
            "t.number, t.status FROM bookings b LEFT JOIN tickets t ON t.ticket_id = b.ticket_id WHERE b.code = ?",
            (code,),
        ).fetchone()
        names = ("code", "site", "service", "kind", "local_day", "slot_start_at", "status", "ticket_id", "number",
                 "ticket_status")
        return dict(zip(names, tuple(row))) if row else None

    def _appointment(self, conn: sqlite3.Connection, code_text: str, statuses: tuple[str, ...]) -> dict[str, Any]:
        code = codes.canonical(code_text)
        booking = self._row(conn, code) if code else None
        if booking is None or booking["site"] not in self.sites:
            raise BookingRefused("unknown_code", "no booking has this code")
        if booking["kind"] != "appointment":
            raise BookingRefused("not_appointment", "an online number cannot be moved or cancelled; it lapses if unused")
        if booking["status"] not in statuses:
            raise BookingRefused(f"code_{booking['status']}" if booking["status"] == "cancelled" else "code_used",
                                 f"this booking is {booking['status']}")
        return booking

    def _issue(self, conn: sqlite3.Connection, site: Site, service_id: str, channel: str, now: datetime,
               appointment_start: datetime | None = None, extra: dict[str, Any] | None = None) -> Any:
        day = site.local_day(now).isoformat()
        prefix = PREFIX[channel]
        position = conn.execute(
            "INSERT INTO server_numbers (site, prefix, day, last) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (site, prefix, day) DO UPDATE SET last = last + 1 RETURNING last",
            (site.id, prefix, day),
        ).fetchone()[0]
        data: dict[str, Any] = {"ticket_id": str(uuid.uuid4()), "number": f"{prefix}{position:03d}",
                                "service": service_id, "priority": None, "channel": channel}
        if extra is not None:  # a second visit's ticket (server/booking/returns.py)
            data = returns.ticket_data(site, extra, data["number"])
        if appointment_start is not None:
            data["appointment_start"] = appointment_start.isoformat()
        return self._event(conn, site, "ticket.issued", data, now)

    def _event(self, conn: sqlite3.Connection, site: Site, kind: str, data: dict[str, Any], now: datetime) -> Any:
        try:
            event = make_event(kind, site=site.id, source=self.source, seq=next_seq(conn, self.source), data=data, ts=now)
        except InvalidEvent as exc:
            raise BookingRefused("invalid_event", exc.reason) from None
        self.store.append_local([event], conn=conn)
        return event


class NoShowSweep:
    """Once a minute on its own thread: marks appointments whose check-in window closed
    unused as `no_show` (a figure of the statistics), and turns held online numbers whose
    grace period has passed into automatic no-shows even when no counter calls
    (docs/booking.md)."""

    def __init__(self, bookings: Bookings, interval_s: float = 60.0):
        self.bookings = bookings
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Both sweeps; how many bookings and held numbers were marked."""
        return self.sweep_appointments() + self.expire_holds()

    def expire_holds(self) -> int:
        """An online number held because its turn came before its citizen checked in
        (server/desk/dispatch.py) becomes `ticket.no_show` (`"auto": true`, counter = the
        counter whose call held it) once `grace_minutes` have passed since the hold, in
        one transaction with the check that it still waits unchecked; then published and
        announced like the booking rules' other events. The next call of its service
        would have done the same: whichever comes first does it, once (the ticket then no
        longer waits)."""
        bookings = self.bookings
        now = bookings.clock()
        events = []
        with bookings.store.writing() as conn:
            for site in bookings.sites.values():
                due = conn.execute(
                    "SELECT h.ticket_id, h.counter FROM ticket_holds h JOIN tickets t ON t.ticket_id = h.ticket_id "
                    "WHERE h.site = ? AND t.status = 'waiting' AND t.checked_in_at IS NULL AND h.held_at <= ? "
                    "ORDER BY h.held_at",
                    (site.id, now.timestamp() - site.booking.grace_minutes * 60),
                ).fetchall()
                for ticket_id, counter in due:
                    if site.counter(counter) is None:  # a counter since removed from the config
                        counter = next((c.id for c in site.counters), counter)
                    events.append(bookings._event(conn, site, "ticket.no_show",
                                                  {"ticket_id": ticket_id, "counter": counter, "auto": True}, now))
        if events:
            bookings.announce(events)
            log.info("%d held online number(s) past their grace period marked no-show", len(events))
        return len(events)

    def sweep_appointments(self) -> int:
        now = self.bookings.clock()
        marked = 0
        with self.bookings.store.writing() as conn:
            for site in self.bookings.sites.values():
                late_s = site.booking.late_checkin_minutes * 60
                marked += conn.execute(
                    "UPDATE bookings SET status = 'no_show', changed_at = ? WHERE site = ? AND kind = 'appointment' "
                    "AND status = 'booked' AND slot_start_at < ?",
                    (now.timestamp(), site.id, now.timestamp() - late_s),
                ).rowcount
        return marked

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="xephang-booking-sweep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.bookings.writer.stop()  # the booking writer finishes what is queued (it stops with the server)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the sweep runs again next minute
                log.exception("booking no-show sweep failed")
