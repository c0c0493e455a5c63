"""The report pack as an Excel workbook (docs/reports.md): a cover sheet (who, which
sites, which period, when generated, the definitions), one sheet per figure with
Vietnamese headers (English msgids through the server catalog), real dates shown
dd/mm/yyyy, durations as Excel times ([h]:mm:ss), and native Excel charts.

The same report gives the same file, byte for byte: sheets and rows in a fixed order, no
timestamp in a cell but the generation line, the document properties set to the
generation time and the zip entries stamped with a fixed date. Imports openpyxl and
server.stats.report's plain data only; no FastAPI here.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

DATE = "dd/mm/yyyy"
DURATION = "[h]:mm:ss"
PERCENT = "0.0"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
# Definitions printed on the cover (and on the print page): docs/measures.md, "The report pack".
DEFINITIONS = (
    "All figures are measured at the counter by the queue system; they are not the official Decision 766 index, "
    "which is computed from the dossier systems.",
    "Tickets count on the site-local day they were issued. Durations are whole seconds; percentiles are nearest-rank.",
    "Served in person: tickets completed at a counter, by outcome (returned on the spot, appointment, guided, enquiry).",
    "60-minute share: returned on the spot within the service's target (issue to completion) / dossiers received "
    "(returned or appointment) of target-eligible services.",
    "Same-session return: dossiers received (returned or appointment, target-eligible services) whose ticket was issued "
    "in a session before its cut-off; returned in session: returned on the spot before the session's end, the same day.",
    "766-style ratio: (dossiers - dossiers rated dissatisfied, complained about or overdue) / dossiers; dossiers are "
    "tickets completed as returned or appointment; overdue: returned after the target; complaints are not recorded "
    "at the counter.",
    "Visits per dossier: tickets that carry the same dossier code; settled in one visit: codes seen on one ticket only.",
    "Counter: open time from counter events; calls per open hour; walk time from the call to the start of service; "
    "idle time: the counter open, tickets waiting for a service it serves, nobody being served there.",
    "At risk: tickets of target-eligible services whose time at the office passed the at-risk threshold; over target: "
    "returned on the spot after the target.",
)
FORMULA_766 = "(dossiers - dissatisfied, complained-about or overdue) / dossiers x 100"


def dmy(day: str) -> str:
    return date.fromisoformat(day).strftime("%d/%m/%Y")


def _duration(value: float | None) -> float | None:
    return None if value is None else value / 86400


def _header(sheet: Worksheet, headers: Sequence[str], row: int = 1) -> None:
    for column, text in enumerate(headers, start=1):
        cell = sheet.cell(row=row, column=column, value=text)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E79")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for column in range(1, len(headers) + 1):
        sheet.column_dimensions[get_column_letter(column)].width = 16
    sheet.column_dimensions["A"].width = 30
    sheet.freeze_panes = f"A{row + 1}"


def _formats(sheet: Worksheet, formats: dict[int, str], first_row: int = 2) -> None:
    for column, fmt in formats.items():
        for (cell,) in sheet.iter_rows(min_row=first_row, min_col=column, max_col=column):
            cell.number_format = fmt


def _table(book: Workbook, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
           formats: dict[int, str] | None = None) -> Worksheet:
    sheet = book.create_sheet(title)
    _header(sheet, headers)
    for row in rows:
        sheet.append(list(row))
    _formats(sheet, formats or {})
    return sheet


def _bar(title: str, y_title: str, sheet: Worksheet, data_cols: tuple[int, int], rows: int, anchor: str,
         stacked: bool = False) -> BarChart:
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    if stacked:
        chart.grouping = "stacked"
        chart.overlap = 100
    data = Reference(sheet, min_col=data_cols[0], max_col=data_cols[1], min_row=1, max_row=rows + 1)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=rows + 1))
    chart.height, chart.width = 9, 18
    sheet.add_chart(chart, anchor)
    return chart


def workbook(report: dict[str, Any], who: str, generated_at: datetime, _: Callable[[str], str]) -> bytes:
    """The XLSX bytes of a report (server.stats.report.build_report's output)."""
    book = Workbook()
    cover = book.active
    cover.title = _("Cover")
    _cover(cover, report, who, generated_at, _)
    _summary(book, report, _)
    outcome_headers = [_("Returned on the spot"), _("Appointment"), _("Guided"), _("Enquiry")]
    common = [_("Tickets issued"), _("Called"), _("Served in person"), *outcome_headers, _("No-shows"), _("Transfers"),
              _("Dossiers received (target)"), _("Returned within target"), _("% within target")]

    def counts(r: dict[str, Any]) -> list[Any]:
        return [r["issued"], r["called"], r["served"], r["outcome_returned"], r["outcome_appointment"],
                r["outcome_guided"], r["outcome_info"], r["no_show"], r["transfers"], r["received"],
                r["within_target"], r["pct_within_target"]]

    services = report["by_service"]
    sheet = _table(book, _("By field"), [_("Field"), *common], [[r["name"], *counts(r)] for r in services], {13: PERCENT})
    if services:
        _bar(_("Served in person by outcome"), _("tickets"), sheet, (5, 8), len(services), "A" + str(len(services) + 4),
             stacked=True)
    sites = report["by_site"]
    sheet = _table(book, _("By site"), [_("Reception point"), *common], [[r["name"], *counts(r)] for r in sites],
                   {13: PERCENT})
    trend = report["trend"]
    sheet = _table(book, _("60-minute trend"), [_("Day"), _("Dossiers received (target)"), _("Returned within target"),
                                                _("% within target")],
                   [[date.fromisoformat(t["day"]), t["received"], t["within_target"], t["pct_within_target"]] for t in trend],
                   {1: DATE, 4: PERCENT})
    if trend:
        line = LineChart()
        line.title = _("% within target")
        line.y_axis.title = "%"
        line.y_axis.scaling.min, line.y_axis.scaling.max = 0, 100
        line.add_data(Reference(sheet, min_col=4, min_row=1, max_row=len(trend) + 1), titles_from_data=True)
        line.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(trend) + 1))
        line.x_axis.number_format = "dd/mm"
        line.height, line.width = 9, 18
        sheet.add_chart(line, "F2")
    _same_session(book, report, _)
    _visits(book, report, _)
    _counters(book, report, _)
    _heatmap(book, report, _)
    _exceptions(book, report, _)
    return _stable_bytes(book, generated_at)


def _cover(sheet: Worksheet, report: dict[str, Any], who: str, generated_at: datetime, _: Callable[[str], str]) -> None:
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 110
    sheet["A1"] = _("Reception report")
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A2"] = _("Measured at the counter") + " - " + _("not the official Decision 766 index")
    sheet["A2"].font = Font(italic=True, color="9C0006")
    period = report["period"]
    lines = [
        (_("Reception points"), "; ".join(s["name"] for s in report["sites"])),
        (_("Period"), f"{dmy(period['from'])} - {dmy(period['to'])}"),
    ]
    if "previous_from" in period:
        lines.append((_("Previous period"), f"{dmy(period['previous_from'])} - {dmy(period['previous_to'])}"))
    lines += [(_("Generated by"), who), (_("Generated at"), generated_at.strftime("%d/%m/%Y %H:%M"))]
    for index, (label, value) in enumerate(lines, start=4):
        sheet.cell(row=index, column=1, value=label).font = Font(bold=True)
        sheet.cell(row=index, column=2, value=value)
    row = len(lines) + 5
    sheet.cell(row=row, column=1, value=_("Definitions")).font = Font(bold=True)
    for offset, text in enumerate(DEFINITIONS):
        cell = sheet.cell(row=row + offset, column=2, value=_(text))
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _summary(book: Workbook, report: dict[str, Any], _: Callable[[str], str]) -> None:
    s = report["summary"]
    previous = s["previous"] or {}
    same, index, visits = report["same_session"], report["index_766"], report["visits"]
    rows: list[tuple[str, Any, Any, str | None]] = [
        (_("Tickets issued"), s["issued"], None, None),
        (_("Served in person"), s["served"], None, None),
        (_("No-shows"), s["no_show"], None, None),
        (_("Dossiers received (target)"), s["received"], previous.get("received"), None),
        (_("Returned within target"), s["within_target"], previous.get("within_target"), None),
        (_("% within target"), s["pct_within_target"], previous.get("pct_within_target"), PERCENT),
        (_("Same-session return (%)"), same["pct"], None, PERCENT),
        (_("766-style ratio (%)"), index["ratio_pct"], None, PERCENT),
        (_("Dossiers settled in one visit (%)"), visits["pct_one_visit"], None, PERCENT),
        (_("Visits per dossier"), visits["visits_per_dossier"], None, "0.00"),
        (_("% satisfied"), s["satisfaction_pct"], None, PERCENT),
        (_("Ratings"), s["ratings"], None, None),
    ]
    sheet = book.create_sheet(_("Summary"))
    _header(sheet, [_("Figure"), _("This period"), _("Previous period")])
    sheet.column_dimensions["A"].width = 40
    for label, value, before, fmt in rows:
        sheet.append([label, value, before])
        if fmt:
            for cell in sheet[sheet.max_row][1:]:
                cell.number_format = fmt
    sheet.append([])
    sheet.append([_("Formula of the 766-style ratio"), _(FORMULA_766)])
    sheet.append([_("Dossiers"), index["dossiers"]])
    sheet.append([_("Rated dissatisfied"), index["dissatisfied"]])
    sheet.append([_("Overdue (returned after the target)"), index["overdue"]])
    sheet.append([_("Complained about"), _("not recorded at the counter")])


def _same_session(book: Workbook, report: dict[str, Any], _: Callable[[str], str]) -> None:
    names = {s["id"]: s["name"] for s in report["sites"]}
    rows = report["same_session"]["rows"]
    sheet = _table(book, _("Same session"), [_("Reception point"), _("Session"), _("Starts"), _("Cut-off"), _("Ends"),
                                             _("Eligible dossiers"), _("Returned in session"), _("% in session")],
                   [[names[r["site"]], r["session"], r["start"], r["cutoff"], r["end"], r["eligible"],
                     r["returned_in_session"], r["pct"]] for r in rows], {8: PERCENT})
    total = report["same_session"]
    sheet.append([_("Total"), None, None, None, None, total["eligible"], total["returned_in_session"], total["pct"]])
    sheet.cell(row=sheet.max_row, column=8).number_format = PERCENT


def _visits(book: Workbook, report: dict[str, Any], _: Callable[[str], str]) -> None:
    v = report["visits"]
    histogram = list(v["histogram"].items())
    sheet = _table(book, _("Visits per dossier"), [_("Visits"), _("Dossiers")], [[k, n] for k, n in histogram])
    if histogram:
        _bar(_("Dossiers by number of visits"), _("Dossiers"), sheet, (2, 2), len(histogram), "E2")
    sheet.append([])
    sheet.append([_("Dossier code"), _("Visits")])
    for r in v["repeated"]:
        sheet.append([r["dossier_code"], r["visits"]])


def _counters(book: Workbook, report: dict[str, Any], _: Callable[[str], str]) -> None:
    names = {s["id"]: s["name"] for s in report["sites"]}
    rows = report["counters"]
    label = (lambda r: r["name"]) if len(report["sites"]) == 1 else (lambda r: f"{names[r['site']]} - {r['name']}")
    sheet = _table(
        book, _("Counters"),
        [_("Counter"), _("Open time"), _("Calls"), _("Calls per open hour"), _("Service p50"), _("Service p90"),
         _("Walk time p50"), _("Walk time mean"), _("Idle time"), _("Pause time"), _("No-shows"), _("Transfers")],
        [[label(r), _duration(r["open_s"]), r["calls"], r["calls_per_open_hour"], _duration(r["service"]["p50_s"]),
          _duration(r["service"]["p90_s"]), _duration(r["walk"]["p50_s"]), _duration(r["walk"]["mean_s"]),
          _duration(r["idle_s"]), _duration(r["pause_s"]), r["no_show"], r["transfers"]] for r in rows],
        {2: DURATION, 4: "0.00", 5: DURATION, 6: DURATION, 7: DURATION, 8: DURATION, 9: DURATION, 10: DURATION},
    )
    if rows and len(rows) <= 60:
        _bar(_("Calls per open hour"), _("calls"), sheet, (4, 4), len(rows), "A" + str(len(rows) + 4))
    pauses = _table(book, _("Pauses"), [_("Reason"), _("Pause time"), _("Pauses")],
                    [[p["reason"] or _("(no reason)"), _duration(p["seconds"]), p["count"]] for p in report["pauses"]],
                    {2: DURATION})
    del pauses


def _heatmap(book: Workbook, report: dict[str, Any], _: Callable[[str], str]) -> None:
    heat = report["heatmap"]
    hours = heat["hours"]
    sheet = book.create_sheet(_("Wait by hour"))
    sheet["A1"] = _("Median wait (minutes) by weekday and hour of issue")
    sheet["A1"].font = Font(bold=True)
    _header(sheet, [_("Weekday"), *[f"{h:02d}:00" for h in hours]], row=2)
    cells = {(c["weekday"], c["hour"]): c["wait_p50_s"] for c in heat["cells"]}
    for weekday in heat["weekdays"]:
        sheet.append([_(WEEKDAYS[weekday]), *[None if cells.get((weekday, h)) is None else
                                              round(cells[(weekday, h)] / 60, 1) for h in hours]])
    if hours and heat["weekdays"]:
        last = get_column_letter(len(hours) + 1)
        area = f"B3:{last}{len(heat['weekdays']) + 2}"
        sheet.conditional_formatting.add(area, ColorScaleRule(start_type="min", start_color="FFFFFF",
                                                              end_type="max", end_color="C00000"))
        _formats(sheet, {c: "0.0" for c in range(2, len(hours) + 2)}, first_row=3)


def _exceptions(book: Workbook, report: dict[str, Any], _: Callable[[str], str]) -> None:
    names = {s["id"]: s["name"] for s in report["sites"]}
    kinds = {"over_target": _("Over target"), "at_risk": _("At risk")}
    listed = report["exceptions"]["listed"]
    sheet = _table(book, _("At risk and over target"),
                   [_("Kind"), _("Day"), _("Issued at"), _("Reception point"), _("Number"), _("Field"), _("Counter"),
                    _("Status"), _("Outcome"), _("Minutes at the office"), _("Target (minutes)")],
                   [[kinds[e["kind"]], date.fromisoformat(e["day"]), e["issued"], names.get(e["site"], e["site"]),
                     e["number"], e["service"], e["counter"], e["status"], e["outcome"], e["minutes"], e["target_minutes"]]
                    for e in listed], {2: DATE})
    counts = report["exceptions"]["counts"]
    if counts["over_target"] + counts["at_risk"] > len(listed):
        sheet.append([_("Only the first tickets are listed; the counts are exact.")])


_MODIFIED = re.compile(rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>")


def _stable_bytes(book: Workbook, generated_at: datetime) -> bytes:
    """Save, then pin what openpyxl stamps with the current time (the `modified`
    property and the zip entries' dates) to the generation time / a fixed date."""
    utc = generated_at.astimezone(UTC).replace(tzinfo=None)
    stamp = utc.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    book.properties.creator = "xephang"
    book.properties.created = utc
    raw = io.BytesIO()
    book.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _MODIFIED.sub(rb"<dcterms:modified\1>" + stamp + rb"</dcterms:modified>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, data)
    return out.getvalue()
