"""Message texts: Vietnamese by default, the number said as the board says it, plain
ASCII for SMS, and a text that may not fit its channel refused before anything is sent."""

from __future__ import annotations

import pytest

from server.notify.texts import DEFAULT_TEXTS, KINDS, ZNS_MAX, TextError, check, render, text_for, unaccented


def test_the_default_texts_say_the_number_as_the_board_does():
    near = render(DEFAULT_TEXTS["near"], {"number": "A023", "site": "UBND xã Thử Nghiệm", "ahead": 2, "wait": ", khoảng 8 phút"})
    assert near == "Sắp đến lượt số A023 (a, hai mươi ba) tại UBND xã Thử Nghiệm: còn 2 người trước bạn, khoảng 8 phút."
    called = render(DEFAULT_TEXTS["called"], {"number": "1015", "counter": 3})
    assert called == "Mời công dân có số thứ tự 1015 (một nghìn không trăm mười lăm) đến quầy số 3."
    assert render("{number} {counter}", {"number": "A1"}) == "A1 —"  # a missing value never raises


def test_sms_text_is_plain_ascii_without_accents():
    assert unaccented("Đã đến lượt bạn — mời đến quầy số 2…") == "Da den luot ban - moi den quay so 2..."
    assert unaccented(render(DEFAULT_TEXTS["near"], {"number": "A1", "site": "Phường Hạ Long", "ahead": 1, "wait": ""})).isascii()


def test_every_default_text_fits_zns_and_an_sms_with_a_long_office_name():
    office = {"site": "Trung tâm Phục vụ hành chính công xã Thử Nghiệm"}
    for kind in KINDS:
        assert check(DEFAULT_TEXTS[kind], ZNS_MAX, known=office) <= ZNS_MAX
        assert check(DEFAULT_TEXTS[kind], 160, plain=True, known=office) <= 160


def test_a_text_that_may_not_fit_or_names_an_unknown_value_is_refused():
    with pytest.raises(TextError, match="over the channel's 160"):
        check("Số {number}: " + "x" * 155, 160, plain=True)
    with pytest.raises(TextError, match="unknown placeholder"):
        check("Số {number} của {name}", 400)
    texts, per_site = {"called": "Mời số {number}"}, {"xa-a": {"called": "Xin mời số {number} vào quầy {counter}"}}
    assert text_for("called", "xa-a", texts, per_site) == "Xin mời số {number} vào quầy {counter}"
    assert text_for("called", "xa-b", texts, per_site) == "Mời số {number}"
    assert text_for("near", "xa-b", texts, per_site) == DEFAULT_TEXTS["near"]
