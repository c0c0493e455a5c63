"""The tickets module (issue 15): every read of the `tickets` projection lives in
server/storage/tickets.py, its rows are typed honestly (server/storage/ticketrow.py), and
each read gives what its callers read before, on a real SQLite file folded from real
events by the event store."""

from __future__ import annotations

import itertools
import re
import types
import typing
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from protocol.events import make_event
from protocol.sites import Site
from server.storage import tickets
from server.storage.events import EventStore
from server.storage.ticketrow import DESK_COLUMNS, NOTICE_COLUMNS, PAGE_COLUMNS, QUEUE_COLUMNS, TicketPart, TicketRow
from tests.support import OTHER_SITE_ID, SITE_ID, site_dict

ROOT = Path(__file__).resolve().parents[2]
# The packages that read the server's database (the kiosk has a `tickets` table of its own, in its own file).
PACKAGES = ("server", "national", "xephang")
TICKET_READ = re.compile(r"\bFROM\s+tickets\b", re.IGNORECASE)

# The reads of `tickets` allowed outside server/storage/tickets.py, with their number
# (docs/architecture.md "The tickets module"): a new one anywhere, even in one of these
# files, fails the test and asks for a decision.
OUTSIDE = {
    # The ingest's own reads inside its write transaction (the owner site of a ticket, a
    # duplicate number): part of writing the projection.
    "server/storage/events.py": 2,
    # Statistics: bulk reads over days for measures, exports and pre-aggregates.
    "server/stats/store.py": 5,
    "server/stats/report.py": 2,
    "server/stats/rollup.py": 1,
}
A, B, LAND = "tu-phap-ho-tich", "chung-thuc", "dat-dai"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Ho Chi Minh City; the rows hold any day


def ticket_reads() -> dict[str, int]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            count = len(TICKET_READ.findall(path.read_text(encoding="utf-8")))
            if count:
                found[path.relative_to(ROOT).as_posix()] = count
    return found


def test_no_module_but_the_tickets_module_reads_tickets():
    found = ticket_reads()
    inside = found.pop("server/storage/tickets.py", 0)
    assert found == OUTSIDE
    assert inside >= 30  # the scan does see the reads where they are


def test_the_scan_sees_a_read_spelled_over_lines_and_in_lower_case():
    assert TICKET_READ.findall('"SELECT number FROM\n   tickets WHERE x" "select 1 from tickets"') == ["FROM\n   tickets",
                                                                                                  "from tickets"]
    assert not TICKET_READ.findall("JOIN tickets t; FROM tickets_pick; FROM ticket_holds")


# -- the typed row ------------------------------------------------------------------------
def _column_type(declared: str, not_null: bool) -> object:
    base = {"TEXT": str, "REAL": float, "INTEGER": int}[declared]
    return base if not_null else base | None


def test_the_typed_row_is_the_table(tmp_path):
    store = EventStore(tmp_path / "t.db", [Site.model_validate(site_dict())])
    conn = store.reader()
    columns = conn.execute("PRAGMA table_info(tickets)").fetchall()
    conn.close()
    hints = typing.get_type_hints(TicketRow)
    assert list(hints) == [c["name"] for c in columns]
    assert hints == {c["name"]: _column_type(c["type"], bool(c["notnull"] or c["pk"])) for c in columns}
    assert typing.get_type_hints(TicketPart) == hints
    assert TicketRow.__required_keys__ == frozenset(hints) and TicketPart.__required_keys__ == frozenset()
    for names in (QUEUE_COLUMNS, DESK_COLUMNS, NOTICE_COLUMNS, PAGE_COLUMNS):
        assert set(names) <= set(hints)


def _fits(value: object, hint: object) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return any(value is None if o is type(None) else isinstance(value, o) for o in options)


# -- a day of an office, folded from real events ------------------------------------------
class Office:
    def __init__(self, path: Path):
        self.site = Site.model_validate(site_dict())
        self.store = EventStore(path, [self.site, Site.model_validate(site_dict(OTHER_SITE_ID))])
        self.seq = {"kiosk-1": itertools.count(1), "server": itertools.count(1)}

    def at(self, minutes: float) -> float:
        return (T0 + timedelta(minutes=minutes)).timestamp()

    def event(self, kind: str, minutes: float, source: str = "server", **data) -> None:
        self.store.append_local([make_event(kind, site=SITE_ID, source=source, seq=next(self.seq[source]),
                                            ts=T0 + timedelta(minutes=minutes), data=data)])

    def issue(self, number: str, service: str, minutes: float, **extra) -> str:
        ticket_id = str(uuid.uuid4())
        self.event("ticket.issued", minutes, "kiosk-1", ticket_id=ticket_id, number=number, service=service, **extra)
        return ticket_id


@pytest.fixture
def office(tmp_path):
    o = Office(tmp_path / "office.db")
    o.a1 = o.issue("A001", A, 0)
    o.a2 = o.issue("A002", A, 1, priority="elderly")
    o.a3 = o.issue("A003", A, 2, channel="online")  # not checked in
    o.a4 = o.issue("A004", A, 3, channel="appointment", appointment_start=(T0 + timedelta(minutes=10)).isoformat())
    o.a5 = o.issue("A005", A, 4)
    o.a6 = o.issue("A006", A, 5)
    o.b1 = o.issue("B001", B, 0)
    o.b2 = o.issue("B002", B, 1)
    o.b3 = o.issue("B003", B, 2)
    o.d1 = o.issue("B004", B, 1.5, channel="return", preferred_counter="quay-2", dossier_code="HS-7")
    o.c1 = o.issue("3001", LAND, 4, channel="return", preferred_counter="quay-3", dossier_code="HS-9")
    o.event("ticket.called", 5, ticket_id=o.a5, number="A005", counter="quay-1")
    o.event("ticket.started", 6, ticket_id=o.a5, counter="quay-1")
    o.event("ticket.completed", 9, ticket_id=o.a5, counter="quay-1", outcome="guided", dossier_code="HS-1")
    o.event("ticket.called", 10, ticket_id=o.a6, number="A006", counter="quay-1")
    o.event("ticket.called", 7, ticket_id=o.b1, number="B001", counter="quay-2")
    o.event("ticket.no_show", 8, ticket_id=o.b1, counter="quay-2")
    o.event("ticket.called", 11, ticket_id=o.b2, number="B002", counter="quay-2")
    o.event("ticket.requeued", 12, ticket_id=o.b2, counter="quay-2", queue_at=(T0 + timedelta(minutes=3)).isoformat())
    o.event("ticket.called", 12, ticket_id=o.c1, number="3001", counter="quay-3")
    o.conn = o.store.reader()
    yield o
    o.conn.close()


def ids(rows) -> list[str]:
    return [r["ticket_id"] if isinstance(r, dict) else r[0] for r in rows]


def test_whole_rows_hold_the_types_they_declare(office):
    hints = typing.get_type_hints(TicketRow)
    every = [r[0] for r in office.conn.execute("SELECT ticket_id FROM tickets")]
    assert len(every) == 11
    for ticket_id in every:
        row = tickets.ticket(office.conn, ticket_id)
        assert row is not None and set(row) == set(hints)
        assert [name for name, value in row.items() if not _fits(value, hints[name])] == []
    done = tickets.ticket(office.conn, office.a5)
    assert done is not None
    assert (done["status"], done["outcome"], done["dossier_code"], done["counter"]) == ("completed", "guided", "HS-1", "quay-1")
    assert (done["wait_s"], done["service_s"], done["total_s"]) == (60.0, 180.0, 300.0)
    assert tickets.ticket(office.conn, str(uuid.uuid4())) is None


def test_one_ticket_reads(office):
    conn, at = office.conn, office.at
    assert tickets.page_ticket(conn, office.a1) == {
        "ticket_id": office.a1, "site": SITE_ID, "number": "A001", "service": A, "priority": None,
        "issued_at": at(0), "status": "waiting", "counter": None}
    waiting = tickets.waiting_ticket(conn, office.a4, SITE_ID)
    assert waiting is not None and tuple(waiting) == QUEUE_COLUMNS
    assert (waiting["channel"], waiting["appointment_start_at"]) == ("appointment", at(10))
    assert tickets.waiting_ticket(conn, office.a5, SITE_ID) is None  # completed
    assert tickets.waiting_ticket(conn, office.a1, OTHER_SITE_ID) is None
    missed = tickets.missed_call_ticket(conn, office.b2)
    assert missed is not None and tuple(missed) == (*QUEUE_COLUMNS, "status", "last_called_at", "requeued_count")
    assert (missed["status"], missed["last_called_at"], missed["requeued_count"], missed["queue_at"]) == \
        ("waiting", at(11), 1, at(3))
    details = tickets.desk_details(conn, office.a6)
    assert details == {"first_called_at": at(10), "last_called_at": at(10), "started_at": None, "recalled_count": 0,
                       "transfers": 0, "unconfirmed": 0, "channel": None, "dossier_code": None, "source": "kiosk-1"}
    assert tickets.notice_ticket(conn, office.a1) == {"ticket_id": office.a1, "site": SITE_ID, "status": "waiting",
                                                      "local_day": "2026-03-02"}
    assert tickets.reprint_facts(conn, office.a1, SITE_ID) == {"number": "A001", "source": "kiosk-1", "status": "waiting"}
    assert tickets.reprint_facts(conn, office.a1, OTHER_SITE_ID) is None
    assert tickets.return_facts(conn, office.a5) == {
        "site": SITE_ID, "service": A, "counter": "quay-1", "status": "completed", "outcome": "guided",
        "dossier_code": "HS-1", "completed_at": at(9)}
    assert [tickets.channel_of(conn, t) for t in (office.a3, office.d1, office.a1, "unknown")] == \
        ["online", "return", None, None]
    assert tickets.site_and_day(conn, office.b1) == (SITE_ID, "2026-03-02")
    assert tickets.site_and_day(conn, "unknown") is None


def test_a_counters_tickets(office):
    conn, at = office.conn, office.at
    current = tickets.counter_ticket(conn, SITE_ID, "quay-1")
    assert current is not None and current["ticket_id"] == office.a6 and current["status"] == "called"
    assert tickets.counter_ticket(conn, SITE_ID, "quay-2") is None  # its no-show and its requeued ticket
    assert tickets.counter_dossier(conn, SITE_ID, "quay-3") == "HS-9"
    assert tickets.counter_dossier(conn, SITE_ID, "quay-1") is None
    busy = tickets.in_progress(conn, SITE_ID)
    assert [(r["counter"], r["ticket_id"]) for r in busy] == [("quay-1", office.a6), ("quay-3", office.c1)]
    assert busy[0]["first_called_at"] == at(10)
    assert tickets.completed_at_counter(conn, SITE_ID, "quay-1", at(0), at(60)) == [("guided", 180.0, 300.0, A)]
    assert tickets.completed_at_counter(conn, SITE_ID, "quay-1", at(0), at(9)) == []  # the end is excluded
    assert tickets.no_shows_at_counter(conn, SITE_ID, "quay-2", at(8), at(60)) == 1
    assert tickets.no_shows_at_counter(conn, SITE_ID, "quay-2", at(0), at(8)) == 0
    assert tickets.no_shows_at_counter(conn, SITE_ID, "quay-1", at(0), at(60)) == 0


def test_the_dispatchers_reads(office):
    conn, at = office.conn, office.at
    # Priority, then the others (an online number not checked in is not ready), then a
    # booking whose slot has started.
    assert ids(tickets.class_heads(conn, SITE_ID, A, at(5), "quay-1", frozenset())) == [office.a2, office.a1]
    heads = tickets.class_heads(conn, SITE_ID, A, at(20), "quay-1", frozenset())
    assert ids(heads) == [office.a2, office.a1, office.a4] and all(tuple(h) == QUEUE_COLUMNS for h in heads)
    # The return ticket kept for quay-2 while quay-2 is not closed; a requeued one is not a class head.
    assert ids(tickets.class_heads(conn, SITE_ID, B, at(20), "quay-1", frozenset({"quay-1", "quay-2"}))) == [office.b3]
    assert ids(tickets.class_heads(conn, SITE_ID, B, at(20), "quay-2", frozenset({"quay-1", "quay-2"}))) == [office.d1]
    assert ids(tickets.class_heads(conn, SITE_ID, B, at(20), "quay-1", frozenset({"quay-1"}))) == [office.d1]
    assert tickets.not_reserved_sql("quay-1", frozenset({"quay-1"})) == ""
    assert tickets.not_reserved_sql("quay-1", frozenset({"quay-1", "o'k", "quay-2"})) == \
        " AND (preferred_counter IS NULL OR preferred_counter NOT IN ('o''k', 'quay-2'))"
    assert [(r["ticket_id"], r["queue_at"]) for r in tickets.requeued(conn, SITE_ID, B, 50)] == [(office.b2, at(3))]
    assert tickets.requeued(conn, SITE_ID, A, 50) == []
    assert sorted(ids(tickets.waiting_of_service(conn, SITE_ID, B))) == sorted([office.b2, office.b3, office.d1])
    assert tickets.unheld_online_before(conn, SITE_ID, [A, B], at(20), 50) == [office.a3]
    assert tickets.unheld_online_before(conn, SITE_ID, [A], at(2), 50) == []  # issued at 2: not before
    with office.store.writing() as w:
        w.execute("INSERT INTO ticket_holds (ticket_id, site, counter, held_at) VALUES (?, ?, ?, ?)",
                  (office.a3, SITE_ID, "quay-1", at(20)))
    assert tickets.unheld_online_before(conn, SITE_ID, [A], at(20), 50) == []


def test_the_queue_as_the_desk_and_the_estimator_read_it(office):
    conn, at = office.conn, office.at
    listed = tickets.waiting_list(conn, SITE_ID, A, 60)
    assert ids(listed) == [office.a2, office.a1, office.a3, office.a4]
    assert all(tuple(r) == DESK_COLUMNS for r in listed)
    assert ids(tickets.waiting_list(conn, SITE_ID, A, 2)) == [office.a2, office.a1]
    assert ids(tickets.open_issued_before(conn, SITE_ID, [A, LAND], at(4))) == \
        [office.a1, office.a2, office.a3, office.a4, office.c1]  # not a5 (completed), not a6 (issued at 5)
    assert tickets.waiting_counts(conn, SITE_ID) == {A: (4, 1), B: (3, 0)}
    waiting = {office.a1: (A, None, 0), office.a2: (A, "elderly", 1), office.a3: (A, None, 2), office.a4: (A, None, 3),
               office.b2: (B, None, 1), office.b3: (B, None, 2), office.d1: (B, None, 1.5)}
    assert sorted(tickets.queued(conn, SITE_ID)) == sorted((t, s, p, at(m)) for t, (s, p, m) in waiting.items())
    count, issued_total, normal, name_lengths, latest = tickets.queue_summary(conn, SITE_ID)
    assert (count, normal, name_lengths) == (7, 6, 4 * len(A) + 3 * len(B))
    assert issued_total == pytest.approx(sum(at(m) for _s, _p, m in waiting.values()))
    assert latest == at(12)  # b2's requeue
    assert tickets.queue_summary(conn, OTHER_SITE_ID) == (0, 0.0, 0.0, 0.0, None)
    open_now = [office.a1, office.d1, office.a2, office.b2, office.b3, office.a3, office.a4, office.c1, office.a6]
    assert sorted(ids(tickets.open_tickets(conn, SITE_ID))) == sorted(open_now)
    assert ids(tickets.open_today(conn, SITE_ID, "2026-03-02"))[-1] == office.a6
    assert sorted(ids(tickets.open_today(conn, SITE_ID, "2026-03-02"))) == sorted(open_now)
    assert tickets.open_today(conn, SITE_ID, "2026-03-03") == []
    page = {"site": SITE_ID, "service": A}
    assert tickets.people_ahead(conn, {**page, "ticket_id": office.a2, "priority": "elderly", "issued_at": at(1)}) == 0
    assert tickets.people_ahead(conn, {**page, "ticket_id": office.a1, "priority": None, "issued_at": at(0)}) == 1
    assert tickets.people_ahead(conn, {**page, "ticket_id": office.a4, "priority": None, "issued_at": at(3)}) == 3
    assert tickets.marked_channels(conn, [office.a1, office.a3, office.a4, office.c1, office.a3]) == \
        {office.a3: "online", office.a4: "appointment"}
    assert tickets.marked_channels(conn, []) == {}


def test_the_notice_reads(office):
    conn, at = office.conn, office.at
    fresh = tickets.fresh_calls(conn, SITE_ID, at(9.5))
    assert sorted(ids(fresh)) == sorted([office.a6, office.c1]) and all(tuple(r) == NOTICE_COLUMNS for r in fresh)
    assert ids(tickets.fresh_calls(conn, SITE_ID, at(11))) == [office.c1]
    assert ids(tickets.completed_since(conn, SITE_ID, at(8))) == [office.a5]
    assert tickets.completed_since(conn, SITE_ID, at(9.5)) == []
    assert ids(tickets.class_queue(conn, SITE_ID, A, 0, 10)) == [office.a2]
    assert ids(tickets.class_queue(conn, SITE_ID, A, 1, 10)) == [office.a1, office.a3, office.a4]
    assert ids(tickets.class_queue(conn, SITE_ID, A, 1, 2)) == [office.a1, office.a3]
    assert all(len(r) == len(NOTICE_COLUMNS) for r in tickets.class_queue(conn, SITE_ID, B, 1, 10))
    assert sorted(tickets.first_calls(conn, [office.a1, office.a5, office.a6])) == \
        sorted([(office.a5, at(4), at(5)), (office.a6, at(5), at(10))])


def test_the_history_the_estimate_reads(office):
    conn, at = office.conn, office.at
    assert tickets.recent_service_s(conn, SITE_ID, A, 10) == [180.0]
    assert tickets.recent_service_s(conn, SITE_ID, B, 10) == []
    assert tickets.occupancy(conn, SITE_ID, "2026-03-01", 100) == [(B, at(7), at(8)), (A, at(5), at(9))]
    assert tickets.occupancy(conn, SITE_ID, "2026-03-01", 1) == [(B, at(7), at(8))]
    assert tickets.occupancy(conn, SITE_ID, "2026-03-03", 100) == []
    assert tickets.days_with_tickets(conn, SITE_ID, "2026-03-01", "2026-03-03") == 1
    assert tickets.days_with_tickets(conn, SITE_ID, "2026-03-01", "2026-03-02") == 0
    assert tickets.priority_counts(conn, SITE_ID, "2026-03-01", "2026-03-03") == [(A, 1)]


def test_the_simulators_reads(office):
    conn = office.conn
    assert tickets.issued_count(conn) == 11
    assert tickets.waits_by_number(conn) == {"A005": 60.0, "A006": 300.0, "B001": 420.0, "B002": 600.0, "3001": 480.0}
