"""Real processes for fault tests: a server and kiosks run as subprocesses (killable with
SIGKILL), a desk that calls and completes tickets over the REST API, and the
reconciliation every fault run ends with: each ticket the kiosk printed is stored at the
server exactly once, and the server's statistics equal a recomputation from the
kiosk's own records and the desk's own log."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from broker.config import free_port
from server.storage.db import open_database
from server.web.auth import create_token, create_user
from tests.kiosk.conftest import kiosk_dict
from tests.kiosk.conftest import write_config as write_kiosk_config
from tests.support import SITE_ID, RunningBroker, child_env, server_settings_dict, settings_dict, wait_until, write_toml

ROOT = Path(__file__).resolve().parents[2]
LETTERS = {"A": "tu-phap-ho-tich", "B": "chung-thuc"}


def clean_env(**extra: str) -> dict[str, str]:
    """The child's environment: no settings overrides, the test's project clock."""
    return child_env(PYTHONPATH=str(ROOT), **extra)


def stop_process(process: subprocess.Popen | None, timeout_s: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the server ------------------------------------------------------------------------
class ServerProcess:
    """`xephang server` as a child process with a desk and a manager account."""

    def __init__(self, broker: RunningBroker, directory: Path, user: str = "server",
                 sites: list[dict] | None = None, devices: list[dict] | None = None, **server: Any):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.database = directory / "server.db"
        data = server_settings_dict(broker, self.database, **server)
        data["broker"] = settings_dict(broker.settings_for(user))["broker"]
        data["server"]["client_id"] = user
        if sites is not None:  # a configuration of its own (the soak's sites)
            data["sites"], data["devices"] = sites, devices or []
            data["server"]["dispatch_sites"] = [s["id"] for s in sites]
        self.config = write_toml(directory / "xephang.toml", data)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "server.log"
        self.process: subprocess.Popen | None = None
        site_ids = [s["id"] for s in data["sites"]]
        db = open_database(self.database)
        # One desk account per site (both its first counters), one manager for every site.
        self.desk_tokens: dict[str, str] = {}
        for site in site_ids:
            name = "can-bo-1" if site == SITE_ID else f"can-bo-{site}"
            create_user(db, name, f"mat-khau-{name}", "desk", [site], ["quay-1", "quay-2"])
            self.desk_tokens[site] = create_token(db, name)
        create_user(db, "lanh-dao", "mat-khau-lanh-dao", "manager", site_ids)
        self.desk_token = self.desk_tokens.get(SITE_ID, "")
        self.manager_token = create_token(db, "lanh-dao")
        db.conn.close()
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self, wait: bool = True) -> ServerProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xephang.cli", "server", "--config", str(self.config), "--port", str(self.port)],
            cwd=ROOT, env=clean_env(), stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        if wait:
            wait_until(self.healthy, 30, 0.1)
        return self

    def health(self) -> dict | None:
        try:
            return self.http.get("/healthz").json()
        except (httpx.HTTPError, ValueError):
            return None

    def healthy(self) -> bool:
        found = self.health()
        return bool(found and found["ok"])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM; `start()` may run it again on the same database."""
        stop_process(self.process)

    def stats(self, group_by: str = "site,service") -> list[dict]:
        response = self.http.get(
            "/api/v1/stats", params={"group_by": group_by},
            headers={"Authorization": f"Bearer {self.manager_token}"},
        )
        response.raise_for_status()
        return response.json()["rows"]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


# -- kiosks ----------------------------------------------------------------------------
class KioskProcess:
    """`python -m kiosk` with keypad lines on stdin and a file printer (the spool)."""

    def __init__(self, broker: RunningBroker, directory: Path, site: dict | None = None, device: str = "kiosk-1"):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.spool = directory / "lp0"
        self.data_dir = directory / "kiosk-data"
        options = dict(pin_factory="keyboard", printer={"transport": "file", "path": str(self.spool)},
                       leds={}, priority_pin=None, rate_limit_count=1000, debounce_s=0)
        if site is None:
            self.config = write_kiosk_config(directory, broker, **options)
        else:  # a kiosk of another site (the soak's)
            section = kiosk_dict(directory, **options, site=site["id"], device_id=device)
            section = {k: v for k, v in section.items() if v is not None and v != {}}
            section["buttons"] = {"tu-phap-ho-tich": 17, "chung-thuc": 27}
            data = {"broker": {"host": "127.0.0.1", "port": broker.port, "username": device,
                               "password": broker.passwords[device]},
                    "kiosk": section, "sites": [site]}
            self.config = write_toml(directory / "kiosk.toml", data)
        self.process: subprocess.Popen | None = None

    def start(self, crash_at: str | None = None) -> KioskProcess:
        extra = {"XEPHANG_KIOSK_CRASH_AT": crash_at} if crash_at else {}
        log = open(self.directory / "kiosk.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "--config", str(self.config)],
            cwd=ROOT, env=clean_env(**extra), stdin=subprocess.PIPE, stdout=log, stderr=log, text=True,
            start_new_session=True,
        )
        log.close()
        return self

    def press(self, letter: str) -> bool:
        """Type one keypad line; False when the process is gone (e.g. it crashed on purpose)."""
        try:
            self.process.stdin.write(letter + "\n")  # type: ignore[union-attr]
            self.process.stdin.flush()  # type: ignore[union-attr]
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def issue(self, letter: str, timeout_s: float = 20.0) -> bool:
        """Press and wait for the slip (a press during a print is refused, as at a real
        kiosk). False when the process died before the slip came out."""
        before, announced = self.cuts(), self.announced()
        if not self.press(letter):
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # The slip is cut before the press gate opens again; the announcement
            # ("Đã in phiếu số ...") comes after it.
            if self.cuts() > before and self.announced() > announced:
                return True
            if self.process.poll() is not None:  # type: ignore[union-attr]
                return False
            time.sleep(0.01)
        raise AssertionError(f"no slip within {timeout_s} s after pressing {letter!r}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """End of input: the kiosk drains its outbox (while connected) and exits."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError):
                pass
            try:
                return self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def announced(self) -> int:
        log = self.directory / "kiosk.log"
        return log.read_text(encoding="utf-8", errors="replace").count("Đã in phiếu số") if log.exists() else 0

    def cuts(self) -> int:
        """Slips that came out of the printer (one paper cut per ticket)."""
        return self.spool.read_bytes().count(b"\x1dV\x00") if self.spool.exists() else 0

    def records(self) -> dict[str, dict]:
        """The kiosk's own record of every ticket it numbered, by ticket id."""
        db = sqlite3.connect(self.data_dir / "kiosk.sqlite3")
        try:
            rows = db.execute("SELECT ticket_id, number, service, day, state FROM tickets").fetchall()
        finally:
            db.close()
        return {r[0]: {"number": r[1], "service": r[2], "day": r[3], "state": r[4]} for r in rows}

    def unsent(self) -> int:
        db = sqlite3.connect(self.data_dir / "kiosk.sqlite3")
        try:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE state != 'sent'").fetchone()[0]
        finally:
            db.close()


# -- a desk at work --------------------------------------------------------------------
@dataclass
class DeskLog:
    called: set[str] = field(default_factory=set)
    completed: dict[str, str] = field(default_factory=dict)  # ticket id -> outcome
    errors: Counter = field(default_factory=Counter)


class Desk:
    """A desk officer calling and completing tickets through the REST API, riding out
    server restarts (a refused request is retried later, never counted as done)."""

    OUTCOMES = ("returned", "appointment", "guided", "returned")

    def __init__(self, server: ServerProcess, counter: str = "quay-1", pause_s: float = 0.05, site: str = SITE_ID):
        self.server, self.counter, self.pause_s, self.site = server, counter, pause_s, site
        self.token = server.desk_tokens[site]
        self.log = DeskLog()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"desk-{site}-{counter}", daemon=True)
        self._current: str | None = None
        self._n = 0

    def _post(self, action: str, body: dict | None = None) -> tuple[int, dict]:
        path = f"/api/v1/sites/{self.site}/counters/{self.counter}/{action}"
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = httpx.post(self.server.url + path, json=body, headers=headers, timeout=5)
        except httpx.HTTPError as exc:
            self.log.errors[type(exc).__name__] += 1
            return 0, {}
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {}

    def step(self) -> None:
        if self._current is None:
            status, body = self._post("next")
            if status == 200:
                self._current = body["ticket_id"]
                self.log.called.add(self._current)
            elif status == 409 and body.get("code") == "counter_busy":
                self._current = self._busy_ticket()
            else:
                self.log.errors[str(status or "down")] += 1
            return
        outcome = self.OUTCOMES[self._n % len(self.OUTCOMES)]
        status, body = self._post("complete", {"outcome": outcome})
        if status == 200:
            self.log.completed[body["ticket_id"]] = body["outcome"]
            self._n += 1
            self._current = None
        elif status == 409 and body.get("code") == "no_current_ticket":
            # The complete was committed but its answer was lost (the server died after
            # the commit): the console shows the counter free and the ticket completed.
            found = self._ticket_status(self._current)
            if found is None:  # the server is down again: ask later
                self.log.errors["down"] += 1
                return
            if found == "completed":
                self.log.completed[self._current] = outcome
                self._n += 1
            self._current = None
        else:
            self.log.errors[str(status or "down")] += 1

    def _ticket_status(self, ticket_id: str) -> str | None:
        try:
            response = httpx.get(f"{self.server.url}/api/v1/tickets/{ticket_id}", timeout=5)
            return response.json().get("status")
        except (httpx.HTTPError, ValueError):
            return None

    def _busy_ticket(self) -> str | None:
        """After a lost response: the ticket the counter holds, from the desk view."""
        try:
            response = httpx.get(
                f"{self.server.url}/api/v1/sites/{self.site}/counters/{self.counter}/view",
                headers={"Authorization": f"Bearer {self.token}"}, timeout=5,
            )
            current = response.json().get("current") or {}
        except (httpx.HTTPError, ValueError):
            return None
        ticket_id = current.get("ticket_id")
        if ticket_id:
            self.log.called.add(ticket_id)
        return ticket_id

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.pause_s)

    def start(self) -> Desk:
        self._thread.start()
        return self

    def stop(self) -> DeskLog:
        self._stop.set()
        self._thread.join(15)
        return self.log


# -- a burst of traffic ----------------------------------------------------------------
def publisher(broker: RunningBroker, user: str = "server", inflight: int = 1000) -> Any:
    import uuid

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(user, broker.passwords[user])
    client.max_inflight_messages_set(inflight)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish_all(client: Any, items: Any, window: int = 3000, timeout_s: float = 120) -> int:
    """Publish (topic, payload) pairs at QoS 1, at most `window` unacknowledged at once
    (paho's message ids are 16 bits, and its resend scan grows with what is outstanding)."""
    from collections import deque

    pending: deque = deque()
    count = 0
    for topic, payload in items:
        if len(pending) >= window:
            pending.popleft().wait_for_publish(timeout_s)
        pending.append(client.publish(topic, payload, qos=1))
        count += 1
    for info in pending:
        info.wait_for_publish(timeout_s)
    return count


def synthetic_events(site_id: str, tickets: int, seed: int = 1) -> list[Any]:
    from protocol.sites import Site
    from tests.support import site_dict
    from tests.synthetic import default_start, ticket_lives

    return ticket_lives(Site.model_validate(site_dict(site_id)), tickets, default_start(), seed=seed)


# -- reconciliation --------------------------------------------------------------------
def server_rows(database: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(database)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def reconcile(server: ServerProcess, kiosks: list[KioskProcess], desk: DeskLog | None = None,
              site: str = SITE_ID) -> dict[str, int]:
    """Raise AssertionError unless every printed ticket is at the server exactly once and
    the statistics equal a recomputation from the kiosks' and the desk's own records.
    Returns the figures (printed, stored, doubled, lost) for the reliability table."""
    printed: dict[str, dict] = {}
    published: dict[str, dict] = {}  # printed, or numbered before a crash and published unconfirmed
    for kiosk in kiosks:
        records = kiosk.records()
        printed.update({k: v for k, v in records.items() if v["state"] == "printed"})
        published.update({k: v for k, v in records.items() if v["state"] in ("printed", "unconfirmed")})
    issued = server_rows(server.database, "SELECT ticket_id, json_extract(payload, '$.data.number'), "
                                          "COALESCE(json_extract(payload, '$.data.unconfirmed'), 0) FROM events "
                                          "WHERE type = 'ticket.issued' AND site = ?", (site,))
    per_ticket = Counter(ticket_id for ticket_id, _, _ in issued)
    doubled = sum(1 for n in per_ticket.values() if n > 1)
    lost = sorted(set(published) - set(per_ticket))
    ghosts = sorted(set(per_ticket) - set(published))
    assert not lost, f"{len(lost)} printed ticket(s) never reached the server: {lost[:5]}"
    assert not doubled, f"{doubled} ticket(s) stored twice"
    assert not ghosts, f"{len(ghosts)} ticket(s) at the server were never printed: {ghosts[:5]}"
    assert {t: n for t, n, _ in issued} == {t: r["number"] for t, r in published.items()}
    # A ticket whose print the kiosk could not confirm arrives marked so, and only those.
    assert {t for t, _, u in issued if u} == set(published) - set(printed)
    expected = Counter(r["service"] for r in published.values())
    rows = [r for r in server.stats("site,service") if r["site"] == site]
    assert {r["service"]: r["issued"] for r in rows if r["issued"]} == dict(expected)
    if desk is not None:
        assert sum(r["completed"] for r in rows) == len(desk.completed)
        expected_received = sum(1 for o in desk.completed.values() if o in ("returned", "appointment"))
        assert sum(r["received"] for r in rows) == expected_received
        completed_at_server = {t for (t,) in server_rows(server.database,
                                                         "SELECT ticket_id FROM tickets WHERE status = 'completed' AND site = ?",
                                                         (site,))}
        assert completed_at_server == set(desk.completed)
    return {"printed": len(printed), "unconfirmed": len(published) - len(printed), "stored": len(per_ticket),
            "doubled": doubled, "lost": len(lost)}
