"""Every text of the desk console and login pages has a Vietnamese translation (NFC)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from protocol.i18n import parse_po
from server.web.routes.desk import ERROR_TEXTS, FAULT_TEXTS, JS_TEXTS

SERVER = Path(__file__).resolve().parents[2] / "server" / "web"
CALL = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')\s*\)""")


def used_messages() -> set[str]:
    found = set(JS_TEXTS) | set(ERROR_TEXTS.values()) | set(FAULT_TEXTS.values())
    for path in [SERVER / "templates" / "desk.html", SERVER / "templates" / "login.html", SERVER / "routes" / "auth.py"]:
        for double, single in CALL.findall(path.read_text(encoding="utf-8")):
            found.add(double or single)
    return found


def test_every_desk_text_has_a_vietnamese_translation():
    text = (SERVER.parent / "locale" / "vi.po").read_text(encoding="utf-8")
    catalog = parse_po(text)
    used = used_messages()
    assert len(used) > 60
    missing = sorted(m for m in used if not catalog.get(m))
    assert missing == []
    for message in used:
        assert unicodedata.is_normalized("NFC", catalog[message])


def test_catalog_has_no_duplicate_message_ids():
    text = (SERVER.parent / "locale" / "vi.po").read_text(encoding="utf-8")
    ids = re.findall(r'^msgid "(.+)"$', text, flags=re.M)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []
