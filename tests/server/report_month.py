"""A small hand-computed month for the report pack (docs/reports.md), placed relative to a
clock: month M is the calendar month before the clock's site-local month; D1 and D2 are
its 3rd and 4th; P is the last day of the month before M (the previous period).

Site SITE_ID (tests/support.py): A and B eligible (60 min), LAND not; quay-1 serves A, B;
quay-2 serves B, A; quay-3 serves LAND. Default sessions: 07:30-11:30 (cut-off 09:30)
and 13:30-17:00 (cut-off 15:30). Times below are site-local. Every expected figure is
worked out in the comments and in EXPECTED.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from tests.server.stats_day import LOCAL, Builder
from tests.support import SITE_ID

A, B, LAND = "tu-phap-ho-tich", "chung-thuc", "dat-dai"


def month_of(now: datetime) -> tuple[str, str]:
    """(first day, last day) of the month before `now`'s Hanoi month."""
    first_this = now.astimezone(LOCAL).date().replace(day=1)
    last = first_this - timedelta(days=1)
    return last.replace(day=1).isoformat(), last.isoformat()


def build_month(now: datetime) -> tuple[list[Any], dict[str, str]]:
    """The events and the days {M_from, M_to, D1, D2, P}."""
    m_from, m_to = month_of(now)
    first = date.fromisoformat(m_from)
    days = {"M_from": m_from, "M_to": m_to, "D1": (first + timedelta(days=2)).isoformat(),
            "D2": (first + timedelta(days=3)).isoformat(), "P": (first - timedelta(days=1)).isoformat()}
    b = Builder(seed=19)
    s = SITE_ID

    def on(day: str) -> Callable[[str], datetime]:
        return lambda hhmm: datetime.fromisoformat(f"{days[day]}T{hhmm}").replace(tzinfo=LOCAL)

    d1, d2, p = on("D1"), on("D2"), on("P")

    def counter(kind: str, when: datetime, name: str, reason: str | None = None) -> None:
        data = {"counter": name} | ({"reason": reason} if reason else {})
        b.add(f"counter.{kind}", s, when, **data)

    def life(number: str, service: str, issued: datetime, called: datetime, desk: str, started: datetime | None,
             done: datetime | None, outcome: str | None, code: str | None = None) -> Any:
        t = b.ticket(s, number, service, issued)
        b.add("ticket.called", s, called, ticket_id=t, number=number, counter=desk)
        if started is not None:
            b.add("ticket.started", s, started, ticket_id=t, counter=desk)
        if outcome is None:
            b.add("ticket.no_show", s, done, ticket_id=t, counter=desk)
        else:
            extra = {"dossier_code": code} if code else {}
            b.add("ticket.completed", s, done, ticket_id=t, counter=desk, outcome=outcome, **extra)
        return t

    # --- previous period: P1 returned after 90 min -> received 1, within 0 (0.0 %).
    life("A001", A, p("10:00"), p("10:05"), "quay-1", None, p("11:30"), "returned")

    # --- D1 -------------------------------------------------------------------------
    counter("opened", d1("07:30"), "quay-1")
    counter("paused", d1("09:00"), "quay-1", "Đi họp")          # pause 1200 s
    counter("opened", d1("09:20"), "quay-1")
    counter("closed", d1("11:30"), "quay-1")                     # open 5400 + 7800 = 13200 s
    counter("opened", d1("07:30"), "quay-2")
    counter("closed", d1("11:30"), "quay-2")                     # open 14400 s
    # T1: wait 300, walk 120, service 2340, total 2760 (> 2700 at-risk, within); morning session, back 08:26.
    life("A001", A, d1("07:40"), d1("07:45"), "quay-1", d1("07:47"), d1("08:26"), "returned", "X-1")
    # T2: issued 09:29 (before the 09:30 cut-off), back 11:40 (after 11:30): not in session;
    # wait 660, walk 60, service 7140, total 7860 -> over target, overdue.
    life("A002", A, d1("09:29"), d1("09:40"), "quay-2", d1("09:41"), d1("11:40"), "returned")
    # T3: issued 09:31 (after the cut-off); appointment; wait 240, service 1500 (from the call).
    life("B001", B, d1("09:31"), d1("09:35"), "quay-1", None, d1("10:00"), "appointment", "X-2")
    # T4: guided (incomplete papers), code X-3: the citizen comes back on D2 (T6).
    # wait 900 (quay-2 idle 08:50-09:05, quay-1 idle 08:50-09:00 until its pause); service 840.
    life("B002", B, d1("08:50"), d1("09:05"), "quay-2", d1("09:06"), d1("09:20"), "guided", "X-3")
    # T5: land, not eligible; quay-3 never opened; wait 600, service 1800.
    life("3001", LAND, d1("10:00"), d1("10:10"), "quay-3", None, d1("10:40"), "returned")
    # T7: no-show at quay-1; wait 300 (quay-1 idle; quay-2 busy with T2).
    life("A003", A, d1("10:30"), d1("10:35"), "quay-1", None, d1("10:38"), None)

    # --- D2 -------------------------------------------------------------------------
    counter("opened", d2("13:30"), "quay-1")
    counter("closed", d2("17:00"), "quay-1")                     # open 12600 s
    counter("opened", d2("13:30"), "quay-2")
    counter("paused", d2("15:00"), "quay-2", "Nghỉ giải lao")    # pause 600 s
    counter("opened", d2("15:10"), "quay-2")
    counter("closed", d2("17:00"), "quay-2")                     # open 5400 + 6600 = 12000 s
    # T6: X-3's second visit: afternoon session, back 14:20 (in session); wait 600, walk 120,
    # service 1680, total 2400; rated 4 (không hài lòng) -> dissatisfied.
    t6 = life("B003", B, d2("13:40"), d2("13:50"), "quay-1", d2("13:52"), d2("14:20"), "returned", "X-3")
    b.add("feedback.given", s, d2("14:25"), source="feedback-1", ticket_id=t6, counter="quay-1", rating=4, scale="4-level")
    # T8: issued at 15:30 exactly: not before the cut-off, not eligible; wait 600, service 600, total 1200.
    life("A004", A, d2("15:30"), d2("15:40"), "quay-2", None, d2("15:50"), "returned")
    # T9: issued for B, transferred to A by quay-1 at 16:02, served at quay-2; wait 300 (in A),
    # walk 60, service 1440, total 1800; rated 1 then 4 (the first counts: satisfied).
    t9 = b.ticket(s, "B004", B, d2("16:00"))
    b.add("ticket.transferred", s, d2("16:02"), ticket_id=t9, counter="quay-1", to_service=A)
    b.add("ticket.called", s, d2("16:05"), ticket_id=t9, number="B004", counter="quay-2")
    b.add("ticket.started", s, d2("16:06"), ticket_id=t9, counter="quay-2")
    b.add("ticket.completed", s, d2("16:30"), ticket_id=t9, counter="quay-2", outcome="returned", dossier_code="X-4")
    b.add("feedback.given", s, d2("16:31"), source="feedback-1", ticket_id=t9, counter="quay-2", rating=1, scale="4-level")
    b.add("feedback.given", s, d2("16:32"), source="feedback-1", ticket_id=t9, counter="quay-2", rating=4, scale="4-level")
    # A rating without a ticket: 5 stars, satisfied.
    b.add("feedback.given", s, d2("17:00"), source="feedback-1", counter="quay-1", rating=5, scale="5-star")
    return b.events, days


def weekday(day: str) -> int:
    return date.fromisoformat(day).weekday()


def expected(days: dict[str, str]) -> dict[str, Any]:
    """The figures by hand (see the comments above)."""
    w1, w2 = weekday(days["D1"]), weekday(days["D2"])
    return {
        # T1..T9 issued; T7 no-show; 8 served: returned T1 T2 T5 T6 T8 T9, appointment T3, guided T4.
        "summary": {"issued": 9, "called": 9, "served": 8, "outcome_returned": 6, "outcome_appointment": 1,
                    "outcome_guided": 1, "outcome_info": 0, "no_show": 1, "transfers": 1,
                    # received: T1 T2 T3 T6 T8 T9 (T5 is land); within: T1 T6 T8 T9 -> 66.7 %
                    "received": 6, "within_target": 4, "pct_within_target": 66.7,
                    # ratings: T6 (4), T9 (1; its later 4 ignored), the loose 5 stars -> 2 of 3
                    "ratings": 3, "satisfied": 2, "satisfaction_pct": 66.7,
                    "previous": {"received": 1, "within_target": 0, "pct_within_target": 0.0}},
        "by_service": {
            A: {"issued": 5, "served": 4, "outcome_returned": 4, "no_show": 1, "transfers": 1, "received": 4,
                "within_target": 3, "pct_within_target": 75.0},
            B: {"issued": 3, "served": 3, "outcome_returned": 1, "outcome_appointment": 1, "outcome_guided": 1,
                "received": 2, "within_target": 1, "pct_within_target": 50.0},
            LAND: {"issued": 1, "served": 1, "outcome_returned": 1, "received": 0, "pct_within_target": None},
        },
        "trend": [{"day": days["D1"], "received": 3, "within_target": 1, "pct_within_target": 33.3},
                  {"day": days["D2"], "received": 3, "within_target": 3, "pct_within_target": 100.0}],
        # morning: T1 (in), T2 (back after 11:30); afternoon: T6 (in); T3 and T8 after the cut-offs.
        "same_session": {"eligible": 3, "returned_in_session": 2, "pct": 66.7,
                         "by_session": [(2, 1, 50.0), (1, 1, 100.0)]},
        # dossiers T1 T2 T3 T5 T6 T8 T9; bad: T2 overdue, T6 dissatisfied -> 5/7
        "index_766": {"dossiers": 7, "dissatisfied": 1, "overdue": 1, "counted_bad": 2, "ratio_pct": 71.4},
        # X-3 (T4 + T6), X-4: 5 tickets, 4 dossiers, 3 in one visit
        "visits": {"tickets_with_code": 5, "dossiers": 4, "one_visit": 3, "pct_one_visit": 75.0,
                   "visits_per_dossier": 1.25, "histogram": {"1": 3, "2": 1},
                   "repeated": [{"dossier_code": "X-3", "visits": 2}]},
        "counters": {
            # calls T1 T3 T7 T6; service [1500, 1680, 2340]; walk [120, 120]; open 13200 + 12600;
            # idle D1 300 + 600 + 360 + 300, D2 600 + 600 + 300.
            "quay-1": {"open_s": 25800, "calls": 4, "calls_per_open_hour": 0.56, "completed": 3,
                       "service": {"n": 3, "p50_s": 1680, "p90_s": 2340, "mean_s": 1840.0},
                       "walk": {"n": 2, "p50_s": 120, "p90_s": 120, "mean_s": 120.0},
                       "idle_s": 3060, "pause_s": 1200, "pauses": {"Đi họp": 1200}, "no_show": 1, "transfers": 1},
            # calls T2 T4 T8 T9; service [600, 840, 1440, 7140]; walk [60, 60, 60]; open 14400 + 12000;
            # idle D1 300 + 900 + 660, D2 600 + 600 + 300.
            "quay-2": {"open_s": 26400, "calls": 4, "calls_per_open_hour": 0.55, "completed": 4,
                       "service": {"n": 4, "p50_s": 840, "p90_s": 7140, "mean_s": 2505.0},
                       "walk": {"n": 3, "p50_s": 60, "p90_s": 60, "mean_s": 60.0},
                       "idle_s": 3360, "pause_s": 600, "pauses": {"Nghỉ giải lao": 600}, "no_show": 0, "transfers": 0},
            "quay-3": {"open_s": 0, "calls": 1, "calls_per_open_hour": None, "completed": 1,
                       "service": {"n": 1, "p50_s": 1800, "p90_s": 1800, "mean_s": 1800.0},
                       "walk": {"n": 0, "p50_s": None, "p90_s": None, "mean_s": None},
                       "idle_s": 0, "pause_s": 0, "no_show": 0, "transfers": 0},
        },
        "pauses": [{"reason": "Nghỉ giải lao", "seconds": 600, "count": 1}, {"reason": "Đi họp", "seconds": 1200, "count": 1}],
        # wait p50 by weekday x hour of issue
        "heatmap": {(w1, 7): (1, 300), (w1, 8): (1, 900), (w1, 9): (2, 240), (w1, 10): (2, 300),
                    (w2, 13): (1, 600), (w2, 15): (1, 600), (w2, 16): (1, 300)},
        "exceptions": {"counts": {"over_target": 1, "at_risk": 1},
                       "listed": [("at_risk", days["D1"], "A001", 46), ("over_target", days["D1"], "A002", 131)]},
    }
