"""`xephang demo`: a whole reception point on this machine, with a sped-up office day.

Starts Mosquitto from a generated config, the server, a kiosk (keypad input, file
printer, every ticket also saved as PNG), a display board (a window when a screen is
available, else headless with a snapshot the server serves), then replays a simulated
day at `speedup` times real time: citizens press the kiosk's keys, simulated officers
work counters 2.. through the REST API, and a person may press kiosk keys on this
terminal and work counter 1 in the browser. Every child runs in its own process group
and is stopped on Ctrl-C; `stop()` checks that none is left.

Imports no FastAPI, pygame or escpos itself: the parts run as `xephang` sub-processes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from broker.config import BrokerProcess, find_mosquitto, free_port, write_config
from protocol import clock
from protocol.errors import XephangError
from protocol.settings import Device
from protocol.sites import Site
from xephang.simulate import SimulationModel, arrivals

log = logging.getLogger(__name__)
# The kiosk's "ticket printed" line, in Vietnamese or English (kiosk/locale/vi.po).
PRINTED = re.compile(r"(?:Đã in phiếu số|Ticket) ([A-Z]?\d+)(?: printed)?$")

SITE_ID = "xa-demo"


def demo_site() -> dict[str, Any]:
    return {
        "id": SITE_ID,
        "name": "Trung tâm Phục vụ hành chính công xã Phù Đổng (trình diễn)",
        "timezone": "Asia/Ho_Chi_Minh",
        "notice": "Đây là bản trình diễn xephang: một ngày làm việc được tua nhanh.",
        "hours": {"weekdays": [0, 1, 2, 3, 4, 5, 6], "open": "07:30:00", "close": "17:00:00", "last_ticket": "16:30:00"},
        "services": [
            {"id": "tu-phap-ho-tich", "name": "Tư pháp - Hộ tịch", "name_en": "Civil status", "letter": "A"},
            {"id": "chung-thuc", "name": "Chứng thực bản sao, chữ ký", "name_en": "Certification", "letter": "B"},
            {"id": "dat-dai", "name": "Đất đai", "name_en": "Land", "letter": "C", "target_eligible": False},
        ],
        "counters": [
            {"id": "quay-1", "number": 1, "name": "Quầy 1 - Hộ tịch", "services": ["tu-phap-ho-tich", "chung-thuc"]},
            {"id": "quay-2", "number": 2, "name": "Quầy 2 - Chứng thực", "services": ["chung-thuc", "tu-phap-ho-tich"]},
            {"id": "quay-3", "number": 3, "name": "Quầy 3 - Hộ tịch", "services": ["tu-phap-ho-tich", "chung-thuc"]},
            {"id": "quay-4", "number": 4, "name": "Quầy 4 - Đất đai", "services": ["dat-dai"]},
        ],
        "priorities": [{"id": "elderly", "name": "Người cao tuổi"}],
        "max_consecutive_priority": 3,
    }


# The demo runs on Mosquitto only (no broker of our own: docs/architecture.md).
NEEDS_MOSQUITTO = ("Bản trình diễn cần Mosquitto / the demo needs Mosquitto: "
                   "sudo apt-get install mosquitto (or run `make demo`, which installs it)")


# The demo's simulated day: 07:30 (opening) to 17:30, half an hour after closing (day-end
# closes what is left at 17:00); then the clock jumps to 07:30 the next day.
DAY_START = dtime(7, 30)
DAY_S = 10 * 3600.0


@dataclass
class DemoOptions:
    directory: Path = Path("var/demo")
    speedup: float = 60.0
    duration_s: float | None = None  # stop after this many real seconds (tests)
    headless: bool | None = None  # None: a window when $DISPLAY or $WAYLAND_DISPLAY is set
    http_port: int = 8000
    tickets_per_day: int = 120
    seed: int = 1
    human_counter: str = "quay-1"
    forward_stdin: bool = True
    echo_kiosk: bool = True  # what the kiosk says, echoed on this terminal


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Demo:
    options: DemoOptions
    children: list[Child] = field(default_factory=list)
    broker: BrokerProcess | None = None
    broker_name: str = "Mosquitto"
    accounts: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)
    counts: dict[str, int] = field(default_factory=lambda: {"pressed": 0, "called": 0, "completed": 0, "no_show": 0})
    day_number: int = 0  # simulated days finished

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.options.http_port}"

    # -- set-up -----------------------------------------------------------------------
    def prepare(self) -> Path:
        directory = self.options.directory.resolve()
        directory.mkdir(parents=True, exist_ok=True)
        for stale in ("server.db", "server.db-wal", "server.db-shm"):
            (directory / stale).unlink(missing_ok=True)
        for folder in ("kiosk", "tickets"):
            for path in (directory / folder).glob("*"):
                if path.is_file():
                    path.unlink()
        devices = [
            Device(id="server", role="server"),
            Device(id="kiosk-1", role="kiosk", site=SITE_ID),
            Device(id="display-1", role="display", site=SITE_ID),
        ]
        passwords = {d.id: secrets.token_urlsafe(12) for d in devices}
        self.broker_port = free_port()
        conf = write_config(directory / "broker", devices, passwords, self.broker_port,
                            run_as_user=_current_user())
        if find_mosquitto() is None:
            raise XephangError(NEEDS_MOSQUITTO)
        self.broker = BrokerProcess(conf, self.broker_port)
        self.broker_name = "Mosquitto"
        # One office day (07:30 to half an hour after closing, when day-end has run) after
        # another: the demo runs until stopped and never spends real minutes on a night.
        self.clock_env = clock.environment_for(self._origin(), time.time() + 5, self.options.speedup, DAY_S)
        config = {
            "locale": "vi",
            "broker": {"host": "127.0.0.1", "port": self.broker_port},
            "sites": [demo_site()],
            "devices": [d.model_dump(exclude_none=True) for d in devices],
            "server": {
                "database": str(directory / "server.db"), "http_host": "127.0.0.1", "http_port": self.options.http_port,
                "dispatch_sites": [SITE_ID], "public_url": self.base_url, "demo": True,
                "board_snapshot": str(directory / "board.png"),
            },
            "kiosk": {
                "site": SITE_ID, "device_id": "kiosk-1", "pin_factory": "keyboard",
                "buttons": {"tu-phap-ho-tich": 17, "chung-thuc": 27, "dat-dai": 22},
                "priority_pin": 23, "rate_limit_count": 1000, "rate_limit_window_s": 1, "debounce_s": 0,
                "data_dir": str(directory / "kiosk"), "public_url": self.base_url,
                "ticket_png_dir": str(directory / "tickets"),
                "printer": {"transport": "file", "path": str(directory / "tickets" / "printer.bin"),
},
            },
            # A call older than this (simulated seconds) is shown but not spoken: five real
            # seconds of the sped-up day, so a busy machine does not silence the demo.
            "display": {"site": SITE_ID, "device": "display-1",
                        "announce_max_age_s": max(120.0, 5 * self.options.speedup)},
        }
        (directory / "tickets").mkdir(exist_ok=True)
        self.config_path = directory / "demo.toml"
        self.passwords = passwords
        _write_toml(self.config_path, config)
        self._create_accounts(directory / "server.db")
        return self.config_path

    def _origin(self) -> datetime:
        site = Site.model_validate(demo_site())
        today = clock.real_now().astimezone(site.zone).date()
        return datetime.combine(today, DAY_START, site.zone)

    def _create_accounts(self, database: Path) -> None:
        from server.storage.events import EventStore
        from server.web.auth import create_token, create_user

        site = Site.model_validate(demo_site())
        store = EventStore(database, [site])
        try:
            self.accounts = {"canbo1": secrets.token_urlsafe(8), "lanhdao": secrets.token_urlsafe(8),
                             "quantri": secrets.token_urlsafe(8)}
            create_user(store, "canbo1", self.accounts["canbo1"], "desk", [SITE_ID], [self.options.human_counter])
            create_user(store, "lanhdao", self.accounts["lanhdao"], "manager", [SITE_ID], [])
            create_user(store, "quantri", self.accounts["quantri"], "admin", [], [])
            for counter in site.counters:
                if counter.id == self.options.human_counter:
                    continue
                name = f"mo-phong-{counter.id}"
                create_user(store, name, secrets.token_urlsafe(16), "desk", [SITE_ID], [counter.id])
                self.tokens[counter.id] = create_token(store, name, "demo")
        finally:
            store.close()

    # -- processes --------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None, stdin: Any = None) -> Child:
        log_path = self.options.directory.resolve() / f"{name}.log"
        env = {**os.environ, **self.clock_env, **(extra_env or {})}
        env["XEPHANG_BROKER__USERNAME"] = {"server": "server", "kiosk": "kiosk-1", "display": "display-1"}[name]
        env["XEPHANG_BROKER__PASSWORD"] = self.passwords[env["XEPHANG_BROKER__USERNAME"]]
        handle = open(log_path, "ab")
        echo = name == "kiosk" and self.options.echo_kiosk
        process = subprocess.Popen(
            [sys.executable, "-m", "xephang.cli", *args, "--config", str(self.config_path)],
            stdout=subprocess.PIPE if echo else handle, stderr=handle, stdin=stdin, env=env, start_new_session=True,
        )
        child = Child(name, process, log_path)
        self.children.append(child)
        if echo:
            threading.Thread(target=self._echo, args=(process, handle), name="kiosk-echo", daemon=True).start()
        return child

    def _echo(self, process: subprocess.Popen[bytes], log_file: Any) -> None:
        """What the kiosk says ("Đã in phiếu số A006", "Phím không hợp lệ: x", "Đã hết giờ
        lấy số …") goes to its log and to this terminal, where the keys are typed; a printed
        ticket's PNG is named too."""
        assert process.stdout is not None
        tickets = self.options.directory.resolve() / "tickets"
        for raw in process.stdout:
            log_file.write(raw)
            log_file.flush()
            line = raw.decode("utf-8", "replace").rstrip()
            printed = PRINTED.search(line)
            if printed:
                day = self.sim_now().astimezone(Site.model_validate(demo_site()).zone).date().isoformat()
                line += f"  ({tickets / f'{day}-{printed.group(1)}.png'})"
            try:
                print(f"  [kiosk] {line}", flush=True)
            except (BrokenPipeError, ValueError, OSError):
                continue  # the terminal's pipe is gone (Ctrl-C while piped): keep the log only

    def start(self) -> None:
        if self.broker is None:
            raise RuntimeError("prepare() first")
        self.broker.start()
        self._spawn("server", ["server"])
        self._wait_http("/healthz", 30)
        self.kiosk = self._spawn("kiosk", ["kiosk"], stdin=subprocess.PIPE)
        headless = self.options.headless
        if headless is None:
            headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        board = str(self.options.directory.resolve() / "board.png")
        display_args = ["display", "--snapshot", board, "--snapshot-every", "2"]
        if headless:
            self._spawn("display", display_args + ["--size", "1366x768"],
                        {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
        else:
            self._spawn("display", display_args + ["--windowed", "--size", "1366x768"])
        self.headless = headless

    def _wait_http(self, path: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for child in self.children:
                if child.process.poll() is not None:
                    raise XephangError(f"{child.name} stopped at start; see {child.log_path}")
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers (503 while the broker link comes up is fine)
            except OSError:
                time.sleep(0.2)
        raise XephangError(f"the server did not answer on {self.base_url} within {timeout_s:.0f} s")

    def stop(self) -> list[str]:
        """Stop everything; returns the names of processes that had to be killed."""
        self.stop_event.set()
        killed = []
        for child in reversed(self.children):
            if child.process.poll() is None:
                try:
                    os.killpg(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for child in reversed(self.children):
            try:
                child.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(5)
                killed.append(child.name)
        if self.broker:
            self.broker.stop()
        return killed

    # -- the simulated day -------------------------------------------------------------
    def press(self, line: str) -> None:
        """A kiosk key press: a service letter, or `P A` for priority."""
        stdin = self.kiosk.process.stdin
        if stdin is None or self.kiosk.process.poll() is not None:
            return
        try:
            stdin.write((line.strip() + "\n").encode())
            stdin.flush()
            self.counts["pressed"] += 1
        except BrokenPipeError:
            pass

    def sim_now(self) -> datetime:
        return clock.from_environment(self.clock_env)()

    def sleep_sim(self, seconds: float) -> bool:
        """Sleep `seconds` of simulated time; False when the demo is stopping."""
        return not self.stop_event.wait(max(0.0, seconds / self.options.speedup))

    def _api(self, counter: str, action: str, body: dict | None = None) -> tuple[int, dict]:
        url = f"{self.base_url}/api/v1/sites/{SITE_ID}/counters/{counter}/{action}"
        request = urllib.request.Request(
            url, data=json.dumps(body or {}).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.tokens[counter]}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def sleep_until_sim(self, moment: datetime) -> bool:
        """Wait until the simulated clock reaches `moment` (it may jump over a night);
        False when the demo is stopping."""
        while (left_s := (moment - self.sim_now()).total_seconds()) > 0:
            if self.stop_event.wait(min(1.0, left_s / self.options.speedup)):
                return False
        return True

    def citizens(self) -> None:
        """Each simulated day's citizens press the kiosk keys at their arrival times; then
        the next day's, until the demo stops."""
        site = Site.model_validate(demo_site())
        model = SimulationModel(tickets_per_day=self.options.tickets_per_day)
        day = self._origin().date()
        letters = {s.id: s.letter for s in site.services if s.letter}  # the demo's kiosk keys
        number = 0
        while not self.stop_event.is_set():
            tickets = arrivals(site, model, day, random.Random(self.options.seed + number))
            for ticket in tickets:
                if ticket.issued_at < self.sim_now():
                    continue  # a late start: that citizen came before we began
                if not self.sleep_until_sim(ticket.issued_at):
                    return
                letter = letters[ticket.service]
                self.press(f"P {letter}" if ticket.priority else letter)
            self.day_number = number = number + 1
            day = day + timedelta(days=1)

    def office_open(self) -> bool:
        site = Site.model_validate(demo_site())
        local = self.sim_now().astimezone(site.zone).time()
        return site.hours.open <= local < site.hours.close

    def officer(self, counter: str, seed: int) -> None:
        """A simulated officer: in office hours, calls (which opens the counter again each
        morning, day-end having closed it at closing time), receives and completes tickets."""
        rng = random.Random(seed)
        self._api(counter, "open")
        while not self.stop_event.is_set():
            if not self.office_open():
                if not self.sleep_sim(300):
                    return
                continue
            status, body = self._api(counter, "next")
            if status != 200:
                if not self.sleep_sim(120):
                    return
                continue
            self.counts["called"] += 1
            if rng.random() < 0.04:
                if not self.sleep_sim(90):
                    return
                self._api(counter, "no-show")
                self.counts["no_show"] += 1
                continue
            if not self.sleep_sim(30):
                return
            self._api(counter, "start")
            if not self.sleep_sim(rng.lognormvariate(6.4, 0.5)):  # about 10 minutes
                return
            outcome = rng.choices(["returned", "appointment", "guided", "info"], [0.8, 0.12, 0.05, 0.03])[0]
            self._api(counter, "complete", {"outcome": outcome})
            self.counts["completed"] += 1

    def forward_keys(self) -> None:
        """Keys typed on this terminal go to the kiosk (a person pressing buttons)."""
        for line in sys.stdin:
            if self.stop_event.is_set():
                return
            if line.strip():
                self.press(line)

    def run(self) -> int:
        threads = [threading.Thread(target=self.citizens, name="citizens", daemon=True)]
        for index, counter in enumerate(self.tokens):
            # Seeded from --seed and the counter's place (hash() of a str changes per process).
            seed = self.options.seed * 1000 + index
            threads.append(threading.Thread(target=self.officer, args=(counter, seed), daemon=True))
        if self.options.forward_stdin and sys.stdin and sys.stdin.isatty():
            threads.append(threading.Thread(target=self.forward_keys, name="keys", daemon=True))
        for thread in threads:
            thread.start()
        started = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if self.options.duration_s is not None and time.monotonic() - started > self.options.duration_s:
                    break
                for child in self.children:
                    if child.process.poll() is not None:
                        raise XephangError(f"{child.name} stopped unexpectedly; see {child.log_path}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        return 0

    def banner(self) -> str:
        mode = "cửa sổ trên màn hình" if not self.headless else "chạy ẩn (không có màn hình)"
        accounts = "\n".join(f"    {user:<8} mật khẩu: {password}" for user, password in self.accounts.items())
        speedup = self.options.speedup
        day_min = DAY_S / speedup / 60
        return f"""
xephang — bản trình diễn một điểm tiếp nhận / demo of one reception point
  Broker: {self.broker_name} (cổng {self.broker_port})
  Tốc độ / speed: x{speedup:g} — 1 giây thật = {speedup:g} giây mô phỏng; mỗi ngày làm việc 07:30–17:30 dài
    khoảng {day_min:.0f} phút thật. Kiosk ngừng cấp số lúc 16:30, quầy đóng lúc 17:00, rồi sang 07:30 ngày hôm sau;
    chạy đến khi bấm Ctrl-C. (A {day_min:.0f}-minute office day, then the next one, until Ctrl-C.)
  Mọi phần dùng chung đồng hồ mô phỏng này (bảng gọi số, quầy, bảng điều khiển, trang phiếu).
  Quầy cán bộ (desk console): {self.base_url}/desk   (canbo1 làm quầy 1; quầy 2-4 do máy mô phỏng)
  Bảng điều khiển (dashboard): {self.base_url}/dashboard   (lanhdao)
  Bảng gọi số (board): {mode}; trang trực tiếp: {self.base_url}/demo/board
  Vé đã in (tickets): {self.options.directory.resolve() / 'tickets'}
  Tài khoản trình diễn (demo accounts, valid only in this demo):
{accounts}
  Bấm A, B, C rồi Enter để lấy số; "P A" cho người ưu tiên. Ctrl-C để dừng.
"""


def _current_user() -> str:
    import getpass

    return getpass.getuser()


def _write_toml(path: Path, data: dict[str, Any]) -> None:
    import tomli_w

    path.write_text(tomli_w.dumps(data), encoding="utf-8")
