"""`xephang demo` headless for a short time: tickets printed, called, on the board,
counted in the stats, and nothing left running afterwards."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import psutil

from broker.config import free_port
from protocol.sites import Site
from server.stats.measures import compute, rules_from_sites
from xephang.demo import demo_site


def test_demo_runs_a_reception_point_and_stops_cleanly(tmp_path):
    directory = tmp_path / "demo"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xephang.cli", "demo", "--dir", str(directory), "--headless", "--port", str(port),
         "--speedup", "120", "--duration", "300", "--tickets", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    db_path = directory / "server.db"
    try:
        deadline = time.monotonic() + 120
        completed = 0
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()
            if db_path.exists():
                conn = sqlite3.connect(db_path)
                try:
                    completed = conn.execute("SELECT COUNT(*) FROM tickets WHERE status = 'completed'").fetchone()[0]
                except sqlite3.OperationalError:
                    completed = 0
                finally:
                    conn.close()
            if completed >= 3 and (directory / "board.png").exists():
                break
            time.sleep(1)
        assert completed >= 3, "the simulated officers completed tickets"
        children = psutil.Process(process.pid).children(recursive=True)
        assert {"server", "kiosk", "display"} <= {
            next((a for a in c.cmdline() if a in ("server", "kiosk", "display")), "") for c in children
        }
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "/desk" in output and "/dashboard" in output and "canbo1" in output
    assert "Broker: Mosquitto" in output
    # Nothing left running: none of the children survive the demo.
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child.cmdline()
    # Printed: the file printer got raster tickets; issued: every printed one reached the server.
    printed = (directory / "tickets" / "printer.bin").read_bytes()
    assert printed.count(b"\x1dV") >= 3  # ESC/POS cut after each ticket
    copies = sorted((directory / "tickets").glob("*.png"))
    assert len(copies) == printed.count(b"\x1dV"), "every printed ticket is also saved as PNG"
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM tickets")]
    issued = [r for r in rows if r["issued_at"] is not None]
    assert len(issued) >= 3
    called = [r for r in rows if r["first_called_at"] is not None]
    assert called and all(r["wait_s"] >= 0 for r in called), "kiosk and dispatcher share the demo clock"
    # Shown on the board: the retained board state the display renders lists the calls.
    board = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'ticket.called'").fetchone()[0]
    assert board >= 3
    assert (directory / "board.png").stat().st_size > 10_000
    # Counted in the stats, by the same code the API uses.
    site = Site.model_validate(demo_site())
    stats = compute(rows, rules_from_sites([site]), ("site",))[0]
    assert stats["issued"] == len(issued) and stats["called"] == len(called)
    assert stats["received"] >= 1


def test_without_mosquitto_the_demo_says_so_in_one_line_and_stops(tmp_path, monkeypatch, capsys):
    """The no-root path: there is no embedded broker; the demo names what it needs and
    how to get it, in one line, before it starts anything."""
    import xephang.demo
    from xephang.cli import main

    monkeypatch.setattr(xephang.demo, "find_mosquitto", lambda: None)  # a machine without Mosquitto
    code = main(["demo", "--dir", str(tmp_path / "demo"), "--headless", "--port", str(free_port())])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.count("\n") == 0 and "apt-get install mosquitto" in err and "Mosquitto" in err, err
    assert not (tmp_path / "demo" / "demo.toml").exists(), "nothing was started or written past the refusal"
