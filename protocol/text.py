"""Vietnamese text in one form: NFC (composed letters). Every text that is stored,
compared, drawn or spoken goes through `nfc`, so "ệ" typed as e + two combining marks and
"ệ" as one letter are the same. Standard library only."""

from __future__ import annotations

import unicodedata


def nfc(text: str | None) -> str:
    """`text` in NFC; None becomes ""."""
    return unicodedata.normalize("NFC", text or "")
