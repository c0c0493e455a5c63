"""Booking codes: unguessable, short enough to read aloud or type at a desk.

Ten symbols from 31 (no 0/O, 1/I/L), drawn with `secrets`: about 49.5 bits, so with the
rate limits of the booking page (docs/booking.md) guessing a code takes longer than any
booking lives. Written in two groups of five (`K7Q2M-XW9FD`); read back in any case,
with or without the dash or spaces. Standard library only.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10
_CANONICAL = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def canonical(text: str) -> str | None:
    """The stored form of a typed or scanned code, or None when it cannot be one. A QR
    holds the booking page's address; its last path element is the code."""
    tail = text.strip().rstrip("/").rsplit("/", 1)[-1]
    code = re.sub(r"[\s-]", "", tail).upper()[:32]
    return code if _CANONICAL.match(code) else None


def shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"
