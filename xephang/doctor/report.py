"""`xephang doctor`: checks a machine for its role and says what is wrong, plainly.

Each check returns findings (ok / warn / fail) whose text is an English message id with
parameters, shown in Vietnamese and in English. A check never raises: a missing part
(no pygame on a kiosk, no printer library) is itself a finding. The checks live in
xephang/doctor/checks.py and devices.py (they import their hardware libraries inside
each check); the types in findings.py; this module chooses them per role and runs them.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

from protocol.i18n import translator
from xephang.doctor import checks as c
from xephang.doctor import devices as d
from xephang.doctor.findings import LABELS, ROLES, Check, Context, Finding, _, skipped

log = logging.getLogger(__name__)

def guess_role(config: Path | None) -> str:
    """The role a config is for, from its sections (kiosk, display, server), else broker."""
    if config is None or not config.is_file():
        return "broker"
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return "broker"
    for role in ("kiosk", "display", "server"):
        if role in data:
            return role
    if "counter_display" in data:
        return "counter-display"
    return "broker"


def load_secrets(path: Path, environ: dict[str, str]) -> bool:
    """Read KEY=VALUE lines of the systemd EnvironmentFile (the broker password) into
    `environ` unless already set there; False when the file is absent or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        environ.setdefault(key.strip(), value.strip())
    return True


def plan(role: str) -> list[tuple[str, Check]]:
    """The checks for a role, in the order they are shown."""
    common = [("config", c.check_config), ("clock", c.check_clock), ("broker", c.check_broker)]
    extra: dict[str, list[tuple[str, Check]]] = {
        "server": [("mosquitto", c.check_mosquitto), ("database", c.check_databases), ("disk", c.check_disk)],
        "broker": [("mosquitto", c.check_mosquitto), ("disk", c.check_disk)],
        "kiosk": [("gpio", d.check_gpio), ("printer", d.check_printer), ("font", d.check_fonts),
                  ("database", c.check_databases), ("disk", c.check_disk)],
        "display": [("screen", d.check_screen), ("audio", d.check_audio), ("font", d.check_fonts),
                    ("disk", c.check_disk)],
        "desk-keypad": [("gpio", d.check_gpio), ("disk", c.check_disk)],
        "counter-display": [("spi", d.check_spi), ("disk", c.check_disk)],
    }
    if role not in extra:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return common + extra[role]


def needs_config(role: str, name: str) -> bool:
    """Whether check `name` of `role` means anything without the role's settings: the
    display's fonts and sound are in its config; the kiosk's fonts are fixed (checked anyway)."""
    if name in ("font", "audio"):
        return role == "display"
    return name in ("broker", "gpio", "printer", "database", "spi")


def run(context: Context) -> list[Finding]:
    """Every check of the role; a check that breaks becomes a `fail` finding, a check that
    needs the settings when they did not load becomes a `fail` finding saying it was skipped."""
    findings: list[Finding] = []
    for name, check in plan(context.role):
        if context.settings is None and needs_config(context.role, name):
            findings.append(skipped(name))
            continue
        try:
            findings.extend(check(context))
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it never crashes
            log.debug("check %s failed", name, exc_info=True)
            findings.append(Finding(name, "fail", _("The check itself failed: {error}"),
                                    {"error": f"{type(exc).__name__}: {exc}"}))
    return findings


def report(findings: list[Finding], locales: tuple[str, ...] = ("vi", "en")) -> str:
    """Each finding as one line per language, then a summary."""
    lines: list[str] = []
    for finding in findings:
        for index, locale in enumerate(locales):
            tr = translator("xephang", locale)
            label = f"[{tr(LABELS[finding.status])}]"
            lead = f"{label:<12}" if index == 0 else " " * 12
            lines.append(f"{lead} {finding.text(locale)}")
    fails = sum(f.status == "fail" for f in findings)
    warns = sum(f.status == "warn" for f in findings)
    for locale in locales:
        tr = translator("xephang", locale)
        if fails:
            lines.append(tr("{fails} problem(s), {warns} warning(s): see above").format(fails=fails, warns=warns))
        elif warns:
            lines.append(tr("No problem; {warns} warning(s)").format(warns=warns))
        else:
            lines.append(tr("All checks passed"))
    return "\n".join(lines)


def exit_status(findings: list[Finding], strict: bool = False) -> int:
    if any(f.status == "fail" for f in findings):
        return 1
    if strict and any(f.status == "warn" for f in findings):
        return 1
    return 0
