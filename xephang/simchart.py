"""The simulator's chart: wait and total time per staffing option against the target.

Drawn with Pillow (no plotting library on a Pi): one row per option, a box from p50
to p90 with a whisker to p10 for wait and for total time, the target as a red line,
and the share within target on the right. Pillow only; no server imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _unserved_note(result: Any) -> str:
    unserved = max(result.unserved_share, default=0.0)
    return f"tới {unserved:.0%} chưa được phục vụ" if unserved > 0.01 else ""


def draw_chart(results: list, target_min: int, target_pct: float, chosen_label: str | None, title: str, out: Path) -> Path:
    row_h, left, top = 54, 340, 110
    width = 1400
    height = top + row_h * len(results) + 80
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 18)
    small = ImageFont.truetype(FONT, 15)
    bold = ImageFont.truetype(FONT_BOLD, 22)
    # The right column is as wide as its widest note ("tới 37% chưa được phục vụ"), so no
    # note runs off the image (issue 22).
    notes = [_unserved_note(r) for r in results]
    right_w = max([230] + [int(d.textlength(n, font=small)) + 40 for n in notes if n])
    d.text((20, 15), title, font=bold, fill="black")
    d.text((20, 50), f"Thời gian chờ (xanh) và tổng thời gian (cam), phút: hộp p50–p90, râu p10; vạch đỏ = mục tiêu {target_min} phút",
           font=small, fill="#333")
    plot_w = width - left - right_w
    max_min = max([target_min * 2] + [_pct(r.totals_s, 90) / 60 for r in results])
    max_min = min(max_min, target_min * 6)

    def x_of(minutes: float) -> float:
        return left + plot_w * min(minutes, max_min) / max_min

    for tick in range(0, int(max_min) + 1, 30 if max_min > 120 else 15):
        x = x_of(tick)
        d.line([(x, top - 10), (x, height - 60)], fill="#e5e5e5")
        d.text((x - 8, height - 55), str(tick), font=small, fill="#555")
    d.text((left + plot_w // 2 - 20, height - 32), "phút", font=small, fill="#555")
    d.text((width - right_w + 20, top - 35), f"% trong {target_min} phút", font=small, fill="#333")
    for i, result in enumerate(results):
        y = top + i * row_h
        chosen = result.staffing.label == chosen_label
        if chosen:
            d.rectangle([(0, y - 4), (width, y + row_h - 8)], fill="#eaf7ea")
        d.text((20, y + 12), result.staffing.label, font=bold if chosen else font, fill="black")
        for offset, values, colour in ((6, result.waits_s, "#2b6cb0"), (26, result.totals_s, "#dd6b20")):
            minutes = [v / 60 for v in values]
            if not minutes:
                continue
            p10, p50, p90 = (_pct(minutes, p) for p in (10, 50, 90))
            d.line([(x_of(p10), y + offset + 7), (x_of(p50), y + offset + 7)], fill=colour, width=2)
            d.rectangle([(x_of(p50), y + offset), (max(x_of(p90), x_of(p50) + 2), y + offset + 14)], fill=colour)
        pct = result.median_pct
        colour = "#2f855a" if pct >= target_pct else "#c53030"
        d.text((width - right_w + 20, y + 4), f"{pct:.1f} %", font=bold, fill=colour)
        note = _unserved_note(result)
        if note:
            d.text((width - right_w + 20, y + 30), note, font=small, fill="#c53030")
    x = x_of(target_min)
    d.line([(x, top - 15), (x, height - 60)], fill="#e53e3e", width=3)
    img.save(out)
    return out
