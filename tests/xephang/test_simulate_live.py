"""Fast and live simulation agree: the same seed gives the same statistics from the
simulator's own computation and from the server's stats API after a live run through
the real kiosk, broker, ingest and dispatcher."""

from __future__ import annotations

from datetime import date

from protocol.sites import Site
from tests.support import site_dict
from xephang.simulate import SimulationModel, Staffing, pooled_site
from xephang.simulate_live import run_live

FIELDS = ("issued", "called", "no_show", "received", "within_target", "pct_within_target",
          "wait_p50_s", "wait_p90_s", "service_p50_s", "total_p50_s", "total_p90_s")


def test_fast_and_live_modes_agree_on_a_short_day(broker, tmp_path):
    base = Site.model_validate(site_dict())
    site = pooled_site(base.model_copy(update={"id": "test-site"}), 2)
    # A short, busy day: 09:00-11:00 local, so some citizens are still waiting at closing.
    site = site.model_copy(update={"hours": site.hours.model_copy(update={
        "open": site.hours.open.replace(hour=9, minute=0), "last_ticket": site.hours.open.replace(hour=10, minute=30),
        "close": site.hours.open.replace(hour=11, minute=0)})})
    model = SimulationModel(tickets_per_day=400, profile={9: 0.05, 10: 0.05}, no_show_share=0.1, priority_share=0.2)
    staffing = Staffing(("quay-1", "quay-2"), "2")
    result = run_live(
        site, model, staffing, date(2026, 12, 1), seed=5, workdir=tmp_path,
        server_broker=broker.settings_for("server"), kiosk_broker=broker.settings_for("kiosk-1"), speedup=2000,
    )
    assert result.expected["issued"] >= 10 and result.expected["no_show"] >= 1
    assert {k: result.stats.get(k) for k in FIELDS} == {k: result.expected.get(k) for k in FIELDS}
    # The live check of issue 16: what the real kiosk printed against the same day's real waits.
    e = result.estimates
    assert e["printed"] == result.expected["issued"]
    assert 0 < e["served"] <= e["with_range"] <= e["printed"]
    assert e["median_error_min"] is not None and 0 <= e["inside_range_share"] <= 1
