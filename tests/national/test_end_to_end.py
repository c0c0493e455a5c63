"""Two province servers publish their roll-ups through their own Mosquittos, bridged to
the national Mosquitto, to the aggregator on a real PostgreSQL. The national figures
equal each province's own figures and the figures computed over all raw tickets; with
the national link cut, late events of a finished day and a day of new tickets wait at
the provinces and arrive, as new revisions, once the link is back."""

from __future__ import annotations

import getpass
from datetime import date, timedelta

from fastapi.testclient import TestClient

from broker.config import Bridge, BrokerProcess, free_port, national_acl, write_config
from national.aggregator import Aggregator
from national.settings import NationalSettings
from national.store import NationalStore
from national.web import create_app
from protocol import clock
from protocol.rollup import COUNTS, MEASURES, PERCENTILES
from protocol.settings import Device, load_settings
from protocol.sites import Site
from server.runtime import Runtime
from server.settings import ServerSettings
from server.stats.measures import rules_from_sites, ticket_facts
from tests.national.test_merge import raw_percentile
from tests.support import RunningBroker, site_dict, wait_until
from tests.synthetic import HANOI, default_start, ticket_lives

PROVINCES = {"tinh-mot": ["xa-mot", "xa-hai"], "tinh-hai": ["phuong-ba"]}
DAYS = 3
PASSWORD = "cau-noi-bi-mat-9"


def national_broker(directory) -> RunningBroker:
    port = free_port()
    users = {"national": PASSWORD} | {f"bridge-{p}": PASSWORD for p in PROVINCES}
    acl = national_acl({f"bridge-{p}": sites for p, sites in PROVINCES.items()})
    conf = write_config(directory, [], users, port, extra_acl=acl, run_as_user=getpass.getuser())
    return RunningBroker(directory, port, BrokerProcess(conf, port).start(), users)


def province_server(tmp_path, province: str, national: RunningBroker) -> tuple[Runtime, RunningBroker]:
    sites = PROVINCES[province]
    port = free_port()
    bridge = Bridge(province, f"127.0.0.1:{national.port}", f"bridge-{province}", PASSWORD, tuple(sites),
                    events=False, rollups=True)
    conf = write_config(tmp_path / f"broker-{province}", [Device(id="server", role="server")], {"server": "srv-pw-123"},
                        port, bridges=[bridge], run_as_user=getpass.getuser())
    broker = RunningBroker(tmp_path / f"broker-{province}", port, BrokerProcess(conf, port).start(), {"server": "srv-pw-123"})
    settings = load_settings(ServerSettings, None, **{
        "sites": [site_dict(s, f"Điểm tiếp nhận {s}") for s in sites],
        "broker": {"host": "127.0.0.1", "port": port, "username": "server", "password": "srv-pw-123"},
        "server": {"database": str(tmp_path / f"{province}.db"), "client_id": f"server-{province}"},
        "national": {"province": province, "interval_s": 0.2, "resend_s": 1.0},
    })
    runtime = Runtime.build(settings)
    # Several finished days of tickets at every site, before the server starts.
    first_start = default_start() - timedelta(days=DAYS - 1)
    for index, site in enumerate(settings.sites):
        for day in range(DAYS):
            events = ticket_lives(site, 25 + 10 * index + day, first_start + timedelta(days=day), seed=100 * index + day,
                                  kiosk=f"kiosk-{site.id}-{day}", server_source=f"server-{site.id}-{day}")
            runtime.store.append_local(events)
    return runtime, broker


def raw_figures(runtimes: list[Runtime], sites: set[str], first: date, last: date) -> dict:
    """Counts and nearest-rank percentiles over the raw tickets of `sites` (all days)."""
    facts = []
    for runtime in runtimes:
        rules = rules_from_sites(runtime.settings.sites)
        conn = runtime.store.reader()
        try:
            rows = [dict(r) for r in conn.execute("SELECT * FROM tickets")]
        finally:
            conn.close()
        facts += [f for f in (ticket_facts(r, rules) for r in rows)
                  if f and f.site in sites and first.isoformat() <= f.day <= last.isoformat()]
    out: dict = {c: sum(getattr(f, c) for f in facts) for c in COUNTS if c not in ("issued", "ratings", "satisfied")}
    out["issued"] = len(facts)
    for m in MEASURES:
        values = [v for v in (getattr(f, f"{m}_s") for f in facts) if v is not None]
        for p in PERCENTILES:
            out[f"{m}_p{p}_s"] = raw_percentile(values, p)
    return out


def all_acknowledged(runtimes: list[Runtime]) -> bool:
    return all(r.rollups is not None and r.rollups.backlog() == {"unacknowledged_days": 0, "days_to_compute": 0}
               for r in runtimes)


def assert_national_equals_raw(store: NationalStore, runtimes: list[Runtime], first: date, last: date) -> None:
    by_province = {row["province"]: row for row in store.figures("province", first, last)}
    assert set(by_province) == set(PROVINCES)
    for province, sites in PROVINCES.items():
        expected = raw_figures(runtimes, set(sites), first, last)
        assert {k: by_province[province][k] for k in expected} == expected
    (nation,) = store.figures("nation", first, last)
    expected = raw_figures(runtimes, {s for sites in PROVINCES.values() for s in sites}, first, last)
    assert {k: nation[k] for k in expected} == expected
    # Each point's national figures are the province server's own figures.
    by_point = {row["point"]: row for row in store.figures("point", first, last)}
    for runtime in runtimes:
        for own in runtime.stats.query(first.isoformat(), last.isoformat(), None, "site"):
            national = by_point[own["site"]]
            assert {k: national[k] for k in own if k != "site"} == {k: v for k, v in own.items() if k != "site"}


def test_two_provinces_through_bridges_into_postgresql(tmp_path, national_dsn):
    national = national_broker(tmp_path / "broker-national")
    store = NationalStore(national_dsn)
    store.migrate()
    aggregator = Aggregator(national_dsn, national.settings_for("national"), batch_window_s=0.02).start()
    runtimes, brokers = [], []
    try:
        for province in PROVINCES:
            runtime, broker = province_server(tmp_path, province, national)
            runtimes.append(runtime)
            brokers.append(broker)
            runtime.start()
        today = clock.now().astimezone(HANOI).date()
        first, last = today - timedelta(days=DAYS + 2), today - timedelta(days=1)
        site_days = sum(len(s) for s in PROVINCES.values()) * DAYS
        wait_until(lambda: aggregator.stored >= site_days and all_acknowledged(runtimes), timeout_s=60)
        assert store.counts()["point_days"] == site_days
        assert_national_equals_raw(store, runtimes, first, last)

        # The read API gives the same figures, to a national viewer; a province viewer
        # sees its own province only.
        from argon2 import PasswordHasher

        hashed = PasswordHasher().hash("xem-so-lieu-1")
        settings = NationalSettings(aggregator={"dsn": national_dsn, "viewers": [
            {"name": "bo-noi-vu", "password_hash": hashed}, {"name": "so-tinh-hai", "password_hash": hashed, "province": "tinh-hai"},
        ]})
        app = create_app(settings, lambda: NationalStore(national_dsn), lambda: today)
        with TestClient(app) as client:
            answer = client.get("/api/figures", params={"group": "province", "from": first.isoformat(), "to": last.isoformat()},
                                auth=("bo-noi-vu", "xem-so-lieu-1"))
            assert answer.status_code == 200
            assert {r["province"]: r for r in answer.json()["rows"]} == {r["province"]: r for r in store.figures("province", first, last)}
            assert client.get("/api/figures", auth=("bo-noi-vu", "sai")).status_code == 401
            assert client.get("/api/figures", params={"province": "tinh-mot"}, auth=("so-tinh-hai", "xem-so-lieu-1")).status_code == 403
            own = client.get("/api/figures", params={"group": "point", "from": first.isoformat(), "to": last.isoformat()},
                             auth=("so-tinh-hai", "xem-so-lieu-1")).json()["rows"]
            assert [r["point"] for r in own] == PROVINCES["tinh-hai"]
            page = client.get("/", params={"from": first.isoformat(), "to": last.isoformat()}, auth=("bo-noi-vu", "xem-so-lieu-1"))
            assert page.status_code == 200 and 'href="/province/tinh-mot?' in page.text
            csv_text = client.get("/api/figures", params={"group": "province", "from": first.isoformat(), "to": last.isoformat(),
                                                          "format": "csv"}, auth=("bo-noi-vu", "xem-so-lieu-1")).content.decode("utf-8-sig")
            assert csv_text.splitlines()[0].startswith("province,issued,")
            assert len(csv_text.splitlines()) == 1 + len(PROVINCES)

        # The national link is cut for a day: late events of a finished day (at the first
        # province) and a whole new day of tickets (at the second, two days before the
        # data's first day) are made while nothing reaches the nation.
        national.stop()
        late_site = runtimes[0].settings.sites[0]
        yesterday = today - timedelta(days=1)
        late = ticket_lives(late_site, 4, default_start() + timedelta(hours=6), seed=7, kiosk="kiosk-late", server_source="server-late")
        runtimes[0].store.append_local(late)
        new_site: Site = runtimes[1].settings.sites[0]
        extra_day = default_start() - timedelta(days=DAYS + 1)
        runtimes[1].store.append_local(ticket_lives(new_site, 30, extra_day, seed=11, kiosk="kiosk-new", server_source="server-new"))
        wait_until(lambda: not all_acknowledged(runtimes) and runtimes[0].rollups.revisions >= DAYS * 2 + 1, timeout_s=30)
        assert store.revision(late_site.id, yesterday) == 1

        national.start()
        wait_until(lambda: all_acknowledged(runtimes), timeout_s=90)
        assert store.revision(late_site.id, yesterday) == 2
        assert store.revision(new_site.id, extra_day.astimezone(HANOI).date()) == 1
        assert store.counts()["point_days"] == site_days + 1
        assert_national_equals_raw(store, runtimes, first, last)
    finally:
        for runtime in runtimes:
            runtime.stop()
        for broker in brokers:
            broker.stop()
        aggregator.stop()
        store.close()
        national.stop()
