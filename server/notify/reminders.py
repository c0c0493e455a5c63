"""Booking reminders (issue 18): the day before and 30 minutes before an appointment's
slot, on the site's channels (the booking page by default; Zalo or SMS only for a
citizen who gave a phone number for this booking, with consent).

`BookingReminders.on_change` listens to the booking rules (server/booking/service.py,
after each commit): a booking plans its two reminders in the notifier's database; a
move forgets them and plans them for the new slot (contacts follow the new day); a
cancellation or a check-in withdraws what is not sent yet and deletes the booking's
contacts at once. `catch_up` plans again, at start, every booking still to come (a
booking made while the notifier was off); planning is idempotent per booking and kind,
and a released reminder is never planned again, so a restart sends nothing twice.
Imports server.booking (its listener type and rows) and this package.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from protocol.sites import Site
from server.booking.service import Bookings
from server.notify.notifier import Notifier
from server.notify.outbox import Notice

log = logging.getLogger(__name__)
KINDS = ("booking_day_before", "booking_soon")
DAY_BEFORE = timedelta(days=1)
SOON = timedelta(minutes=30)


def reminder_notices(site: Site, booking: dict[str, Any], now: datetime) -> list[Notice]:
    """The reminders of one appointment still ahead of `now`: one a day before the slot
    starts, one 30 minutes before; each expires at the slot's start (too late to help)."""
    start = datetime.fromtimestamp(booking["slot_start_at"], UTC)
    local = start.astimezone(site.zone)
    service = next((s.name for s in site.services if s.id == booking["service"]), booking["service"])
    params = {"service": service, "time": f"{local:%H:%M}", "date": f"{local:%d/%m/%Y}", "site": site.name}
    notices = []
    for kind, ahead in (("booking_day_before", DAY_BEFORE), ("booking_soon", SOON)):
        due = start - ahead
        if due <= now:
            continue  # booked after that moment: the citizen has just seen the slot
        notices.append(Notice(booking["code"], site.id, kind, booking["local_day"], params,
                              due_at=due.timestamp(), expires_at=start.timestamp()))
    return notices


class BookingReminders:
    def __init__(self, notifier: Notifier, bookings: Bookings):
        self.notifier = notifier
        self.bookings = bookings

    def on_change(self, what: str, booking: dict[str, Any]) -> None:
        site = self.notifier.sites.get(booking["site"])
        if site is None:
            return  # a site this server does not dispatch sends no messages
        code = booking["code"]
        outbox = self.notifier.outbox
        if what == "booked":
            self.notifier.plan(reminder_notices(site, booking, self.notifier.clock()))
        elif what == "moved":
            outbox.unplan(code)
            outbox.withdraw(code, KINDS, "booking moved", forget=True)
            outbox.keep_until(code, booking["local_day"])
            self.notifier.plan(reminder_notices(site, booking, self.notifier.clock()))
        elif what in ("cancelled", "checked_in"):
            outbox.unplan(code, "cancelled")
            outbox.withdraw(code, KINDS, f"booking {what.replace('_', ' ')}")
            # Nothing more will be sent for this booking: its contacts go now.
            outbox.remove_contact(code)

    def carry(self, code: str, site: str, ticket_id: str, day: str) -> None:
        """At check-in, inside the transaction that issues the appointment's ticket (a
        `Bookings.ticket_hooks` hook): the ticket gets the booking's contacts (phone and
        channel, opted in on the booking page), kept until the end of the ticket's day, so
        its "near" and "called" messages reach the citizen without the number typed again.
        The booking's own copy goes after the commit (`on_change` "checked_in"); the day-end
        purge removes the ticket's like any other."""
        if site in self.notifier.sites:
            self.notifier.outbox.copy_contacts(code, ticket_id, day)

    def catch_up(self) -> int:
        """Plan the reminders of every booking still to come (idempotent)."""
        now = self.notifier.clock()
        conn = self.bookings.store.reader()
        try:
            upcoming = self.bookings.upcoming(conn, now)
        finally:
            conn.close()
        notices = [n for b in upcoming if (site := self.notifier.sites.get(b["site"])) is not None
                   for n in reminder_notices(site, b, now)]
        planned = self.notifier.plan(notices) if notices else 0
        if planned:
            log.info("planned %d booking reminder(s) at start", planned)
        return planned
