"""The picture of docs/estimate.md: the wait estimate against the real wait, with the range.

    .venv/bin/python -m bench.estimate --chart docs/images/estimate-commune.png --only chart
"""

from __future__ import annotations

import statistics
from datetime import date
from pathlib import Path

from bench.estimate import Carry, Record, configurations, replay_day
from protocol.sites import Site
from protocol.waitrange import printed_range
from xephang.simulate import SimulationModel, _working_day, simulate_day


def chart(site: Site, days: int, seed: int, runs: int, path: Path, limit_min: int = 120) -> Path:
    """Estimate (x) against the real wait (y) of tickets at issue, the site as configured:
    grey dots, the y = x line, and per 5-minute bin of the estimate the median P10-P90
    range printed for it (blue bar). Pillow only."""
    from PIL import Image, ImageDraw, ImageFont

    name, config_site, staffing = configurations(site)[0]
    carry, records = Carry(), []
    model = SimulationModel()
    for d in range(days):
        day = _working_day(config_site, date(2026, 12, 1), d)
        outcome = simulate_day(config_site, model, staffing, day, seed + d)
        records += [r for r in replay_day(config_site, staffing, day, outcome.events, carry, runs) if r.moment == "issue"]
    size, margin = 640, 60
    image = Image.new("RGB", (size + 2 * margin, size + 2 * margin), "white")
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 14)

    def xy(x_min: float, y_min: float) -> tuple[float, float]:
        return margin + size * min(x_min, limit_min) / limit_min, margin + size * (1 - min(y_min, limit_min) / limit_min)

    for tick in range(0, limit_min + 1, 20):
        draw.line([xy(tick, 0), xy(tick, limit_min)], fill="#eeeeee")
        draw.line([xy(0, tick), xy(limit_min, tick)], fill="#eeeeee")
        draw.text((xy(tick, 0)[0] - 8, size + margin + 6), str(tick), fill="black", font=face)
        draw.text((margin - 34, xy(0, tick)[1] - 8), str(tick), fill="black", font=face)
    served = [r for r in records if r.real_s is not None and r.point_s is not None and r.low_s is not None
              and r.high_s is not None]
    for r in served:
        x, y = xy((r.point_s or 0) / 60, (r.real_s or 0) / 60)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill="#999999")
    bins: dict[int, list[Record]] = {}
    for r in served:
        bins.setdefault(int((r.point_s or 0) / 300), []).append(r)
    for index, group in sorted(bins.items()):
        if len(group) < 5:
            continue
        centre = index * 5 + 2.5
        low = statistics.median(printed_range(r.low_s or 0, r.high_s or 0).low_min for r in group)
        high = statistics.median(printed_range(r.low_s or 0, r.high_s or 0).high_min for r in group)
        (x, y_low), (_, y_high) = xy(centre, low), xy(centre, high)
        draw.rectangle([x - 5, y_high, x + 5, y_low], outline="#1f5fbf", width=2)
    draw.line([xy(0, 0), xy(limit_min, limit_min)], fill="black", width=2)
    draw.text((margin, 6), f"{site.name[:60]}: {len(served)} vé, {days} ngày ({name})", fill="black", font=face)
    draw.text((margin + size // 2 - 120, size + margin + 28), "ước tính (trung vị), phút / estimate, min",
              fill="black", font=face)
    draw.text((6, margin - 24), "chờ thật, phút / real wait, min", fill="black", font=face)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


__all__ = ["chart"]
