"""Draws the kiosk's wiring diagram (Raspberry Pi 40-pin header, buttons, lights,
buzzer) with Pillow, from the same pin numbers as the configuration.

    .venv/bin/python -m kiosk.wiring --out docs/images/kiosk-wiring.png [--config kiosk.toml]

Pins are BCM GPIO numbers (what gpiozero and the `[kiosk]` table use); the picture also
gives the physical pin number on the header. No GPIO imports here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from kiosk.ticket_image import FONT_BOLD, FONT_REGULAR, font

# Physical pin -> name on the 40-pin header of every Raspberry Pi since the B+.
HEADER = {
    1: "3V3", 2: "5V", 3: "GPIO2", 4: "5V", 5: "GPIO3", 6: "GND", 7: "GPIO4", 8: "GPIO14",
    9: "GND", 10: "GPIO15", 11: "GPIO17", 12: "GPIO18", 13: "GPIO27", 14: "GND", 15: "GPIO22",
    16: "GPIO23", 17: "3V3", 18: "GPIO24", 19: "GPIO10", 20: "GND", 21: "GPIO9", 22: "GPIO25",
    23: "GPIO11", 24: "GPIO8", 25: "GND", 26: "GPIO7", 27: "ID_SD", 28: "ID_SC", 29: "GPIO5",
    30: "GND", 31: "GPIO6", 32: "GPIO12", 33: "GPIO13", 34: "GND", 35: "GPIO19", 36: "GPIO16",
    37: "GPIO26", 38: "GPIO20", 39: "GND", 40: "GPIO21",
}
PHYSICAL = {int(name[4:]): pin for pin, name in HEADER.items() if name.startswith("GPIO")}

# The example wiring (also the defaults in docs/kiosk.md).
EXAMPLE = [
    ("button", "Nút A: Tư pháp - Hộ tịch", 17),
    ("button", "Nút B: Chứng thực", 27),
    ("button", "Nút C: Đất đai", 22),
    ("button", "Nút Ưu tiên (priority)", 26),
    ("led", "Đèn xanh: sẵn sàng (ready)", 5),
    ("led", "Đèn vàng: đang in (printing)", 6),
    ("led", "Đèn đỏ: lỗi (fault)", 13),
    ("buzzer", "Còi (buzzer, optional)", 19),
]

BLUE, GREEN, AMBER, RED, GREY, BLACK = (30, 90, 200), (20, 150, 60), (220, 150, 0), (200, 30, 30), (150, 150, 150), (0, 0, 0)


def draw_wiring(parts: list[tuple[str, str, int]]) -> Image.Image:
    """parts: (kind: button | led | buzzer, label, BCM pin)."""
    width, height = 1500, 1080
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    title, small, label = font(FONT_BOLD, 30), font(FONT_REGULAR, 17), font(FONT_REGULAR, 21)
    draw.text((40, 20), "xephang kiosk — Raspberry Pi wiring (BCM GPIO numbers, physical pin in brackets)", font=title, fill=BLACK)
    top, step, left_x, right_x = 110, 42, 330, 372

    def pin_xy(pin: int) -> tuple[int, int]:
        row = (pin - 1) // 2
        return (left_x if pin % 2 else right_x, top + row * step)

    used = {PHYSICAL[p] for _, _, p in parts}
    bus_x = 1420
    ground_pin = 39
    # the board, then the wires, then pins and parts on top of them
    board_box = [left_x - 30, top - 30, right_x + 30, top + 19 * step + 30]
    draw.rounded_rectangle(board_box, radius=12, outline=BLACK, width=3, fill=(235, 245, 235))
    for index, (kind, _text, bcm) in enumerate(parts):
        px, py = pin_xy(PHYSICAL[bcm])
        cy = top + 20 + index * 105
        colour = {"button": BLUE, "led": {0: GREEN, 1: AMBER}.get(index - 4, RED), "buzzer": BLACK}[kind]
        lane = py + step // 2  # run between header rows, clear of the labels
        elbow = 560 + index * 14
        draw.line([(px, py), (px + 21, lane), (elbow, lane), (elbow, cy), (760, cy)], fill=colour, width=4)
        draw.line([(1160, cy), (bus_x, cy)], fill=GREY, width=4)
    gx, gy = pin_xy(ground_pin)
    bottom = top + 20 * step + 40
    draw.line([(gx, gy), (gx + 21, gy + step // 2), (gx + 21, bottom), (bus_x, bottom), (bus_x, top)], fill=BLACK, width=5)
    draw.text((bus_x - 80, bottom + 8), "GND (pin 39)", font=small, fill=BLACK)
    # the header
    for pin, name in HEADER.items():
        x, y = pin_xy(pin)
        fill = (255, 230, 120) if pin in used else ((60, 60, 60) if name == "GND" else "white")
        draw.ellipse([x - 13, y - 13, x + 13, y + 13], outline=BLACK, width=2, fill=fill)
        text = f"{name} ({pin})"
        face = font(FONT_BOLD, 17) if pin in used or pin == ground_pin else small
        if pin % 2:
            w = draw.textlength(text, font=face)
            draw.text((left_x - 36 - w, y - 11), text, font=face, fill=BLACK)
        else:
            draw.text((right_x + 36, y - 11), text, font=face, fill=GREY if pin not in used else BLACK)
    # the parts
    for index, (kind, text, bcm) in enumerate(parts):
        cy = top + 20 + index * 105
        draw.rounded_rectangle([760, cy - 38, 1160, cy + 38], radius=10, outline=BLACK, width=2, fill=(248, 248, 248))
        draw.text((780, cy - 30), text, font=label, fill=BLACK)
        detail = {
            "button": f"GPIO{bcm} (pin {PHYSICAL[bcm]}) → nút → GND; pull-up trong",
            "led": f"GPIO{bcm} (pin {PHYSICAL[bcm]}) → 330 Ω → LED → GND",
            "buzzer": f"GPIO{bcm} (pin {PHYSICAL[bcm]}) → còi 3,3 V → GND",
        }[kind]
        draw.text((780, cy + 4), detail, font=small, fill=(60, 60, 60))
    draw.text((40, height - 40), "Buttons close to ground (internal pull-up). LEDs need a series resistor (330 Ω). "
              "A buzzer drawing > 16 mA needs a transistor.", font=small, fill=BLACK)
    return image


def parts_from_settings(settings) -> list[tuple[str, str, int]]:  # settings: KioskSettings
    site = settings.site_config
    k = settings.kiosk
    parts = [("button", f"Nút: {site.service(s).name if site.service(s) else s}", pin) for s, pin in k.buttons.items()]
    if k.priority_pin is not None:
        parts.append(("button", "Nút Ưu tiên (priority)", k.priority_pin))
    for name, text, kind in (("ready", "Đèn xanh: sẵn sàng", "led"), ("printing", "Đèn vàng: đang in", "led"),
                             ("fault", "Đèn đỏ: lỗi", "led"), ("buzzer", "Còi (buzzer)", "buzzer")):
        pin = getattr(k.leds, name)
        if pin is not None:
            parts.append((kind, text, pin))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the kiosk wiring diagram.")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--config", default=None, help="kiosk configuration (default: the example wiring)")
    args = parser.parse_args(argv)
    parts = EXAMPLE
    if args.config:
        from kiosk.settings import KioskSettings
        from protocol.settings import load_settings

        parts = parts_from_settings(load_settings(KioskSettings, args.config))
    if len(parts) > 8:
        print("kiosk.wiring: at most 8 parts fit on one picture", file=sys.stderr)
        return 1
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    draw_wiring(parts).save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
