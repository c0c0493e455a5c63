"""QR scanners at the kiosk (ID cards, booking codes, return codes), behind one seam:
something that calls `on_scan(text)` once per scanned code.

- `SerialScanner`: a USB scanner in its "USB COM port" (CDC-ACM) mode, read with pyserial
  from a port such as /dev/ttyACM0, or any pyserial URL (`loop://` is pyserial's own
  loop-back, used by tests as the fake a user can select too). One code per line (CR or LF).
- `FakeScanner`: `scan(text)` by hand (tests, the demo).
A scanner in keyboard (HID) mode types into the kiosk's input instead; the keypad reader
passes such lines on (hardware/buttons.KeypadReader, `on_scan`).

Nothing here logs or keeps what was scanned: a code may be an ID card. Imports pyserial
inside `SerialScanner` only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

OnScan = Callable[[str], object]
MAX_LINE = 2048  # longer lines are cut off and dropped whole (not a code we read)


class FakeScanner:
    def __init__(self, on_scan: OnScan):
        self.on_scan = on_scan

    def scan(self, text: str) -> None:
        self.on_scan(text)

    def start(self) -> FakeScanner:
        return self

    def close(self) -> None:
        pass


class SerialScanner:
    def __init__(self, url: str, on_scan: OnScan, baudrate: int = 9600):
        import serial  # pyserial: the kiosk extra

        self.url = url
        self.on_scan = on_scan
        self.port: Any = serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scanner", daemon=True)

    def start(self) -> SerialScanner:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.port.close()

    def _run(self) -> None:
        buffer = bytearray()
        overflow = False
        while not self._stop.is_set():
            try:
                chunk = self.port.read(256)
            except Exception as exc:  # noqa: BLE001 - a pulled cable: say so once and stop reading
                log.error("scanner %s: %s", self.url, type(exc).__name__)
                return
            for byte in chunk:
                if byte in (10, 13):
                    if buffer and not overflow:
                        self._deliver(bytes(buffer))
                    buffer.clear()
                    overflow = False
                elif len(buffer) >= MAX_LINE:
                    overflow = True  # dropped whole at its end of line
                else:
                    buffer.append(byte)

    def _deliver(self, raw: bytes) -> None:
        try:
            self.on_scan(raw.decode("utf-8", errors="replace"))
        except Exception:  # noqa: BLE001 - a failing handler must not stop the scanner
            log.exception("scan handler failed")
