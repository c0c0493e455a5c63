"""Draws the two deployment pictures of docs/deployment.md with Pillow.

    .venv/bin/python deploy/draw_topology.py   # writes docs/images/topology-*.png
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
INK = (33, 37, 41)
MUTED = (90, 98, 110)
BLUE = (30, 90, 170)
GREEN = (35, 125, 70)
ORANGE = (200, 110, 20)
PALE = {"office": (244, 247, 252), "centre": (250, 245, 236), "pi": (255, 255, 255), "core": (232, 242, 255)}


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(BOLD if bold else FONT, size)


class Canvas:
    def __init__(self, width: int, height: int):
        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)

    def area(self, box: tuple[int, int, int, int], title: str, fill: tuple[int, int, int]) -> None:
        self.draw.rounded_rectangle(box, 18, fill=fill, outline=MUTED, width=2)
        self.draw.text((box[0] + 18, box[1] + 12), title, font=font(22, True), fill=INK)

    def node(self, box: tuple[int, int, int, int], title: str, lines: list[str], accent=BLUE, fill=PALE["pi"]) -> None:
        self.draw.rounded_rectangle(box, 10, fill=fill, outline=accent, width=3)
        self.draw.text((box[0] + 12, box[1] + 8), title, font=font(19, True), fill=accent)
        y = box[1] + 38
        for line in lines:
            self.draw.text((box[0] + 12, y), line, font=font(15), fill=INK)
            y += 21

    def arrow(self, start, end, label: str = "", color=MUTED, both: bool = False, dashed: bool = False,
              offset=(0, 0)) -> None:
        (x1, y1), (x2, y2) = start, end
        if dashed:
            length = math.hypot(x2 - x1, y2 - y1)
            steps = max(int(length // 14), 1)
            for i in range(0, steps, 2):
                a, b = i / steps, min((i + 1) / steps, 1)
                self.draw.line((x1 + (x2 - x1) * a, y1 + (y2 - y1) * a, x1 + (x2 - x1) * b, y1 + (y2 - y1) * b), fill=color, width=3)
        else:
            self.draw.line((x1, y1, x2, y2), fill=color, width=3)
        self._head(start, end, color)
        if both:
            self._head(end, start, color)
        if label:
            mx, my = (x1 + x2) / 2 + offset[0], (y1 + y2) / 2 + offset[1]
            face = font(15)
            left, top, right, bottom = self.draw.multiline_textbbox((0, 0), label, font=face, spacing=3)
            w, h = right - left, bottom - top
            self.draw.rectangle((mx - w / 2 - 5, my - h / 2 - 4, mx + w / 2 + 5, my + h / 2 + 4), fill="white")
            self.draw.multiline_text((mx - w / 2, my - h / 2 - 2), label, font=face, fill=color, spacing=3, align="center")

    def _head(self, start, end, color) -> None:
        (x1, y1), (x2, y2) = start, end
        angle = math.atan2(y2 - y1, x2 - x1)
        size = 14
        points = [(x2, y2)] + [
            (x2 - size * math.cos(angle + s * 0.45), y2 - size * math.sin(angle + s * 0.45)) for s in (-1, 1)
        ]
        self.draw.polygon(points, fill=color)

    def note(self, xy, text: str, color=MUTED, size: int = 16) -> None:
        self.draw.multiline_text(xy, text, font=font(size), fill=color, spacing=4)


def small(path: Path) -> None:
    c = Canvas(1500, 820)
    c.draw.text((40, 24), "(a) Một điểm tiếp nhận — one office: one Pi runs the broker and the server",
                font=font(26, True), fill=INK)
    c.area((30, 80, 1470, 720), "Mạng LAN của bộ phận một cửa — office LAN", PALE["office"])
    c.node((600, 310, 900, 470), "Pi: server + broker", ["Mosquitto :1883", "  (xephang-broker.service)",
                                                        "server :8000 (xephang-server)", "/var/lib/xephang: SQLite"],
           accent=BLUE, fill=PALE["core"])
    c.node((50, 150, 360, 290), "Pi: kiosk (máy lấy số)", ["buttons (GPIO), USB printer", "xephang-kiosk.service",
                                                            "outbox on the data partition"], accent=GREEN)
    c.node((50, 490, 360, 630), "Pi: display (bảng)", ["TV over HDMI, speakers", "xephang-display.service",
                                                       "retained board state"], accent=GREEN)
    c.node((1140, 150, 1440, 290), "Desk PCs (quầy)", ["browser: desk console", "http://<server>:8000"], accent=ORANGE)
    c.node((1140, 490, 1440, 630), "Desk keypad (optional)", ["commands/{counter}", "its own broker account"], accent=ORANGE)
    c.arrow((360, 240), (600, 340), "MQTT: ticket.issued,\nstatus; state/queue", color=GREEN, both=True)
    c.arrow((360, 560), (600, 440), "MQTT: calls,\nstate/board", color=GREEN, both=True)
    c.arrow((1140, 240), (900, 340), "HTTP :8000", color=ORANGE, both=True)
    c.arrow((1140, 560), (900, 440), "MQTT: commands", color=ORANGE)
    c.note((60, 740), "Each device has its own broker account and ACL (xephang broker config); the server dispatches "
                      "every site (server.dispatch_sites).\nInstall: sh deploy/install.sh --role server | kiosk | display"
                      " | desk-keypad   ·   check: xephang doctor", size=17)
    c.image.save(path)


def central(path: Path) -> None:
    c = Canvas(1500, 980)
    c.draw.text((40, 24), "(b) Nhiều điểm — many offices bridged to a centre (Mosquitto bridge)",
                font=font(26, True), fill=INK)
    c.area((450, 80, 1050, 330), "Trung tâm — centre (huyện / tỉnh)", PALE["centre"])
    c.node((480, 130, 740, 300), "central broker", ["Mosquitto :1883", "one account per office", "bridge-<office>: ACL",
                                                    "= its own sites only"], accent=BLUE, fill=PALE["core"])
    c.node((770, 130, 1020, 300), "central server", ["aggregates every site", "dashboard, statistics",
                                                     "dispatches only sites", "of offices without a server"],
           accent=BLUE, fill=PALE["core"])
    c.arrow((740, 215), (770, 215), "", color=BLUE, both=True)
    offices = [(40, "Văn phòng A — office A", True), (780, "Văn phòng B — office B", False)]
    for x, title, has_server in offices:
        c.area((x, 430, x + 680, 870), title, PALE["office"])
        c.node((x + 30, 490, x + 330, 650), "office broker", ["Mosquitto :1883", "bridge to the centre",
                                                             "queues while the link is down"], accent=BLUE, fill=PALE["core"])
        if has_server:
            c.node((x + 360, 490, x + 650, 650), "office server", ["dispatches its sites", "desk console :8000",
                                                                  "works offline"], accent=BLUE, fill=PALE["core"])
            c.arrow((x + 330, 570), (x + 360, 570), "", color=BLUE, both=True)
        else:
            c.node((x + 360, 490, x + 650, 650), "desks use the centre", ["console: central server", "board state comes",
                                                                         "down the bridge (in)"], accent=ORANGE)
        c.node((x + 30, 700, x + 330, 840), "kiosk(s)", ["print even offline", "outbox, numbering"], accent=GREEN)
        c.node((x + 360, 700, x + 650, 840), "display(s)", ["board, voice", "retained state"], accent=GREEN)
        c.arrow((x + 180, 700), (x + 180, 650), "", color=GREEN, both=True)
        c.arrow((x + 505, 700), (x + 250, 650), "", color=GREEN, both=True)
    c.arrow((350, 490), (560, 300), "bridge out: events/#, devices/#", color=BLUE, dashed=True, offset=(-30, 0))
    c.arrow((1090, 490), (660, 300), "bridge: events/# both,\ndevices/#, commands/# out,\nstate/# in",
            color=ORANGE, dashed=True, offset=(30, 0))
    c.note((40, 890), "Link down: each office keeps issuing, calling and showing; its broker keeps the bridge's "
                      "messages (persistent, QoS 1) and the centre catches up,\nstoring each event once (insert-or-ignore "
                      "on the event id). Generate every file with `xephang topology central` (deploy docs).", size=17)
    c.image.save(path)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    small(out / "topology-small.png")
    central(out / "topology-central.png")
    print(f"wrote {out / 'topology-small.png'} and {out / 'topology-central.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
