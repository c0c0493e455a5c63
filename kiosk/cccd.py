"""Priority from the citizen ID card (CCCD): read the QR on the back of a chip ID card and
keep only what the queue needs, the priority category.

The QR holds `|`-separated fields: 12-digit ID number, old 9-digit number (may be empty),
full name, date of birth DDMMYYYY, sex, address, issue date DDMMYYYY (7 fields); a
variant without the old number has 6. `read_card` checks the shape, works out the
holder's age on `today` and answers a `CardVerdict`: priority (with the category),
ordinary, or unreadable. Nothing of the card leaves this function: no field is returned,
stored, logged or sent (tests assert it). Pure: no I/O, no clock. Imports only the
standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

# A card QR is about 100-250 characters; anything far longer is not a card.
MAX_PAYLOAD = 1024
DEFAULT_AGE = 60
_ID = re.compile(r"\d{12}")
_OLD_ID = re.compile(r"(\d{9})?")
_DAY = re.compile(r"\d{8}")

Outcome = Literal["priority", "ordinary", "unreadable"]


def _(message: str) -> str:
    """Marks a message id for the catalog (kiosk/locale); translated when spoken or shown."""
    return message


MESSAGES: dict[Outcome, str] = {
    "priority": _("ID card read: priority ticket. Please choose a service."),
    "ordinary": _("ID card read. Please choose a service."),
    "unreadable": _("This card could not be read. Please choose a service for an ordinary ticket."),
}


@dataclass(frozen=True)
class CardVerdict:
    outcome: Outcome
    category: str | None = None  # the priority category, only when outcome == "priority"

    @property
    def message(self) -> str:
        """English message id of what the kiosk says (translated by the kiosk's catalog)."""
        return MESSAGES[self.outcome]


def _day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def read_card(payload: str | bytes, today: date, *, category: str | None, age: int = DEFAULT_AGE) -> CardVerdict:
    """The verdict for one scanned payload. Never raises. `category` None (the site has no
    priority for age) makes every readable card ordinary."""
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return CardVerdict("unreadable")
    text = payload.strip()
    if not text or len(text) > MAX_PAYLOAD or "\n" in text:
        return CardVerdict("unreadable")
    fields = text.split("|")
    if len(fields) == 6:
        fields.insert(1, "")
    if len(fields) != 7:
        return CardVerdict("unreadable")
    number, old_number, name, born_text, _sex, _address, issued_text = fields
    born, issued = _day(born_text), _day(issued_text)
    if (
        not _ID.fullmatch(number) or not _OLD_ID.fullmatch(old_number) or not name.strip()
        or born is None or issued is None or born > today or issued < born
    ):
        return CardVerdict("unreadable")
    if category is not None and _age(born, today) >= age:
        return CardVerdict("priority", category)
    return CardVerdict("ordinary")
