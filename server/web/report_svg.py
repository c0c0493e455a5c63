"""Charts of the print page (report.html) as inline SVG strings, drawn on the server: the
page prints without JavaScript and a PDF keeps them as vectors. Every text is escaped.
Plain strings only; imports nothing from the server but nothing either (pure helpers).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#1f4e79", "#5b9bd5", "#f4b183", "#a9d18e", "#c00000")
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    # Natural size (px), shrunk to the column when wider: text keeps its print size.
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'style="max-width:100%;height:auto" role="img" aria-label="{escape(label)}" {FONT} font-size="11">'
            + "".join(body) + "</svg>")


def line_chart(points: Sequence[tuple[str, float | None]], label: str, reference: float | None = None,
               reference_label: str = "") -> str:
    """A percentage line (0-100) over labelled points; an optional dashed reference line."""
    width, height, left, bottom, top = 680, 220, 40, 30, 12
    plot_w, plot_h = width - left - 30, height - bottom - top
    body = []
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}%</text>')
    n = len(points)
    step = plot_w / max(n - 1, 1)
    coords = []
    for i, (name, value) in enumerate(points):
        x = left + i * step if n > 1 else left + plot_w / 2
        if value is not None:
            y = top + plot_h * (1 - value / 100)
            coords.append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[0]}"/>')
        if i % max(1, -(-n // 10)) == 0 or i == n - 1 and n <= 10:
            body.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{escape(name)}</text>')
    if len(coords) > 1:
        body.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    if reference is not None:
        y = top + plot_h * (1 - reference / 100)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{PALETTE[4]}" '
                    f'stroke-dasharray="5,4"/>')
        body.append(f'<text x="{width - 12}" y="{y - 4:.1f}" text-anchor="end" fill="{PALETTE[4]}">'
                    f'{escape(reference_label)}</text>')
    return _svg(width, height, body, label)


def stacked_bars(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str], label: str,
                 total_text: Sequence[str] | None = None) -> str:
    """Horizontal bars, one per row, split into `series`; each bar ends with its total
    (or with `total_text[row]`)."""
    bar_h, gap, left, width = 16, 6, 170, 680
    top = 22
    height = top + len(rows) * (bar_h + gap) + 10
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    scale = (width - left - 50) / biggest
    body = []
    x = left
    for i, name in enumerate(series):
        body.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        body.append(f'<text x="{x + 14}" y="13">{escape(name)}</text>')
        x += 14 + 7 * len(name) + 16
    for r, (name, values) in enumerate(rows):
        y = top + r * (bar_h + gap)
        body.append(f'<text x="{left - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(name[:28])}</text>')
        x0 = float(left)
        for i, value in enumerate(values):
            w = value * scale
            if w > 0:
                body.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                            f'fill="{PALETTE[i % len(PALETTE)]}"/>')
            x0 += w
        shown = total_text[r] if total_text is not None else f"{sum(values):g}"
        body.append(f'<text x="{x0 + 4:.1f}" y="{y + bar_h - 4}">{escape(shown)}</text>')
    return _svg(width, height, body, label)


def heatmap(rows: Sequence[str], hours: Sequence[int], cells: dict[tuple[int, int], float | None], label: str,
            unit: str = "") -> str:
    """A weekday x hour grid; `cells` maps (row index, hour) -> value (minutes)."""
    left, top, cell_w, cell_h = 70, 18, 44, 22
    width = left + cell_w * max(len(hours), 1) + 4
    height = top + cell_h * max(len(rows), 1) + 4
    values = [v for v in cells.values() if v is not None]
    biggest = max(values, default=0) or 1
    body = []
    for j, hour in enumerate(hours):
        body.append(f'<text x="{left + j * cell_w + cell_w / 2:.1f}" y="12" text-anchor="middle">{hour:02d}h</text>')
    for i, name in enumerate(rows):
        y = top + i * cell_h
        body.append(f'<text x="{left - 6}" y="{y + cell_h - 7}" text-anchor="end">{escape(name)}</text>')
        for j, hour in enumerate(hours):
            value = cells.get((i, hour))
            x = left + j * cell_w
            if value is None:
                body.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="#f2f2f2"/>')
                continue
            share = value / biggest
            red, green = 255, int(255 - 190 * share)
            body.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                        f'fill="rgb({red},{green},{green})"/>')
            body.append(f'<text x="{x + cell_w / 2 - 1:.1f}" y="{y + cell_h - 7}" text-anchor="middle">'
                        f'{value:.0f}{escape(unit)}</text>')
    return _svg(width, height, body, label)


def bars(rows: Sequence[tuple[str, float | None]], label: str, shown: Sequence[str] | None = None) -> str:
    """Simple horizontal bars with their values (or the texts `shown`)."""
    return stacked_bars([(name, [value or 0]) for name, value in rows], [label], label, shown)
