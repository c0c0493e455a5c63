"""One translation layer for every user-facing string: gettext PO catalogs.

Message ids are English; Vietnamese is the default locale. Each package keeps its own
catalog at `<package>/locale/vi.po` (domain = package name), read directly at start
(no compile step). A test fails when a message used in code has no Vietnamese entry.
Usage::

    from protocol.i18n import translator
    _ = translator("kiosk")          # Vietnamese unless locale="en"
    _("Take a number")               # -> "Lấy số thứ tự"
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")


def _unquote(text: str) -> str:
    return ast.literal_eval(text) if text else ""


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a PO file (single and multi-line strings; no plurals)."""
    catalog: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None

    def flush() -> None:
        if msgid is not None and msgstr is not None:
            key = "".join(msgid)
            if key:
                catalog[key] = "".join(msgstr)

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            flush()
            msgid, msgstr = [_unquote(line[6:])], None
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [_unquote(line[7:])]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(_unquote(line))
    flush()
    return catalog


def catalog_path(domain: str, locale: str = "vi") -> Path:
    spec = importlib.util.find_spec(domain)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"no package {domain!r}")
    return Path(next(iter(spec.submodule_search_locations))) / "locale" / f"{locale}.po"


@cache
def load_catalog(domain: str, locale: str) -> dict[str, str]:
    path = catalog_path(domain, locale)
    return parse_po(path.read_text(encoding="utf-8")) if path.is_file() else {}


def translator(domain: str, locale: str = DEFAULT_LOCALE) -> Callable[[str], str]:
    """A `_` function for one package and locale; English ids pass through for "en"."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; use one of {LOCALES}")
    if locale == "en":
        return lambda message: message
    catalog = load_catalog(domain, locale)
    return lambda message: catalog.get(message) or message
