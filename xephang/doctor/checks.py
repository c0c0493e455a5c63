"""The checks of `xephang doctor`, one function per part; each yields findings.

Heavy or hardware imports (paho, escpos, gpiozero, pygame) happen inside the check
that needs them, and an import that fails is reported, not raised.
"""

from __future__ import annotations

import email.utils
import shutil
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protocol.clock import real_now
from xephang.doctor.findings import Context, Finding, Status, _

SKEW_WARN_S = 2.0
SKEW_FAIL_S = 30.0
DISK_FAIL_BYTES = 100 * 1024 * 1024
DISK_WARN_BYTES = 500 * 1024 * 1024


def _settings_class(role: str) -> Any:
    if role == "server":
        from server.settings import ServerSettings

        return ServerSettings
    if role == "kiosk":
        from kiosk.settings import KioskSettings

        return KioskSettings
    if role == "display":
        from display.settings import DisplaySettings

        return DisplaySettings
    if role == "counter-display":
        from counterdisplay.settings import CounterDisplaySettings

        return CounterDisplaySettings
    from protocol.settings import CommonSettings

    return CommonSettings


def check_config(ctx: Context) -> Iterator[Finding]:
    from protocol.settings import ConfigError, load_settings

    try:
        cls = _settings_class(ctx.role)
    except ImportError as exc:
        yield Finding("config", "fail", _("The {role} part of xephang is not installed ({error})"),
                      {"role": ctx.role, "error": exc.name or str(exc)})
        return
    try:
        ctx.settings = load_settings(cls, ctx.config)
        password = ctx.environ.get("XEPHANG_BROKER__PASSWORD")
        if password:  # from secrets.env: the environment wins over the TOML file
            from pydantic import SecretStr

            broker = ctx.settings.broker.model_copy(update={"password": SecretStr(password)})
            ctx.settings = ctx.settings.model_copy(update={"broker": broker})
    except ConfigError as exc:
        errors: list[dict[str, Any] | None] = list(exc.errors) if exc.errors else [None] * len(exc.lines)
        for line, error in zip(exc.lines, errors):
            if error is not None and error.get("type") == "missing":  # in words, not pydantic's "Field required"
                where = ".".join(str(part) for part in error["loc"]) or "config"
                if len(error["loc"]) == 1:
                    yield Finding("config", "fail", _("Configuration: the [{where}] table is missing (the {role} role needs it)"),
                                  {"where": where, "role": ctx.role})
                else:
                    yield Finding("config", "fail", _("Configuration: {where} is missing (required)"), {"where": where})
                continue
            yield Finding("config", "fail", _("Configuration: {line}"), {"line": line})
        return
    yield Finding("config", "ok", _("Configuration {path} is valid for the {role} role"),
                  {"path": ctx.config or "-", "role": ctx.role})


def _ntp_synchronized(ctx: Context) -> str | None:
    binary = shutil.which("timedatectl")
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout.strip()
    return answer if done.returncode == 0 and answer in ("yes", "no") else None


def _server_url(ctx: Context) -> str | None:
    if ctx.server_url:
        return ctx.server_url
    settings = ctx.settings
    for section in ("kiosk", "server"):
        url = getattr(getattr(settings, section, None), "public_url", None)
        if url:
            return str(url)
    return None


def clock_skew_s(url: str, now: Any = None, timeout_s: float = 5.0) -> float:
    """Our clock minus the server's (its HTTP Date header), halfway through the request."""
    clock = now or real_now  # the machine's own clock, whatever a demo says
    sent = clock()
    with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=timeout_s) as response:
        date = response.headers.get("Date")
    received = clock()
    if not date:
        raise ValueError("the server sent no Date header")
    theirs = email.utils.parsedate_to_datetime(date)
    midpoint = sent + (received - sent) / 2
    return (midpoint - theirs).total_seconds()


def check_clock(ctx: Context) -> Iterator[Finding]:
    synced = _ntp_synchronized(ctx)
    if synced == "yes":
        yield Finding("clock", "ok", _("Clock synchronized by NTP"))
    elif synced == "no":
        yield Finding("clock", "warn", _("Clock NOT synchronized by NTP: check the network time service (systemd-timesyncd)"))
    else:
        yield Finding("clock", "warn", _("Cannot tell whether the clock is synchronized (no timedatectl answer)"))
    if ctx.role == "server":
        return  # the server is the reference the devices are compared with
    url = _server_url(ctx)
    if not url:
        yield Finding("clock", "warn", _("No server address to compare the clock with (use --server-url)"))
        return
    try:
        skew = clock_skew_s(url)
    except (OSError, ValueError) as exc:
        yield Finding("clock", "warn", _("Could not compare the clock with the server at {url}: {error}"),
                      {"url": url, "error": exc})
        return
    # HTTP dates have whole seconds: up to one second of difference is only rounding.
    status: Status = "fail" if abs(skew) > SKEW_FAIL_S else "warn" if abs(skew) > SKEW_WARN_S else "ok"
    yield Finding("clock", status, _("Clock differs from the server's by {skew:+.1f} s"), {"skew": skew})


def broker_answer(host: str, port: int, username: str | None, password: str | None,
                  tls_ca: Path | None = None, timeout_s: float = 5.0) -> str:
    """'ok', 'refused' (credentials), 'unreachable: ...' or 'error: ...'."""
    import threading
    import uuid

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    result: dict[str, Any] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"doctor-{uuid.uuid4().hex[:8]}")
    if username:
        client.username_pw_set(username, password)
    if tls_ca:
        client.tls_set(ca_certs=str(tls_ca))

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        return f"unreachable: {exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return "unreachable: no answer"
        reason = result["reason"]
        if not reason.is_failure:
            return "ok"
        if reason.value in (4, 5, 134, 135):  # bad user name or password / not authorized
            return "refused"
        return f"error: {reason}"
    finally:
        client.disconnect()
        client.loop_stop()


def check_broker(ctx: Context) -> Iterator[Finding]:
    login = getattr(ctx.settings, "broker_login", None)  # a kiosk's user defaults to its device id
    broker = login() if callable(login) else ctx.settings.broker
    where = f"{broker.host}:{broker.port}"
    password = broker.password.get_secret_value() if broker.password else None
    if broker.username and not password:
        yield Finding("broker", "fail", _("No broker password for {user}: put it in secrets.env (XEPHANG_BROKER__PASSWORD)"),
                      {"user": broker.username})
        return
    try:
        answer = broker_answer(broker.host, broker.port, broker.username, password, broker.tls_ca)
    except ImportError as exc:
        yield Finding("broker", "fail", _("The MQTT library is not installed ({error})"), {"error": exc.name})
        return
    if answer == "ok":
        yield Finding("broker", "ok", _("Broker {where} accepts user {user}"), {"where": where, "user": broker.username or "-"})
    elif answer == "refused" and not broker.username:
        yield Finding("broker", "fail", _("Broker {where} refuses connections without a user: set broker.username "
                                          "(this device's id) and its password in secrets.env"), {"where": where})
    elif answer == "refused":
        yield Finding("broker", "fail", _("Broker {where} refuses user {user}: wrong user name or password"),
                      {"where": where, "user": broker.username})
    else:
        yield Finding("broker", "fail", _("Cannot reach the broker at {where} ({error})"), {"where": where, "error": answer})


def check_mosquitto(ctx: Context) -> Iterator[Finding]:
    from broker.config import find_mosquitto

    found = find_mosquitto()
    if found:
        yield Finding("mosquitto", "ok", _("Mosquitto installed at {path}"), {"path": found})
    else:
        yield Finding("mosquitto", "fail", _("Mosquitto is not installed (apt-get install mosquitto)"))


def _databases(ctx: Context) -> list[Path]:
    settings = ctx.settings
    paths = []
    if ctx.role == "server" and settings is not None:
        paths.append(Path(settings.server.database))
    if ctx.role == "kiosk" and settings is not None:
        from kiosk.store import FILE_NAME

        paths.append(Path(settings.kiosk.data_dir) / FILE_NAME)
    return paths


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()
    return "ok" if rows == ["ok"] else "; ".join(rows[:3])


def check_databases(ctx: Context) -> Iterator[Finding]:
    for path in _databases(ctx):
        if not path.exists():
            yield Finding("database", "warn", _("Database {path} does not exist yet (created at first start)"), {"path": path})
            continue
        try:
            result = integrity(path)
        except sqlite3.DatabaseError as exc:
            yield Finding("database", "fail", _("Database {path} cannot be read: {error}"), {"path": path, "error": exc})
            continue
        if result == "ok":
            yield Finding("database", "ok", _("Database {path} is intact (integrity check passed)"), {"path": path})
        else:
            yield Finding("database", "fail", _("Database {path} is damaged: {error}; restore a backup"),
                          {"path": path, "error": result})


def _data_dir(ctx: Context) -> Path:
    settings = ctx.settings
    if ctx.role == "kiosk" and settings is not None:
        return Path(settings.kiosk.data_dir)
    if ctx.role == "server" and settings is not None:
        return Path(settings.server.database).parent
    return Path(ctx.environ.get("XEPHANG_DATA_DIR", "/var/lib/xephang"))


def check_disk(ctx: Context) -> Iterator[Finding]:
    path = _data_dir(ctx).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    free_mb = usage.free // (1024 * 1024)
    params = {"path": path, "free": free_mb, "percent": 100 * usage.free // max(usage.total, 1)}
    if usage.free < DISK_FAIL_BYTES:
        yield Finding("disk", "fail", _("Disk almost full at {path}: {free} MB free ({percent}%)"), params)
    elif usage.free < DISK_WARN_BYTES:
        yield Finding("disk", "warn", _("Little disk space at {path}: {free} MB free ({percent}%)"), params)
    else:
        yield Finding("disk", "ok", _("Disk space at {path}: {free} MB free ({percent}%)"), params)

