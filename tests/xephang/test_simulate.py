"""The fast simulator: deterministic, measured by the server's own code, sensible answers."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date

from PIL import Image

from protocol.settings import CommonSettings, load_settings
from server.stats.measures import compute, rules_from_sites
from xephang.simulate import SimulationModel, Staffing, answer, evaluate, pick_next, pooled_site, simulate_day, staffing_options

SITE = load_settings(CommonSettings, "examples/commune.toml").sites[0]
DAY = date(2026, 12, 1)


def test_same_seed_same_day_and_measures_from_the_server_code():
    site = pooled_site(SITE, 3)
    staffing = Staffing(("quay-1", "quay-2", "quay-3"), "3")
    first = simulate_day(site, SimulationModel(), staffing, DAY, seed=7)
    again = simulate_day(site, SimulationModel(), staffing, DAY, seed=7)
    assert first.events == again.events and first.stats == again.stats
    other = simulate_day(site, SimulationModel(), staffing, DAY, seed=8)
    assert other.events != first.events
    # The stats are exactly what server.stats.measures.compute says about the folded rows.
    assert first.stats == compute(first.rows, rules_from_sites([site]), ("site",))[0]
    assert first.stats["issued"] == len(first.rows) > 50
    assert first.stats["called"] == sum(1 for r in first.rows if r["first_called_at"] is not None)


def test_every_ticket_is_issued_within_hours_and_closed_by_the_end_of_the_day():
    site = pooled_site(SITE, 1)
    result = simulate_day(site, SimulationModel(tickets_per_day=150), Staffing(("quay-1",), "1"), DAY, seed=3)
    for row in result.rows:
        assert row["status"] in ("completed", "no_show")
    issued_hours = {r["local_day"] for r in result.rows}
    assert issued_hours == {"2026-12-01"}
    assert result.unserved > 0  # one counter cannot serve 150 a day


def test_priority_goes_first_unless_the_cap_is_reached():
    from datetime import datetime

    from xephang.simulate import Ticket

    at = lambda m: datetime(2026, 12, 1, 1, m, tzinfo=UTC)  # noqa: E731
    normal = Ticket("n", "A001", "chung-thuc", None, at(0), False, 60, "returned")
    elder = Ticket("p", "A002", "chung-thuc", "elderly", at(5), False, 60, "returned")
    other = Ticket("o", "C001", "dat-dai", "elderly", at(1), False, 60, "returned")
    waiting = [normal, elder, other]
    assert pick_next(waiting, ["chung-thuc"], priority_streak=0, cap=3) is elder
    assert pick_next(waiting, ["chung-thuc"], priority_streak=3, cap=3) is normal
    assert pick_next(waiting, ["tu-phap-ho-tich"], 0, None) is None


def test_more_counters_never_make_things_worse_and_the_answer_meets_the_target():
    results = evaluate(SITE, SimulationModel(), staffing_options(5), days=6, seed=1, start_day=DAY)
    all_day = [r for r in results if "cao điểm" not in r.staffing.label]
    served = [sum(r.unserved_share) for r in all_day]
    assert served == sorted(served, reverse=True)
    chosen = answer(results, 90)
    assert chosen is not None
    assert chosen.days_meeting(90) >= 0.8 * 6
    cheaper = results[: results.index(chosen)]
    assert all(r.days_meeting(90) < 0.8 * 6 for r in cheaper)


def test_simulate_command_prints_the_answer_and_draws_the_chart(tmp_path):
    chart = tmp_path / "sim.png"
    done = subprocess.run(
        [sys.executable, "-m", "xephang.cli", "simulate", "--config", "examples/commune.toml", "--days", "4",
         "--max-counters", "4", "--chart", str(chart)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Cần: " in done.stdout
    assert "4/4 ngày mô phỏng" not in done.stderr and "28/28 ngày mô phỏng" in done.stderr
    with Image.open(chart) as image:
        assert image.size[0] == 1400 and image.size[1] > 300
