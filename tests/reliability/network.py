"""A network link that tests can cut: a TCP relay between two real processes (e.g. an
office's Mosquitto bridge and the central broker)."""

from __future__ import annotations

import threading
from typing import Any


class LinkCut:
    """A TCP relay standing for the WAN link between an office and the centre: `cut()`
    drops every connection and refuses new ones (as a dead link), `restore()` heals it."""

    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        import socket

        self.target = (host, target_port)
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="link-accept", daemon=True).start()

    def _accept(self) -> None:
        import socket

        while not self._closed:
            try:
                inside, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                inside.close()
                continue
            try:
                outside = socket.create_connection(self.target, timeout=5)
            except OSError:
                inside.close()
                continue
            with self._lock:
                self._sockets += [inside, outside]
            for a, b in ((inside, outside), (outside, inside)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: Any, sink: Any) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass  # the other direction closed or the link was cut
        for sock in (source, sink):
            self._close(sock)

    def _close(self, sock: Any) -> None:
        import socket

        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed
        sock.close()

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            self._close(sock)

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


