"""The national read API and pages (FastAPI, an app of its own): exact figures of the
country, a province or a reception point, league tables, months, CSV and XLSX.

Every route but /healthz needs an account (HTTP Basic, argon2 hashes from the settings).
A national viewer sees every province; a province viewer sees only its own province and
its points (other provinces answer 403). Nothing here changes state, so there is no POST.
Imports protocol and national.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable
from datetime import date, timedelta
from importlib import resources
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from national.settings import NationalSettings, Viewer
from national.store import GROUPS, NationalStore, QueryError, league
from protocol.i18n import translator

COLUMNS = (
    ("issued", "Tickets"), ("received", "Dossiers received"), ("within_target", "Returned within 60 min"),
    ("pct_within_target", "% within 60 min"), ("wait_p50_s", "Wait p50 (s)"), ("wait_p90_s", "Wait p90 (s)"),
    ("total_p50_s", "Total p50 (s)"), ("total_p90_s", "Total p90 (s)"), ("no_show", "No-shows"),
    ("satisfaction_pct", "% satisfied"),
)
Translate = Callable[[str], str]
FOOTNOTE = ("Measured at the counter, merged exactly from each reception point's daily figures "
            "(medians and p90 over whole seconds).")
basic = HTTPBasic(realm="xephang national")
_hasher = PasswordHasher()


class NationalState:
    """What the routes need: the settings and a way to open a store (one per request)."""

    def __init__(self, settings: NationalSettings, open_store: Callable[[], NationalStore], today: Callable[[], date]):
        self.settings = settings
        self.open_store = open_store
        self.today = today
        self.viewers = {v.name: v for v in settings.aggregator.viewers}
        self._ = translator("national", settings.locale)
        self.dummy_hash = _hasher.hash("no account has this password")


def viewer(request: Request, credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> Viewer:
    """The signed-in account (HTTP Basic against the argon2 hashes of the settings)."""
    state: NationalState = request.app.state.national
    found = state.viewers.get(credentials.username)
    ok = False
    try:
        # An unknown name costs the same hashing as a known one (no probing of names).
        ok = _hasher.verify(found.password_hash if found else state.dummy_hash, credentials.password) and found is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or found is None:
        raise HTTPException(401, detail={"code": "unauthorized", "message": state._("Wrong name or password")},
                            headers={"WWW-Authenticate": 'Basic realm="xephang national"'})
    return found


CurrentViewer = Annotated[Viewer, Depends(viewer)]


def create_app(settings: NationalSettings, open_store: Callable[[], NationalStore], today: Callable[[], date],
               health: Callable[[], dict[str, Any]] | None = None) -> FastAPI:
    state = NationalState(settings, open_store, today)
    app = FastAPI(title="xephang national", docs_url=None, redoc_url=None)
    app.state.national = state
    _ = state._

    def allowed_province(who: Viewer, province: str | None) -> str | None:
        if who.province is None:
            return province
        if province is not None and province != who.province:
            raise HTTPException(403, detail={"code": "forbidden", "message": _("This account sees its own province only")})
        return who.province

    def period(day_from: date | None, day_to: date | None) -> tuple[date, date]:
        # Without dates: the last whole calendar month, which the month pre-aggregates
        # answer at once (docs/national.md); any other period adds its edge days.
        if day_from is None and day_to is None:
            last = state.today().replace(day=1) - timedelta(days=1)
            return last.replace(day=1), last
        last = day_to or state.today() - timedelta(days=1)
        return day_from or last - timedelta(days=29), last

    def figures(who: Viewer, group: str, day_from: date | None, day_to: date | None, province: str | None,
                point: str | None) -> tuple[list[dict[str, Any]], date, date]:
        first, last = period(day_from, day_to)
        store = state.open_store()
        try:
            if point is not None and who.province is not None:
                owner = next((p["province"] for p in store.points(who.province) if p["point"] == point), None)
                if owner is None:
                    raise HTTPException(403, detail={"code": "forbidden",
                                                     "message": _("This reception point is not in the account's province")})
            rows = store.figures(group, first, last, allowed_province(who, province), point)
        except QueryError as exc:
            raise HTTPException(400, detail={"code": "bad_query", "message": str(exc)}) from None
        finally:
            store.close()
        return (league(rows) if group in ("province", "point") else rows), first, last

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return health() if health else {"ok": True}

    @app.get("/api/figures")
    def api_figures(
        who: CurrentViewer,
        group: Annotated[str, Query(description=f"one of {', '.join(GROUPS)}")] = "province",
        day_from: Annotated[date | None, Query(alias="from")] = None,
        day_to: Annotated[date | None, Query(alias="to")] = None,
        province: str | None = None,
        point: str | None = None,
        format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    ) -> Response:
        rows, first, last = figures(who, group, day_from, day_to, province, point)
        name = f"xephang-{group}-{first.isoformat()}-{last.isoformat()}"
        if format == "csv":
            return Response(to_csv(rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if format == "xlsx":
            return Response(to_xlsx(rows), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        return JSONResponse({"from": first.isoformat(), "to": last.isoformat(), "group": group, "rows": rows})

    @app.get("/api/points")
    def api_points(who: CurrentViewer, province: str | None = None) -> dict[str, Any]:
        store = state.open_store()
        try:
            return {"points": store.points(allowed_province(who, province))}
        finally:
            store.close()

    @app.get("/national.css")
    def css() -> Response:
        text = resources.files("national").joinpath("static/national.css").read_text(encoding="utf-8")
        return Response(text, media_type="text/css; charset=utf-8")

    @app.get("/", response_class=HTMLResponse)
    def home(who: CurrentViewer, request: Request, day_from: Annotated[date | None, Query(alias="from")] = None,
             day_to: Annotated[date | None, Query(alias="to")] = None) -> HTMLResponse:
        if who.province is not None:
            return province_page(who, request, who.province, day_from, day_to)
        rows, first, last = figures(who, "province", day_from, day_to, None, None)
        nation, _period_from, _period_to = figures(who, "nation", first, last, None, None)
        months, _period_from, _period_to = figures(who, "month", first, last, None, None)
        body = (table(_, _("Nation"), nation, "nation", None, first, last)
                + table(_, _("League of provinces"), rows, "province", "/province/{}", first, last)
                + table(_, _("By month"), months, "month", None, first, last))
        return page(_, _("Nation"), body, first, last, request.url.path, settings.locale)

    @app.get("/province/{province}", response_class=HTMLResponse)
    def province_page(who: CurrentViewer, request: Request, province: str,
                      day_from: Annotated[date | None, Query(alias="from")] = None,
                      day_to: Annotated[date | None, Query(alias="to")] = None) -> HTMLResponse:
        rows, first, last = figures(who, "point", day_from, day_to, province, None)
        months, _period_from, _period_to = figures(who, "month", first, last, province, None)
        body = (table(_, _("League of reception points: {province}").format(province=province), rows, "point", "/point/{}",
                      first, last, province)
                + table(_, _("By month"), months, "month", None, first, last, province))
        return page(_, _("Province {province}").format(province=province), body, first, last, request.url.path, settings.locale)

    @app.get("/point/{point}", response_class=HTMLResponse)
    def point_page(who: CurrentViewer, request: Request, point: str,
                   day_from: Annotated[date | None, Query(alias="from")] = None,
                   day_to: Annotated[date | None, Query(alias="to")] = None) -> HTMLResponse:
        months, first, last = figures(who, "month", day_from, day_to, None, point)
        services, _period_from, _period_to = figures(who, "service", first, last, None, point)
        body = (table(_, _("Reception point {point}: by month").format(point=point), months, "month", None, first, last,
                      point=point)
                + table(_, _("By field"), services, "service", None, first, last, point=point))
        return page(_, _("Reception point {point}").format(point=point), body, first, last, request.url.path, settings.locale)

    return app


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if rows:
        sheet.append(list(rows[0]))
        for row in rows:
            sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _query(first: date, last: date, **extra: str | None) -> str:
    parts = [f"from={first.isoformat()}", f"to={last.isoformat()}"] + [f"{k}={html.escape(v)}" for k, v in extra.items() if v]
    return "&amp;".join(parts)


def table(_: Translate, title: str, rows: list[dict[str, Any]], group: str, link: str | None, first: date, last: date,
          province: str | None = None, point: str | None = None) -> str:
    q = _query(first, last, province=province, point=point)
    head = "".join(f"<th>{html.escape(_(label))}</th>" for _key, label in COLUMNS)
    body = []
    for row in rows:
        key = str(row[group])
        name = html.escape(key or _("Nation"))
        if link:
            name = f'<a href="{link.format(html.escape(key))}?{_query(first, last)}">{name}</a>'
        cells = "".join(f'<td class="num">{"" if row[c] is None else row[c]}</td>' for c, _label in COLUMNS)
        body.append(f"<tr><td>{name}</td>{cells}</tr>")
    empty = "" if rows else f'<tr><td colspan="{len(COLUMNS) + 1}" class="muted">{html.escape(_("No figures yet"))}</td></tr>'
    return (
        f'<section class="card"><div class="card-head"><h2>{html.escape(title)}</h2>'
        f'<span class="downloads"><a href="/api/figures?group={group}&amp;{q}&amp;format=csv">CSV</a> · '
        f'<a href="/api/figures?group={group}&amp;{q}&amp;format=xlsx">XLSX</a></span></div>'
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}{empty}</tbody></table></section>"
    )


def page(_: Translate, title: str, body: str, first: date, last: date, path: str, lang: str = "vi") -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)} · xephang</title><link rel="stylesheet" href="/national.css"></head><body>'
        f'<header class="bar"><a class="brand" href="/">{html.escape(_("xephang · National figures"))}</a><span>{html.escape(title)}</span>'
        f'<form class="filters" method="get" action="{html.escape(path)}">'
        f'<label>{html.escape(_("From"))} <input type="date" name="from" value="{first.isoformat()}"></label>'
        f'<label>{html.escape(_("To"))} <input type="date" name="to" value="{last.isoformat()}"></label>'
        f'<button>{html.escape(_("Show"))}</button></form></header>'
        f'<main>{body}<p class="muted">{html.escape(_(FOOTNOTE))}</p></main></body></html>'
    )
