"""Drawing a `CounterView` on a luma device: a MAX7219 LED matrix (luma.led_matrix, SPI)
or luma.core's dummy device, which keeps the frame in memory (tests, the docs' picture).
The text uses luma's own LED-matrix fonts. Imports luma inside `open_screen`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from counterdisplay.settings import CounterDisplaySection
from counterdisplay.view import CounterView


def open_screen(section: CounterDisplaySection) -> Any:
    if section.screen == "dummy":
        from luma.core.device import dummy

        return dummy(width=8 * section.cascaded, height=8, rotate=section.rotate, mode="1")
    from luma.core.interface.serial import noop, spi
    from luma.led_matrix.device import max7219

    device = max7219(spi(port=0, device=0, gpio=noop()), cascaded=section.cascaded,
                     block_orientation=section.block_orientation, rotate=section.rotate)
    device.contrast(section.contrast)
    return device


def draw(device: Any, view: CounterView, snapshot: Path | None = None) -> None:
    from luma.core.legacy import text
    from luma.core.legacy.font import LCD_FONT, proportional
    from luma.core.render import canvas

    with canvas(device) as surface:
        text(surface, (0, 0), view.text, fill="white", font=proportional(LCD_FONT))
    if snapshot is not None and hasattr(device, "image"):
        picture = device.image.convert("L").resize((device.width * 16, device.height * 16), 0)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        picture.save(snapshot)
