"""The three moved clocks `make test` reruns the time-sensitive suites at (docs/testing.md),
computed from today's real date in the site's zone (UTC+7), never pinned:

  sunday    the next Sunday after today, 10:00 (offices mostly closed; weekday rules)
  midnight  today 23:59:30 site-local (a day boundary 30 s into the run)
  far       400 days ahead, 09:00 (more than a year: month and year rollovers)

Prints one `name origin` pair a line. Standard library only; imports nothing from xephang.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

SITE = timezone(timedelta(hours=7))


def origins(today_real: datetime | None = None) -> list[tuple[str, datetime]]:
    today = (today_real or datetime.now(UTC)).astimezone(SITE).date()
    sunday = today + timedelta(days=(6 - today.weekday()) or 7)
    return [
        ("sunday", datetime.combine(sunday, time(10, 0), SITE)),
        ("midnight", datetime.combine(today, time(23, 59, 30), SITE)),
        ("far", datetime.combine(today + timedelta(days=400), time(9, 0), SITE)),
    ]


if __name__ == "__main__":
    for name, origin in origins():
        print(name, origin.isoformat())
