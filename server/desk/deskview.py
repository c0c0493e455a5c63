"""What the desk console shows for one counter, as one JSON-ready dict.

The counter and its state, the ticket in progress (with its arrival time, for the live
timer against the service's target), the waiting list per service, tickets at risk of
missing the target, device faults at the site, and the counter's totals today; the
estimated wait (issue 16) of a ticket issued now per service and of each waiting ticket,
in the console's words (`wait_text`).
Every ticket carries `unconfirmed` (1 when the kiosk published it without a confirmed
print, docs/kiosk.md), so the console can mark it beside the number, and `channel`
(a booked slot or a number taken on a phone get their own mark, docs/booking.md;
`return`: a second visit's "bổ sung" ticket, docs/second-visit.md).
No FastAPI here.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from protocol.i18n import translator
from protocol.sites import Site
from server.desk.boardstate import counter_states, in_progress, waiting_counts
from server.desk.dispatch import in_progress_one
from server.desk.waits import site_waits, wait_words
from server.storage import tickets
from server.storage.devices import device_faults

WAITING_SHOWN = 60


def desk_view(conn: sqlite3.Connection, site: Site, counter_id: str, now: datetime, locale: str = "vi",
              clock_rate: float = 1.0) -> dict[str, Any]:
    counter = site.counter(counter_id)
    if counter is None:
        raise KeyError(counter_id)
    targets = {s.id: (s.target_minutes * 60 if s.target_eligible else None) for s in site.services}
    names = {s.id: s.label(locale) for s in site.services}
    state = counter_states(conn, site)[counter_id]
    current = in_progress_one(conn, site.id, counter_id)
    if current:
        extra = tickets.desk_details(conn, current["ticket_id"])
        assert extra is not None  # just read as the counter's ticket
        current.update(
            first_called_at=extra["first_called_at"], last_called_at=extra["last_called_at"],
            started_at=extra["started_at"], recalled_count=extra["recalled_count"], transfers=extra["transfers"],
            unconfirmed=extra["unconfirmed"], channel=extra["channel"], dossier_code=extra["dossier_code"],
            service_name=names.get(current["service"], current["service"]),
            target_s=targets.get(current["service"]),
            source=extra["source"],  # the device that numbered it: a kiosk can print it again (reprint)
        )
    # `channel` (online / appointment / return; kiosk or null for a walk-in) and
    # `checked_in_at`: the console's mark beside a booked, remote or second-visit number,
    # and "not here yet" for an online number not checked in (docs/booking.md).
    counts = {service: n for service, (n, _p) in waiting_counts(conn, site.id).items()}
    waiting: dict[str, list[dict[str, Any]]] = {}
    for service in site.services:
        listed: list[dict[str, Any]] = [dict(r) for r in tickets.waiting_list(conn, site.id, service.id, WAITING_SHOWN)]
        # A ticket sent back to the queue (missed-call rule, docs/desk.md) at its new place.
        listed.sort(key=lambda t: (t["priority"] is None, t["queue_at"] if t["queue_at"] is not None else t["issued_at"]))
        waiting[service.id] = listed
    now_s = now.timestamp()
    target_of = {s.id: t for s in site.services if (t := targets[s.id])}
    eligible = [s for s in site.services if s.id in target_of]
    risk_s = {service_id: min(site.at_risk_minutes * 60, t) for service_id, t in target_of.items()}
    at_risk = []
    if eligible:
        rows = tickets.open_issued_before(conn, site.id, [s.id for s in eligible], now_s - min(risk_s.values()))
        for row in rows:
            item: dict[str, Any] = dict(row)
            if now_s - item["issued_at"] >= risk_s[item["service"]]:
                at_risk.append({**item, "target_s": targets[item["service"]]})
    at_risk.sort(key=lambda t: t["issued_at"])
    local = now.astimezone(site.zone)
    day_start = datetime.combine(local.date(), datetime.min.time(), tzinfo=site.zone)
    start_s, end_s = day_start.timestamp(), (day_start + timedelta(days=1)).timestamp()
    totals: dict[str, Any] = {"completed": 0, "no_show": 0, "transferred": 0, "returned": 0, "appointment": 0,
                              "guided": 0, "info": 0, "within_target": 0, "median_service_s": None}
    services_s = []
    for outcome, service_s, total_s, done_in in tickets.completed_at_counter(conn, site.id, counter_id, start_s, end_s):
        totals["completed"] += 1
        if outcome in totals:
            totals[outcome] += 1
        if service_s is not None:
            services_s.append(service_s)
        target_s = targets.get(done_in or "")  # no target for a ticket whose issue never arrived
        if outcome == "returned" and target_s and total_s is not None and total_s <= target_s:
            totals["within_target"] += 1
    totals["no_show"] = tickets.no_shows_at_counter(conn, site.id, counter_id, start_s, end_s)
    totals["transferred"] = conn.execute(
        "SELECT COUNT(*) FROM events WHERE site = ? AND type = 'ticket.transferred' AND ts_at >= ? AND ts_at < ? "
        "AND json_extract(payload, '$.data.counter') = ?",
        (site.id, start_s, end_s, counter_id),
    ).fetchone()[0]
    if services_s:
        services_s.sort()
        totals["median_service_s"] = services_s[(len(services_s) - 1) // 2]
    own = [s for s in counter.services]
    # The estimator's words (issue 16): per service for a ticket issued now, per waiting ticket.
    _ = translator("server", locale)
    estimates = site_waits(conn, site, now, counter_states(conn, site), in_progress(conn, site.id)).estimates
    for shown in waiting.values():
        for ticket in shown:
            found = estimates.tickets.get(ticket["ticket_id"])
            ticket["wait_text"] = wait_words(found.people_ahead, found, _, citizen=False) if found else None
    return {
        "site": site.id,
        "site_name": site.name,
        "counter": {"id": counter.id, "number": counter.number, "name": counter.name, "services": own,
                    "state": state["state"], "reason": state["reason"]},
        "current": current,
        "services": [{"id": s.id, "name": names[s.id], "waiting": counts.get(s.id, 0), "own": s.id in own,
                      "target_s": targets[s.id],
                      "wait_text": wait_words(counts.get(s.id, 0), estimates.new.get((s.id, False)), _, citizen=False)}
                     for s in sorted(site.services, key=lambda s: s.id not in own)],
        "waiting": waiting,
        "at_risk": at_risk[:20],
        "faults": device_faults(conn, site.id),
        "counter_numbers": {c.id: c.number for c in site.counters},
        "totals": totals,
        "server_ts": now_s,
        "clock_rate": clock_rate,  # the console's timers tick at this rate between updates
    }
