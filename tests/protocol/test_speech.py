"""Vietnamese number words and the call sentence (protocol.speech)."""

from __future__ import annotations

import unicodedata

import pytest

from protocol.speech import (
    DEFAULT_TEMPLATE,
    SpeechError,
    call_sentence,
    check_template,
    number_words,
    sentence_words,
    ticket_words,
)

# (number, Northern reading, Southern reading) — written by hand, not generated.
TABLE = [
    (0, "không", "không"),
    (1, "một", "một"),
    (4, "bốn", "bốn"),
    (5, "năm", "năm"),
    (10, "mười", "mười"),
    (11, "mười một", "mười một"),
    (14, "mười bốn", "mười bốn"),
    (15, "mười lăm", "mười lăm"),
    (20, "hai mươi", "hai mươi"),
    (21, "hai mươi mốt", "hai mươi mốt"),
    (24, "hai mươi tư", "hai mươi bốn"),
    (25, "hai mươi lăm", "hai mươi lăm"),
    (55, "năm mươi lăm", "năm mươi lăm"),
    (99, "chín mươi chín", "chín mươi chín"),
    (100, "một trăm", "một trăm"),
    (101, "một trăm linh một", "một trăm lẻ một"),
    (104, "một trăm linh bốn", "một trăm lẻ bốn"),
    (105, "một trăm linh năm", "một trăm lẻ năm"),
    (110, "một trăm mười", "một trăm mười"),
    (111, "một trăm mười một", "một trăm mười một"),
    (115, "một trăm mười lăm", "một trăm mười lăm"),
    (121, "một trăm hai mươi mốt", "một trăm hai mươi mốt"),
    (1000, "một nghìn", "một ngàn"),
    (1005, "một nghìn không trăm linh năm", "một ngàn không trăm lẻ năm"),
    (1010, "một nghìn không trăm mười", "một ngàn không trăm mười"),
    (1023, "một nghìn không trăm hai mươi ba", "một ngàn không trăm hai mươi ba"),
    (1100, "một nghìn một trăm", "một ngàn một trăm"),
    (2024, "hai nghìn không trăm hai mươi tư", "hai ngàn không trăm hai mươi bốn"),
    (3999, "ba nghìn chín trăm chín mươi chín", "ba ngàn chín trăm chín mươi chín"),
    (10000, "mười nghìn", "mười ngàn"),
    (15015, "mười lăm nghìn không trăm mười lăm", "mười lăm ngàn không trăm mười lăm"),
    (21001, "hai mươi mốt nghìn không trăm linh một", "hai mươi mốt ngàn không trăm lẻ một"),
    (1_000_000, "một triệu", "một triệu"),
    (1_000_005, "một triệu không trăm linh năm", "một triệu không trăm lẻ năm"),
    (2_500_000, "hai triệu năm trăm nghìn", "hai triệu năm trăm ngàn"),
]


@pytest.mark.parametrize(("n", "north", "south"), TABLE)
def test_number_words_table(n, north, south):
    assert number_words(n, "north") == north
    assert number_words(n, "south") == south
    assert unicodedata.is_normalized("NFC", number_words(n))


@pytest.mark.parametrize(
    ("printed", "said"),
    [
        ("1023", "một nghìn không trăm hai mươi ba"),
        ("A023", "a, hai mươi ba"),
        ("B105", "bê, một trăm linh năm"),
        ("C001", "xê, một"),
        ("D000", "dê, không"),
        ("AB12", "a bê, mười hai"),
        ("W7", "vê kép, bảy"),
    ],
)
def test_ticket_words(printed, said):
    assert ticket_words(printed) == said


def test_call_sentence_default_and_south():
    assert call_sentence("1023", 3) == (
        "Mời công dân có số thứ tự một nghìn không trăm hai mươi ba đến quầy số ba"
    )
    assert call_sentence("B105", 14, variant="south") == (
        "Mời công dân có số thứ tự bê, một trăm lẻ năm đến quầy số mười bốn"
    )


def test_custom_template_and_bad_templates():
    said = call_sentence("A021", 2, "Xin mời số {number} tới quầy {counter}.")
    assert said == "Xin mời số a, hai mươi mốt tới quầy hai."
    assert check_template(DEFAULT_TEMPLATE) == DEFAULT_TEMPLATE
    for bad in ["Mời số {number}", "{number} {counter} {room}", "{counter} {counter} {number}"]:
        with pytest.raises(SpeechError):
            check_template(bad)


@pytest.mark.parametrize("bad", [-1, 10**12, 1.5, True, "12"])
def test_number_words_rejects(bad):
    with pytest.raises(SpeechError):
        number_words(bad)


@pytest.mark.parametrize("bad", ["", "a12", "A-1", "123456789", None])
def test_ticket_words_rejects(bad):
    with pytest.raises(SpeechError):
        ticket_words(bad)


def test_unknown_variant():
    with pytest.raises(SpeechError):
        number_words(5, "central")


def test_sentence_words_for_clips():
    words = sentence_words(call_sentence("A023", 1))
    assert words == [
        "mời", "công", "dân", "có", "số", "thứ", "tự", "a", ",", "hai", "mươi", "ba",
        "đến", "quầy", "số", "một",
    ]
    decomposed = unicodedata.normalize("NFD", "Mời  QUẦY.")
    assert sentence_words(decomposed) == ["mời", "quầy"]


def test_vocabulary_covers_every_word_a_call_can_say():
    from protocol.speech import vocabulary

    for variant in ("north", "south"):
        words = set(vocabulary(DEFAULT_TEMPLATE, variant, "ABW"))
        for n in list(range(0, 2100)) + [15015, 21001, 1_000_005]:
            for counter in (1, 4, 15, 21):
                said = sentence_words(call_sentence(f"A{n:03d}"[:8], counter, variant=variant))
                assert set(said) - {","} <= words, (n, counter)
        assert {"vê", "kép", "bê", "a"} <= words
    assert "ngàn" in vocabulary(variant="south") and "nghìn" not in vocabulary(variant="south")
    assert vocabulary()[:9] == ["mời", "công", "dân", "có", "số", "thứ", "tự", "đến", "quầy"]
