"""Kept report packs: last month's workbook is generated on the first working day of each
month and kept as a file, so managers download the packs of earlier months as they
were sent up (docs/reports.md).

Packs live in `<database folder>/reports/`: one for every site together
(`YYYY-MM-tat-ca.xlsx`) and one per site (`YYYY-MM-<site>.xlsx`), each with a small
JSON sidecar naming its sites. The job wakes every `interval_s` (the first time
`first_delay_s` after start, so that ingest has taken what the broker held); from the first working
day of a month (the first day whose weekday is a working day of the first site) it makes
whatever pack of the previous month is missing, so a server that was down on that day
catches up when it starts. It never overwrites a kept pack. Imports server.stats and
protocol only; no FastAPI here.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.i18n import translator
from protocol.sites import Site
from server.stats.report import assemble

log = logging.getLogger(__name__)
NAME = re.compile(r"^\d{4}-\d{2}-[a-z0-9-]{1,40}\.xlsx$")
WHO = "xephang (tự động)"


def first_working_day(month_first: date, weekdays: Sequence[int]) -> date:
    day = month_first
    while day.weekday() not in weekdays and (day - month_first).days < 7:
        day += timedelta(days=1)
    return day


class ReportArchive:
    def __init__(self, directory: Path, stats_store: Any, sites: Sequence[Site], clock: Callable[[], datetime],
                 interval_s: float = 600.0, first_delay_s: float = 120.0):
        self.directory = Path(directory)
        self.stats_store = stats_store
        self.sites = list(sites)
        self.clock = clock
        self.interval_s = interval_s
        self.first_delay_s = first_delay_s
        self.made = 0  # packs written (tests and health read it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xephang-reports", daemon=True)

    # -- the kept files ---------------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.xlsx")):
            meta = path.with_suffix(".json")
            if NAME.match(path.name) and meta.is_file():
                out.append(json.loads(meta.read_text(encoding="utf-8")) | {"name": path.name, "bytes": path.stat().st_size})
        return out

    @staticmethod
    def visible(pack: dict[str, Any], is_admin: bool, sites: Sequence[str]) -> bool:
        return is_admin or set(pack["sites"]) <= set(sites)

    def path_of(self, name: str) -> Path:
        if not NAME.match(name):
            raise ValueError(f"not a pack name: {name[:60]!r}")
        return self.directory / name

    # -- making packs -----------------------------------------------------------------
    def due_month(self) -> str | None:
        """The month whose packs are due now (the previous one from its first working day), else None."""
        first = self.sites[0]
        today = self.clock().astimezone(first.zone).date()
        this_month = today.replace(day=1)
        if today < first_working_day(this_month, first.hours.weekdays):
            return None
        return (this_month - timedelta(days=1)).strftime("%Y-%m")

    def make_month(self, month: str) -> list[str]:
        """Write the missing packs of `month`; returns the names written."""
        from server.stats.report_xlsx import workbook  # openpyxl only here

        start = date.fromisoformat(f"{month}-01")
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        self.directory.mkdir(parents=True, exist_ok=True)
        made = []
        scopes = [("tat-ca", self.sites)] + [(s.id, [s]) for s in self.sites]
        _ = translator("server")
        for key, sites in scopes:
            name = f"{month}-{key}.xlsx"
            path = self.directory / name
            if path.exists():
                continue
            generated_at = self.clock().astimezone(sites[0].zone).replace(microsecond=0)
            report = assemble(self.stats_store, sites, start.isoformat(), end.isoformat())
            data = workbook(report, WHO, generated_at, _)
            temporary = path.with_suffix(".part")
            temporary.write_bytes(data)
            path.with_suffix(".json").write_text(json.dumps({
                "month": month, "scope": key, "sites": [s.id for s in sites], "generated_at": generated_at.isoformat(),
            }, ensure_ascii=False), encoding="utf-8")
            temporary.replace(path)  # the xlsx appears whole, after its sidecar
            made.append(name)
            self.made += 1
        return made

    def run_once(self) -> list[str]:
        month = self.due_month()
        return self.make_month(month) if month else []

    def start(self) -> ReportArchive:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        # Not at once: after a restart, let ingest take what the broker held first.
        self._stop.wait(self.first_delay_s)
        while not self._stop.is_set():
            try:
                made = self.run_once()
                if made:
                    log.info("report packs kept: %s", ", ".join(made))
            except (sqlite3.Error, OSError, ValueError) as exc:
                log.error("report packs not made: %s", exc)
            self._stop.wait(self.interval_s)
