"""The doctor's vocabulary: a finding, the context checks read, the message-id marker.
Imported by the checks and by the report; imports only protocol."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from protocol.i18n import translator

Status = Literal["ok", "warn", "fail"]
ROLES = ("server", "broker", "kiosk", "display", "desk-keypad", "counter-display")
def _(message: str) -> str:
    """Marks a message id for the catalog; translated when shown."""
    return message


LABELS = {"ok": _("OK"), "warn": _("Warning"), "fail": _("Problem")}


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str  # English message id with {named} fields
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, locale: str) -> str:
        tr = translator("xephang", locale)
        # parameters named *_msg are message ids themselves (words), the rest are values
        values = {k: tr(v) if k.endswith("_msg") else v for k, v in self.params.items()}
        return tr(self.message).format(**values)


@dataclass
class Context:
    """What the checks know: the role, the config file, the loaded settings (or None)."""

    role: str
    config: Path | None
    settings: Any = None
    server_url: str | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


Check = Callable[[Context], Iterable[Finding]]


# What each check is called in "Skipped the ... check" (a check with no entry is never skipped).
CHECK_NAMES = {"broker": _("broker"), "gpio": _("GPIO"), "printer": _("printer"), "database": _("database"),
               "font": _("font"), "audio": _("sound and voice"), "spi": _("SPI")}


def skipped(name: str) -> Finding:
    """The finding for a check left out because the configuration did not load: a warning,
    so that one bad config counts as one problem, not one per skipped check (issue 22)."""
    return Finding(name, "warn", _("Skipped the {check_msg} check: the configuration could not be read"),
                   {"check_msg": CHECK_NAMES[name]})
