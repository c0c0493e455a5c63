"""Message texts: Vietnamese defaults, per-site overrides, the number said the way the
board says it, and length checks against a channel's limit (ZNS 400 characters, SMS
brandname one 160-character message without accents). Pure functions; imports protocol only.
"""

from __future__ import annotations

import string
import unicodedata
from typing import Any

from protocol.speech import SpeechError, ticket_words

KINDS = ("near", "called", "recalled", "booking_day_before", "booking_soon", "rating")
DEFAULT_TEXTS = {
    "near": "Sắp đến lượt số {number} ({words}) tại {site}: còn {ahead} người trước bạn{wait}.",
    "called": "Mời công dân có số thứ tự {number} ({words}) đến quầy số {counter}.",
    "recalled": "Nhắc lại: mời số {number} ({words}) đến quầy số {counter}.",
    "booking_day_before": "Nhắc lịch hẹn: {service} lúc {time} ngày {date} tại {site}.",
    "booking_soon": "Lịch hẹn của bạn lúc {time} tại {site}: còn 30 phút, mời bạn đến.",
    "rating": "Cảm ơn bạn đã đến {site}. Mời bạn đánh giá trên trang số thứ tự của bạn.",
}
# What a worst-case message carries, to check a text against a channel's limit at start.
LONGEST = {
    "number": "A1023", "words": "a, một nghìn không trăm hai mươi ba", "site": "x" * 60, "ahead": "50",
    "minutes": "240", "wait": ", khoảng 240 phút", "counter": "10", "service": "x" * 40, "time": "16:30", "date": "31/12/2026",
}
ZNS_MAX = 400


class TextError(ValueError):
    """A configured text is unusable: unknown placeholder, or too long for a channel."""


def text_for(kind: str, site: str, texts: dict[str, str], site_texts: dict[str, dict[str, str]]) -> str:
    return site_texts.get(site, {}).get(kind) or texts.get(kind) or DEFAULT_TEXTS[kind]


def render(template: str, params: dict[str, Any]) -> str:
    values = dict(params)
    if "number" in values and "words" not in values:
        try:
            values["words"] = ticket_words(str(values["number"]))
        except SpeechError:
            values["words"] = str(values["number"])
    return unicodedata.normalize("NFC", template.format_map(_Missing(values)))


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


ASCII_PUNCTUATION = {"—": "-", "–": "-", "…": "...", "“": '"', "”": '"', "‘": "'", "’": "'"}


def unaccented(text: str) -> str:
    """Vietnamese without accents, in plain ASCII (SMS brandname in one GSM message): đ → d, ư → u…"""
    text = text.replace("đ", "d").replace("Đ", "D")
    for wide, plain in ASCII_PUNCTUATION.items():
        text = text.replace(wide, plain)
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicoding_mark(c))
    return bare.encode("ascii", "replace").decode("ascii")


def unicoding_mark(c: str) -> bool:
    return unicodedata.category(c) == "Mn"


def check(template: str, limit: int, plain: bool = False, known: dict[str, Any] | None = None) -> int:
    """The longest this template renders to (with `known` values, e.g. the site's name,
    and the longest of the others); TextError when over `limit` or it names an unknown
    placeholder."""
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    unknown = names - set(LONGEST)
    if unknown:
        raise TextError(f"unknown placeholder(s) {sorted(unknown)} in {template!r}")
    longest = render(template, LONGEST | (known or {}))
    length = len(unaccented(longest) if plain else longest)
    if length > limit:
        raise TextError(f"text may reach {length} characters, over the channel's {limit}: {template!r}")
    return length
