"""How xephang says a ticket number and a call out loud, in Vietnamese words.

Numbers are spelled by our own code, never fed as digits to a speech engine (espeak-ng
reads "15" as "mười năm"). Two variants: "north" (nghìn, linh, hai mươi tư) and "south"
(ngàn, lẻ, hai mươi bốn). The display board and the server's ticket page both use this
module, so a number is said the same way everywhere.

A printed number such as "A023" is said as the Vietnamese name of the letter followed
by the value of the digits as a number ("a, hai mươi ba"): leading zeros are dropped,
because people compare what they hear with the big number on their ticket, and
"không không hai mươi ba" is slower and easier to mishear.

Pure functions; no I/O and no third-party imports here.
"""

from __future__ import annotations

import re
import string
from typing import Literal

from protocol.text import nfc

Variant = Literal["north", "south"]
VARIANTS: tuple[str, ...] = ("north", "south")
DEFAULT_TEMPLATE = "Mời công dân có số thứ tự {number} đến quầy số {counter}"
MAX_NUMBER = 999_999_999_999

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

# Vietnamese names of the Latin letters, as a Vietnamese listener expects to hear them
# read out in a queue ("số bê hai mươi ba"). F, J, W, Z are not in the Vietnamese
# alphabet; they get their usual spoken names.
LETTER_NAMES: dict[str, str] = {
    "A": "a", "B": "bê", "C": "xê", "D": "dê", "E": "e", "F": "ép", "G": "gờ",
    "H": "hát", "I": "i", "J": "giây", "K": "ca", "L": "lờ", "M": "mờ", "N": "nờ",
    "O": "o", "P": "pê", "Q": "quy", "R": "rờ", "S": "ét", "T": "tê", "U": "u",
    "V": "vê", "W": "vê kép", "X": "ích", "Y": "i dài", "Z": "dét",
}

_WORDS = {
    "north": {"thousand": "nghìn", "zero_tens": "linh"},
    "south": {"thousand": "ngàn", "zero_tens": "lẻ"},
}
_PRINTED = re.compile(r"^[A-Z0-9]{1,8}$")
_FIELD = re.compile(r"\{([^{}]*)\}")


class SpeechError(ValueError):
    """A number or template this module cannot say."""


def _check_variant(variant: str) -> dict[str, str]:
    if variant not in _WORDS:
        raise SpeechError(f"unknown variant {variant!r}; use one of {VARIANTS}")
    return _WORDS[variant]


def _below_hundred(n: int, variant: str) -> list[str]:
    """Words of 1..99 when nothing comes before them."""
    tens, units = divmod(n, 10)
    if tens == 0:
        return [_DIGITS[units]]
    words = ["mười"] if tens == 1 else [_DIGITS[tens], "mươi"]
    if units == 0:
        return words
    if units == 5:
        words.append("lăm")  # mười lăm, hai mươi lăm
    elif units == 1 and tens >= 2:
        words.append("mốt")  # hai mươi mốt (but mười một)
    elif units == 4 and tens >= 2 and variant == "north":
        words.append("tư")  # hai mươi tư (Northern usage; mười bốn everywhere)
    else:
        words.append(_DIGITS[units])
    return words


def _group(n: int, variant: str, full: bool) -> list[str]:
    """Words of a three-digit group 0..999.

    `full` means a higher group came before, so hundreds are said even when zero
    ("một nghìn không trăm hai mươi ba") and 1..9 take "linh"/"lẻ".
    """
    hundreds, rest = divmod(n, 100)
    words: list[str] = []
    if hundreds or full:
        words += [_DIGITS[hundreds], "trăm"]
    if rest == 0:
        return words
    if rest < 10 and words:
        return words + [_WORDS[variant]["zero_tens"], _DIGITS[rest]]
    return words + _below_hundred(rest, variant)


def number_words(n: int, variant: Variant = "north") -> str:
    """Say a whole number 0..999 999 999 999 in Vietnamese words.

    >>> number_words(1023)
    'một nghìn không trăm hai mươi ba'
    >>> number_words(105, "south")
    'một trăm lẻ năm'
    """
    words_of = _check_variant(variant)
    if isinstance(n, bool) or not isinstance(n, int):
        raise SpeechError(f"not a whole number: {n!r}")
    if n < 0 or n > MAX_NUMBER:
        raise SpeechError(f"number out of range 0..{MAX_NUMBER}: {n}")
    if n == 0:
        return _DIGITS[0]
    scales = ["", words_of["thousand"], "triệu", "tỷ"]
    groups: list[int] = []
    while n:
        n, part = divmod(n, 1000)
        groups.append(part)
    words: list[str] = []
    for index in range(len(groups) - 1, -1, -1):
        part = groups[index]
        if part == 0:
            continue
        words += _group(part, variant, full=bool(words))
        if scales[index]:
            words.append(scales[index])
    return " ".join(words)


def ticket_words(printed: str, variant: Variant = "north") -> str:
    """Say a printed ticket number: letters by their names, digit runs as numbers.

    >>> ticket_words("A023")
    'a, hai mươi ba'
    """
    _check_variant(variant)
    if not isinstance(printed, str) or not _PRINTED.match(printed):
        raise SpeechError(f"not a ticket number [A-Z0-9]{{1,8}}: {printed!r}"[:80])
    parts: list[str] = []
    for run in re.findall(r"[A-Z]+|[0-9]+", printed):
        if run.isdigit():
            parts.append(number_words(int(run), variant))
        else:
            parts.append(" ".join(LETTER_NAMES[letter] for letter in run))
    # A comma after letters gives speech engines (and clip joins) a short pause.
    return ", ".join(parts)


def check_template(template: str) -> str:
    """Return the template if it has exactly the fields {number} and {counter}."""
    fields = _FIELD.findall(template)
    if sorted(fields) != ["counter", "number"]:
        raise SpeechError(
            "the call sentence must contain {number} and {counter} once each "
            f"and no other {{fields}} (found {fields})"
        )
    return template


def call_sentence(
    number: str,
    counter_number: int,
    template: str = DEFAULT_TEMPLATE,
    variant: Variant = "north",
) -> str:
    """The sentence said for a call, in NFC, e.g.
    "Mời công dân có số thứ tự một nghìn không trăm hai mươi ba đến quầy số ba"."""
    check_template(template)
    text = template.replace("{number}", ticket_words(number, variant))
    text = text.replace("{counter}", number_words(counter_number, variant))
    return nfc(text)


PAUSE = ","
_STRIP = "".join(ch for ch in string.punctuation if ch != ",") + "“”‘’…–—"


def sentence_words(sentence: str) -> list[str]:
    """Split a sentence into lower-case NFC words for recorded clips; a comma becomes
    the pause token "," and other punctuation is dropped."""
    text = nfc(sentence).lower()
    text = text.replace(",", " , ").replace(".", " , ").replace(";", " , ")
    words: list[str] = []
    for raw in text.split():
        word = raw.strip(_STRIP)
        if word == PAUSE and (not words or words[-1] == PAUSE):
            continue
        if word:
            words.append(word)
    while words and words[-1] == PAUSE:
        words.pop()
    return words


def vocabulary(template: str = DEFAULT_TEMPLATE, variant: Variant = "north", letters: str = "") -> list[str]:
    """Every word a call can contain: the template's words, the number words of the
    variant, and the names of `letters` (the site's ticket letters). This is the list
    of recorded clips a board needs."""
    words_of = _check_variant(variant)
    fixed = sentence_words(check_template(template).replace("{number}", " ").replace("{counter}", " "))
    numbers = [*_DIGITS, "mười", "mươi", "mốt", "lăm", "trăm", words_of["zero_tens"], words_of["thousand"], "triệu", "tỷ"]
    if variant == "north":
        numbers.append("tư")
    names = [word for letter in letters for word in LETTER_NAMES[letter].split()]
    return list(dict.fromkeys(w for w in [*fixed, *numbers, *names] if w != PAUSE))
