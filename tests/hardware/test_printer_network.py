"""The escpos Network transport against a printer emulated on a real TCP socket:
status answers where the transport allows, jobs arrive whole, silence is "unknown"."""

from __future__ import annotations

import socket
import threading
import time

from PIL import Image

from hardware.printer import PrinterSettings, TicketPrinter, build_image_job, fake_status_answers


class TcpPrinter:
    """Speaks enough ESC/POS over TCP: answers DLE EOT n, swallows raster data whole."""

    def __init__(self, fault: str = "none", silent: bool = False):
        self.fault = fault
        self.silent = silent
        self.received = bytearray()
        self.queries: list[int] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(0.2)
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buffer = bytearray()
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while buffer:
                    if buffer[:2] == b"\x10\x04" and len(buffer) >= 3:
                        query = buffer[2]
                        self.queries.append(query)
                        del buffer[:3]
                        answers = fake_status_answers(self.fault)
                        if not self.silent and answers and query in answers:
                            conn.sendall(bytes([answers[query]]))
                    elif buffer[:3] == b"\x1dv0":
                        if len(buffer) < 8:
                            break
                        size = 8 + (buffer[4] + 256 * buffer[5]) * (buffer[6] + 256 * buffer[7])
                        if len(buffer) < size:
                            break
                        self.received += buffer[:size]
                        del buffer[:size]
                    elif buffer[:2] == b"\x10\x04":
                        break  # wait for the third byte
                    else:
                        self.received += buffer[:1]
                        del buffer[:1]

    def close(self) -> None:
        self._stop = True
        self.server.close()


def test_network_printer_status_and_job():
    tcp = TcpPrinter()
    try:
        printer = TicketPrinter(PrinterSettings(transport="network", host="127.0.0.1", port=tcp.port, timeout_s=1))
        assert printer.status().summary == "ok"
        job = build_image_job(Image.new("1", (576, 24), 1), "TM-T20II")
        printer.send(job)
        tcp.fault = "paper_out"
        assert printer.status().summary == "paper_out"
        tcp.fault = "near_end"
        status = printer.status(quick=True)
        assert (status.summary, status.can_print) == ("paper_near_end", True)
        deadline = time.monotonic() + 5
        while bytes(tcp.received) != job and time.monotonic() < deadline:
            time.sleep(0.02)
        assert bytes(tcp.received) == job
        printer.close()
    finally:
        tcp.close()


def test_a_silent_printer_is_unknown_and_quick_checks_skip_the_wait():
    tcp = TcpPrinter(silent=True)
    try:
        printer = TicketPrinter(PrinterSettings(transport="network", host="127.0.0.1", port=tcp.port, timeout_s=0.3))
        started = time.monotonic()
        status = printer.status()
        assert status.summary == "unknown" and status.paper == "unknown"
        assert time.monotonic() - started < 1.0  # one timeout, not three
        started = time.monotonic()
        assert printer.status(quick=True).summary == "unknown"
        assert time.monotonic() - started < 0.1
        assert tcp.queries == [1]
    finally:
        tcp.close()


def test_a_printer_that_is_gone_is_offline_not_ok():
    probe = socket.create_server(("127.0.0.1", 0))  # a port nobody listens on any more
    port = probe.getsockname()[1]
    probe.close()
    printer = TicketPrinter(PrinterSettings(transport="network", host="127.0.0.1", port=port, timeout_s=0.3))
    status = printer.status()
    assert status.summary == "offline" and not status.can_print
