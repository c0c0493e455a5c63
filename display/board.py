"""What the display board shows, as a pure model fed by wire messages.

`BoardModel` takes the retained `state/board` (protocol.state.BoardState) and the
`ticket.called` / `ticket.recalled` events, plus the link state, and answers what to
draw: counters, the newest call (and whether it still flashes), the last calls, the
waiting counts, the notice, and whether the data is live, stale or offline.
Clocks are passed in (monotonic seconds for ages, aware datetimes for wall time).

No pygame, no MQTT and no I/O here: this module is imported by tests without either.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from protocol.events import TicketCalled, TicketRecalled
from protocol.sites import Site
from protocol.state import BoardState
from protocol.text import nfc

log = logging.getLogger(__name__)

Status = Literal["waiting", "online", "stale", "offline"]
_SEEN_MAX = 500



@dataclass(frozen=True)
class CounterView:
    id: str
    number: int
    name: str
    state: str = "open"  # open | paused | closed
    reason: str = ""
    ticket_number: str = ""
    channel: str = ""  # "appointment" / "online": a mark beside the number; "" for a kiosk ticket


@dataclass(frozen=True)
class CallView:
    ticket_id: str
    number: str
    counter: str
    counter_number: int | None
    at: datetime
    recall: bool = False
    channel: str = ""  # as CounterView.channel


@dataclass(frozen=True)
class Announcement:
    """A call to say out loud: `counter_number` is what "quầy số ..." says."""

    number: str
    counter_number: int
    recall: bool
    at: datetime


def _counter_number(counter_id: str) -> int | None:
    match = re.search(r"(\d+)$", counter_id)
    return int(match.group(1)) if match else None


class BoardModel:
    """The board's state; every `apply_*` returns True when something visible changed."""

    def __init__(
        self,
        site_id: str,
        site: Site | None = None,
        *,
        stale_after_s: float = 300,
        flash_s: float = 6.0,
        recent_size: int = 6,
        announce_max_age_s: float = 120,
        notice: str | None = None,
    ):
        self.site_id = site_id
        self.stale_after_s = stale_after_s
        self.flash_s = flash_s
        self.recent_size = recent_size
        self.announce_max_age_s = announce_max_age_s
        self.office_name = nfc(site.name) if site else ""
        self.notice_override = nfc(notice) if notice else None
        self.notice = self.notice_override or (nfc(site.notice) if site and site.notice else "")
        self.counters: dict[str, CounterView] = {}
        if site:
            for counter in site.counters:
                self.counters[counter.id] = CounterView(counter.id, counter.number, nfc(counter.name))
        self.service_names = {s.id: nfc(s.name) for s in site.services} if site else {}
        self.waiting: dict[str, int] = {}
        self.recent: list[CallView] = []
        self.data_at: datetime | None = None
        self.state_at: datetime | None = None
        self.last_message_s: float | None = None
        self.link_up = False
        self.flash_until_s = 0.0
        self.revision = 0
        self.bad_messages = 0
        self._seen: OrderedDict[str, None] = OrderedDict()

    # -- inputs -------------------------------------------------------------------------
    def set_link(self, up: bool, now_s: float) -> bool:
        changed = up != self.link_up
        self.link_up = up
        if changed:
            self.revision += 1
        return changed

    def note_bad_message(self, reason: str) -> None:
        self.bad_messages += 1
        log.warning("ignored a bad message (%d so far): %s", self.bad_messages, reason[:200])

    def _touch(self, now_s: float, at: datetime) -> None:
        self.last_message_s = now_s
        if self.data_at is None or at > self.data_at:
            self.data_at = at

    def apply_state(self, state: BoardState, now_s: float) -> bool:
        """Take the server's retained board; an older one than we have is ignored."""
        if state.site != self.site_id:
            self.note_bad_message(f"board state for site {state.site!r}")
            return False
        self.last_message_s = now_s
        if self.state_at is not None and state.ts < self.state_at:
            return False
        self.state_at = state.ts
        self._touch(now_s, state.ts)
        if state.name:
            self.office_name = nfc(state.name)
        if state.notice and not self.notice_override:
            self.notice = nfc(state.notice)
        if state.counters:
            self.counters = {
                c.id: CounterView(
                    c.id, c.number, nfc(c.name), c.state, nfc(c.reason), c.ticket_number or "",
                    c.ticket_channel or "",
                )
                for c in sorted(state.counters, key=lambda c: c.number)
            }
        self.service_names.update({k: nfc(v) for k, v in state.service_names.items()})
        self.waiting = dict(state.waiting)
        server_calls = [
            CallView(c.ticket_id, c.number, c.counter, c.counter_number, c.ts, c.recall, c.channel or "")
            for c in state.recent_calls
        ]
        # Calls we saw as events after this state was made stay on the board.
        newer = [c for c in self.recent if c.at >= state.ts]
        self.recent = self._merge(newer + server_calls)
        self.revision += 1
        return True

    def apply_call(self, event: TicketCalled | TicketRecalled, now_s: float, now_at: datetime) -> Announcement | None:
        """Take a ticket.called / ticket.recalled event. Returns what to announce, or
        None (a duplicate, another site, or a call too old to say out loud)."""
        if event.site != self.site_id:
            self.note_bad_message(f"event for site {event.site!r}")
            return None
        self.last_message_s = now_s
        key = str(event.id)
        if key in self._seen:
            return None  # QoS 1 delivers at least once
        self._seen[key] = None
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        self._touch(now_s, event.ts)
        data = event.data
        recall = event.type == "ticket.recalled"
        counter = self.counters.get(data.counter)
        number = counter.number if counter else _counter_number(data.counter)
        # A call event carries no channel: a ticket seen before (a recall) keeps its mark;
        # a new one gets it with the server's next board state, a moment later.
        channel = next((c.channel for c in self.recent if c.ticket_id == str(data.ticket_id)), "")
        call = CallView(str(data.ticket_id), data.number, data.counter, number, event.ts, recall, channel)
        newest = not self.recent or event.ts >= self.recent[0].at
        self.recent = self._merge([call, *self.recent])
        if counter and (not counter.ticket_number or newest):
            self.counters[data.counter] = replace(counter, ticket_number=data.number, state="open", channel=channel)
        self.revision += 1
        age_s = (now_at - event.ts).total_seconds()
        if age_s > self.announce_max_age_s:
            log.info("call %s at %s is %.0f s old: shown, not announced", data.number, data.counter, age_s)
            return None
        if newest:
            self.flash_until_s = now_s + self.flash_s
        if number is None:
            log.warning("counter %r has no number to announce", data.counter)
            return None
        return Announcement(data.number, number, recall, event.ts)

    def _merge(self, calls: list[CallView]) -> list[CallView]:
        unique: dict[tuple[str, datetime], CallView] = {}
        for call in calls:
            known = unique.setdefault((call.ticket_id, call.at), call)
            if call.channel and not known.channel:  # the server's state knows the channel
                unique[(call.ticket_id, call.at)] = replace(known, channel=call.channel)
        ordered = sorted(unique.values(), key=lambda c: c.at, reverse=True)
        return ordered[: max(self.recent_size + 1, 10)]

    # -- questions ------------------------------------------------------------------------
    def status(self, now_s: float) -> Status:
        if not self.link_up:
            return "offline"
        if self.last_message_s is None:
            return "waiting"  # connected, nothing retained yet
        if self.stale_after_s and now_s - self.last_message_s > self.stale_after_s:
            return "stale"
        return "online"

    def flashing(self, now_s: float) -> bool:
        return bool(self.recent) and now_s < self.flash_until_s

    @property
    def newest(self) -> CallView | None:
        return self.recent[0] if self.recent else None

    @property
    def current_call(self) -> CallView | None:
        """The call shown big: the newest, unless its counter has closed since (at day end
        nobody waits at a closed counter, so the board stops inviting people there)."""
        call = self.newest
        if call is None:
            return None
        counter = self.counters.get(call.counter)
        return None if counter is not None and counter.state == "closed" else call

    @property
    def all_closed(self) -> bool:
        """Every known counter is closed (before opening, after day end)."""
        return bool(self.counters) and all(c.state == "closed" for c in self.counters.values())

    @property
    def previous(self) -> list[CallView]:
        return self.recent[1 : 1 + self.recent_size]

    def counter_name(self, counter_id: str) -> str:
        counter = self.counters.get(counter_id)
        return counter.name if counter else counter_id

    def waiting_rows(self) -> list[tuple[str, int]]:
        """(service name, waiting) for every known service, in config order."""
        ids = list(dict.fromkeys([*self.service_names, *self.waiting]))
        return [(self.service_names.get(i, i), self.waiting.get(i, 0)) for i in ids]
