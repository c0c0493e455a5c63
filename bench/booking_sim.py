"""Simulator benchmark of bookings (issue 17): at the same daily load, 30 % of citizens
booked versus all walk-in, with the same citizens (common random numbers): the walk-ins'
wait p90 and the site's 60-minute share; and "how many slots per hour should we open"
(a sweep of `slots_per_hour`). The simulation uses the server's own projection, measures
and dispatch rule (xephang/simulate.py). Writes bench/results/booking_sim.json and
docs/images/booking-sim.png.

Targets: walk-in wait p90 at most 10 % worse with bookings; 60-minute share not lower.
"""

from __future__ import annotations

import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, percentile, write_results  # noqa: E402
from protocol.sites import Site  # noqa: E402
from xephang.simulate import SimulationModel, Staffing, _working_day, pooled_site, simulate_day  # noqa: E402

DAYS = 30
SEED = 1700
COUNTERS = 4
START = date(2026, 3, 2)
CHART = Path(__file__).resolve().parent.parent / "docs" / "images" / "booking-sim.png"


def site() -> Site:
    return Site.model_validate({
        "id": "xa-mau", "name": "Xã Mẫu",
        "services": [
            {"id": "ho-tich", "name": "Hộ tịch", "letter": "A"},
            {"id": "chung-thuc", "name": "Chứng thực", "letter": "B"},
            {"id": "dat-dai", "name": "Đất đai", "letter": "C"},
        ],
        "counters": [{"id": "quay-1", "number": 1, "name": "Quầy 1", "services": ["ho-tich"]}],
        "priorities": [{"id": "elderly", "name": "Người cao tuổi"}],
        "booking": {"enabled": True, "max_consecutive": 2},
    })


def run(model: SimulationModel) -> dict:
    pooled = pooled_site(site(), COUNTERS)
    staffing = Staffing(tuple(f"quay-{i}" for i in range(1, COUNTERS + 1)), f"{COUNTERS} quầy")
    walk_waits: list[float] = []
    booked_waits: list[float] = []
    pct: list[float] = []
    booked = tickets = 0
    for d in range(DAYS):
        day = _working_day(pooled, START, d)
        outcome = simulate_day(pooled, model, staffing, day, SEED + d)
        pct.append(outcome.stats.get("pct_within_target") or 0.0)
        tickets += len(outcome.rows)
        booked += sum(1 for row in outcome.rows if row["channel"] == "appointment")
        for row in outcome.rows:
            if row["wait_s"] is None:
                continue
            (booked_waits if row["channel"] == "appointment" else walk_waits).append(row["wait_s"])
    return {
        "walk_in_wait_p90_s": percentile(walk_waits, 90),
        "booked_wait_p90_s": percentile(booked_waits, 90) if booked_waits else None,
        "pct_within_target": statistics.median(pct),
        "pct_days": pct,
        "booked_pct": 100 * booked / max(1, tickets),
    }


def chart(rows: list[tuple[str, dict]], baseline: dict) -> None:
    from PIL import Image, ImageDraw, ImageFont

    width, height, left, bottom = 900, 420, 90, 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 15)
    except OSError:
        font = ImageFont.load_default()
    values = [baseline["walk_in_wait_p90_s"] / 60] + [r["walk_in_wait_p90_s"] / 60 for _, r in rows]
    labels = ["không hẹn"] + [label for label, _ in rows]
    top = max(values) * 1.15 or 1
    bar = (width - left - 30) / len(values)
    draw.text((left, 10), "Thời gian chờ p90 của người đến trực tiếp (phút), 30 % đặt lịch, theo số chỗ/giờ", fill="black", font=font)
    for i, (value, label) in enumerate(zip(values, labels)):
        x0 = left + i * bar + 8
        y0 = height - bottom - (height - bottom - 40) * value / top
        draw.rectangle([x0, y0, x0 + bar - 16, height - bottom], fill="#2a6fb0" if i else "#888888")
        draw.text((x0, y0 - 20), f"{value:.0f}", fill="black", font=font)
        draw.text((x0, height - bottom + 8), label, fill="black", font=font)
    limit = baseline["walk_in_wait_p90_s"] / 60 * 1.1
    y = height - bottom - (height - bottom - 40) * limit / top
    draw.line([left, y, width - 20, y], fill="#c00000", width=2)
    draw.text((width - 230, y - 20), "giới hạn +10 %", fill="#c00000", font=font)
    CHART.parent.mkdir(parents=True, exist_ok=True)
    image.save(CHART)


def main() -> int:
    base = SimulationModel(tickets_per_day=150)
    baseline = run(base)
    rows = []
    for slots in (4, 6, 8, 12, None):
        label = f"{slots} chỗ/giờ" if slots else "không giới hạn"
        # Every booking used: the same daily load as all walk-in (unused bookings would lighten it).
        rows.append((label, run(base.model_copy(update={"booked_share": 0.3, "slots_per_hour": slots,
                                                        "booked_no_show_share": 0.0}))))
    best = min((r for r in rows if r[1]["pct_within_target"] >= baseline["pct_within_target"]),
               key=lambda r: r[1]["walk_in_wait_p90_s"], default=None)
    figures = [
        figure("all walk-in: walk-in wait p90", baseline["walk_in_wait_p90_s"] / 60, "min"),
        figure("all walk-in: 60-minute share (median day)", baseline["pct_within_target"], "%"),
    ]
    for label, r in rows:
        ratio = r["walk_in_wait_p90_s"] / baseline["walk_in_wait_p90_s"] if baseline["walk_in_wait_p90_s"] else float("nan")
        figures.append(figure(f"30 % booked, {label}: walk-in wait p90 / all walk-in", ratio, "x", "<= 1.10", ratio <= 1.10))
        figures.append(figure(f"30 % want to book, {label}: share served by booking", r["booked_pct"], "%"))
        figures.append(figure(f"30 % booked, {label}: 60-minute share", r["pct_within_target"], "%",
                              f">= {baseline['pct_within_target']:.1f}", r["pct_within_target"] >= baseline["pct_within_target"]))
    notes = (f"{DAYS} simulated days per scenario, the same citizens (seeds {SEED}..{SEED + DAYS - 1}), 150 citizens a day, "
             f"{COUNTERS} counters serving every field, every booking used (the same load), booked citizens come up to 10 minutes early. "
             f"Slots per hour that keep both targets with the lowest walk-in wait: {best[0] if best else 'none'}.")
    write_results("booking_sim", figures, notes)
    chart(rows, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
