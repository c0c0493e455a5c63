"""`xephang demo` on one clock and for more than a day (issue 22, "Done when"): the
board's clock, the live panel and the desk's view agree within a simulated minute; the
board speaks at least one call; after the first simulated day the demo keeps serving.
Real Mosquitto, server, kiosk and board processes, as a user runs them."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import psutil

from broker.config import free_port
from protocol import clock
from protocol.sites import Site
from server.storage.events import EventStore
from server.web.auth import create_token
from tests.support import wait_until
from xephang.demo import SITE_ID, demo_site


def _start(directory: Path, port: int, speedup: float, tickets: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "xephang.cli", "demo", "--dir", str(directory), "--headless", "--port", str(port),
         "--speedup", str(speedup), "--duration", "300", "--tickets", str(tickets)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )


def _stop(process: subprocess.Popen) -> str:
    try:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return output


def _demo_clock(process: subprocess.Popen):
    """The clock the demo gave its children (read from the server process's environment)."""
    def server_env():
        for child in psutil.Process(process.pid).children(recursive=True):
            try:
                if "server" in child.cmdline():
                    return child.environ()
            except psutil.Error:
                continue
        return None

    env = wait_until(server_env, timeout_s=30)
    return clock.from_environment(env), float(env["XEPHANG_CLOCK_SPEEDUP"])


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _tokens(db: Path) -> dict[str, str]:
    store = EventStore(db, [Site.model_validate(demo_site())])
    try:
        return {user: create_token(store, user, "test") for user in ("lanhdao", "canbo1")}
    finally:
        store.close()


def _count(db: Path, sql: str, *args) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_demo_parts_share_one_clock(tmp_path):
    directory, port = tmp_path / "demo", free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xephang.cli", "demo", "--dir", str(directory), "--headless", "--port", str(port),
         "--speedup", "60", "--duration", "300", "--tickets", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    db, board = directory / "server.db", directory / "board.json"
    try:
        demo_now, speedup = _demo_clock(process)
        assert speedup == 60
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: board.exists() and _count(db, "SELECT COUNT(*) FROM tickets WHERE status = 'waiting'") >= 2,
                   timeout_s=90, interval_s=0.5)
        tokens = _tokens(db)

        # The board's clock: what it drew, against the demo's clock at the moment it drew it.
        shown = json.loads(board.read_text(encoding="utf-8"))
        expected = demo_now().timestamp() - (time.time() - shown["real_ts"]) * speedup
        assert abs(datetime.fromisoformat(shown["shown_at"]).timestamp() - expected) < 60, shown

        # The live panel and the desk console: taken on the demo's clock, and the same waits.
        live = _get(f"{base}/api/v1/live", tokens["lanhdao"])["sites"][0]
        live_gap_s = abs(datetime.fromisoformat(live["evaluated_at"]).timestamp() - demo_now().timestamp())
        desk = _get(f"{base}/api/v1/sites/{SITE_ID}/counters/quay-1/view", tokens["canbo1"])
        desk_gap_s = abs(desk["server_ts"] - demo_now().timestamp())
        assert live_gap_s < 60 and desk_gap_s < 60, (live["evaluated_at"], desk["server_ts"], demo_now())
        oldest_live = datetime.fromisoformat(live["evaluated_at"]).timestamp() - live["longest_wait_s"]
        oldest_desk = min(t["issued_at"] for tickets in desk["waiting"].values() for t in tickets)
        # Taken a moment apart, the oldest waiting ticket may have been called in between.
        assert oldest_desk - oldest_live > -60, (oldest_live, oldest_desk)
        for ticket in desk["at_risk"]:
            same = next((t for t in live["at_risk"] if t["ticket_id"] == ticket["ticket_id"]), None)
            if same is not None:
                desk_age = desk["server_ts"] - ticket["issued_at"]
                live_age = same["age_s"] + (desk["server_ts"] - datetime.fromisoformat(live["evaluated_at"]).timestamp())
                assert abs(desk_age - live_age) < 60, (ticket["number"], desk_age, live_age)
        # What the kiosk says reaches this terminal, with the printed ticket's PNG.
        printed = wait_until(lambda: next((line for line in lines if "[kiosk] Đã in phiếu số" in line), None), timeout_s=30)
        png = Path(printed[printed.rindex("(") + 1:printed.rindex(")")])
        wait_until(png.exists, timeout_s=10)
    finally:
        # Ctrl-C while piped: the pipe's reader dies with it; the summary still gets out (stderr).
        process.stdout.close()
        try:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    output = "".join(lines)
    assert process.returncode == 0, errors[-3000:]
    assert "x60" in output and "/demo/board" in output
    assert "Đã dừng / stopped:" in errors and "lượt gọi" in errors, errors[-2000:]


def test_demo_speaks_calls_and_keeps_serving_after_the_first_day(tmp_path):
    directory, port = tmp_path / "demo", free_port()
    process = _start(directory, port, 600, 150)  # a 10-hour office day in one real minute
    db, board = directory / "server.db", directory / "board.json"
    try:
        demo_now, speedup = _demo_clock(process)
        zone = Site.model_validate(demo_site()).zone
        first_day = demo_now().astimezone(zone).date()
        second_day = wait_until(lambda: (d := demo_now().astimezone(zone).date()) > first_day and d, timeout_s=90, interval_s=1)
        # The next morning: citizens take numbers and the officers call them again.
        wait_until(lambda: _count(db, "SELECT COUNT(*) FROM tickets WHERE local_day = ? AND status != 'waiting'",
                                  second_day.isoformat()) >= 1, timeout_s=60, interval_s=1)
        # The first day was closed by day-end: nothing from it is still waiting.
        assert _count(db, "SELECT COUNT(*) FROM tickets WHERE local_day = ? AND status = 'waiting'", first_day.isoformat()) == 0
        assert process.poll() is None
        shown = json.loads(board.read_text(encoding="utf-8"))
        assert datetime.fromisoformat(shown["shown_at"]).astimezone(zone).date() == second_day
    finally:
        output = _stop(process)
    assert process.returncode == 0, output
    display_log = (directory / "display.log").read_text(encoding="utf-8")
    assert "announced" in display_log, display_log[-2000:]  # the chime and voice went to the audio output
    assert "not announced" not in display_log
