"""Priority from the ID card (issue 20): the card's QR read by kiosk/cccd.py, the scanner
seam (pyserial's loop-back, the fake a user can select), and the whole path through a
real kiosk, a real broker and the server's inbox: a qualifying card gives a priority
ticket, an ordinary one an ordinary ticket, a mangled one an ordinary ticket with the
message; nothing of the card anywhere."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.scanner import FakeScanner, SerialScanner
from kiosk.cccd import MAX_PAYLOAD, read_card
from tests.kiosk.test_app import press, start_app
from tests.support import wait_until

TODAY = date(2027, 3, 15)  # a fixed day for the pure function; ages are relative to it
NAME = "Nguyễn Thị Hồng Nhung"
ADDRESS = "Số 5, ngõ 12, phường Dịch Vọng, Cầu Giấy, Hà Nội"


def card(born: date, *, number: str = "001185012345", old: str | None = "012345678", name: str = NAME,
         issued: date | None = None) -> str:
    issued = issued or max(born + timedelta(days=365 * 14), date(2021, 4, 1))
    fields = [number] + ([old] if old is not None else []) + [
        name, born.strftime("%d%m%Y"), "Nữ", ADDRESS, issued.strftime("%d%m%Y")]
    return "|".join(fields)


def born_aged(years: int, today: date, days_after_birthday: int = 0) -> date:
    birthday = today.replace(year=today.year - years) if not (today.month == 2 and today.day == 29) else \
        today.replace(year=today.year - years, day=28)
    return birthday - timedelta(days=days_after_birthday)


# -- the pure reading -------------------------------------------------------------------

def test_age_threshold_is_inclusive_and_counts_the_birthday():
    sixty_today = card(born_aged(60, TODAY))
    sixty_tomorrow = card(born_aged(60, TODAY) + timedelta(days=1))
    assert read_card(sixty_today, TODAY, category="cao-tuoi").outcome == "priority"
    assert read_card(sixty_today, TODAY, category="cao-tuoi").category == "cao-tuoi"
    assert read_card(sixty_tomorrow, TODAY, category="cao-tuoi").outcome == "ordinary"
    assert read_card(sixty_tomorrow, TODAY, category="cao-tuoi", age=59).outcome == "priority"
    # the 6-field variant (no old number) reads the same
    assert read_card(card(born_aged(75, TODAY), old=None), TODAY, category="cao-tuoi").outcome == "priority"
    # a site with no priority category: every card is ordinary
    assert read_card(sixty_today, TODAY, category=None).outcome == "ordinary"


def test_malformed_and_foreign_payloads_are_unreadable():
    good = card(born_aged(70, TODAY))
    for bad in [
        "", "   ", "https://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html", "hello|world",
        good.replace("001185012345", "00118501234"),      # 11-digit number
        good.replace("001185012345", "00118501234X"),     # not digits
        good.replace(born_aged(70, TODAY).strftime("%d%m%Y"), "31022000"),  # no such day
        good.replace(born_aged(70, TODAY).strftime("%d%m%Y"), (TODAY + timedelta(days=3)).strftime("%d%m%Y")),
        good.replace(NAME, " "),
        good + "|extra", "|".join(good.split("|")[:5]),
        "x" * (MAX_PAYLOAD + 1), good + "\nsecond line",
        b"\xff\xfe" + good.encode(),
    ]:
        assert read_card(bad, TODAY, category="cao-tuoi").outcome == "unreadable", bad[:60]
    assert read_card(good.encode("utf-8"), TODAY, category="cao-tuoi").outcome == "priority"


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    six=st.booleans(),
    name=st.text(alphabet="ABCDĐEGHIKLMNOPQRSTUVXYaăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹ ",
                 min_size=1, max_size=40).filter(lambda s: s.strip()),
    threshold=st.integers(min_value=40, max_value=120),
)
def test_generated_cards_get_priority_exactly_by_age(born, six, name, threshold):
    payload = card(born, old=None if six else "012345678", name=name, issued=max(born, date(2021, 1, 1)))
    verdict = read_card(payload, TODAY, category="cao-tuoi", age=threshold)
    age = TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))
    assert verdict.outcome == ("priority" if age >= threshold else "ordinary")


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_mangled_payloads_never_raise_and_never_give_priority_by_accident(data):
    good = card(born_aged(80, TODAY))
    kind = data.draw(st.sampled_from(["random", "cut", "swap", "noise"]))
    if kind == "random":
        payload = data.draw(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
    elif kind == "cut":
        payload = good[: data.draw(st.integers(0, len(good) - 1))]
    elif kind == "swap":
        fields = good.split("|")
        fields[3] = data.draw(st.text(max_size=10))  # the birth date replaced by anything
        payload = "|".join(fields)
    else:
        position = data.draw(st.integers(0, len(good) - 1))
        payload = good[:position] + data.draw(st.text(min_size=1, max_size=3)) + good[position + 1:]
    verdict = read_card(payload, TODAY, category="cao-tuoi")
    assert verdict.outcome in ("priority", "ordinary", "unreadable")
    if kind == "cut":
        assert verdict.outcome == "unreadable"  # a cut card is never read as a card
    if verdict.outcome == "priority":
        # only a payload that still is a well-formed card of someone 60 or older
        fields = payload.split("|") if isinstance(payload, str) else []
        assert len(fields) in (6, 7)


# -- the scanner seam ---------------------------------------------------------------------

def test_serial_scanner_delivers_one_code_per_line_and_drops_overlong_lines():
    got: list[str] = []
    scanner = SerialScanner("loop://", got.append).start()
    try:
        code = card(born_aged(66, TODAY))
        scanner.port.write(code.encode("utf-8") + b"\r\n")
        scanner.port.write(b"B-123456\n")
        scanner.port.write(b"x" * 5000 + b"\n")  # not a code: dropped whole
        scanner.port.write(b"after\r")
        wait_until(lambda: len(got) >= 3, 5)
    finally:
        scanner.close()
    assert got == [code, "B-123456", "after"]


# -- the whole path -------------------------------------------------------------------

def _secrets_of(payload: str) -> list[str]:
    fields = payload.split("|")
    return [fields[0], fields[1], fields[2], fields[3], "Dịch Vọng"]


def test_card_then_press_prints_a_priority_ticket_and_keeps_nothing_of_the_card(tmp_path, broker, inbox, caplog):
    caplog.set_level(logging.DEBUG)
    said: list[str] = []
    app, factory, gate = start_app(tmp_path, broker)
    app._announce = said.append
    scanner = FakeScanner(app.scan)  # the fake scanner a user can select; the app's own handler
    try:
        today = app._clock().astimezone(app.site.zone).date()
        elderly = card(born_aged(72, today))
        young = card(born_aged(30, today), number="079203004567", old=None)
        mangled = elderly[:40]  # cut short: still a card's "|" fields, but not a whole card

        scanner.scan(elderly)
        press(factory, 17)
        assert app.wait_idle(10)
        scanner.scan(young)
        gate.now += 100  # past the debounce and the priority window
        press(factory, 27)
        assert app.wait_idle(10)
        scanner.scan(mangled)
        gate.now += 100
        press(factory, 22)
        assert app.wait_idle(10)
        gate.now += 100
        scanner.scan(elderly)
        gate.now += app.settings.kiosk.priority_window_s + 1  # the window passed: ordinary
        press(factory, 17)
        assert app.wait_idle(10)

        issued = wait_until(lambda: (found := inbox.issued()) and len(found) == 4 and found, 15)
        priorities = [(e.data.service, e.data.priority) for e in issued]
        category = app.settings.card_priority()
        assert category
        assert priorities == [("tu-phap-ho-tich", category), ("chung-thuc", None), ("dat-dai", None),
                              ("tu-phap-ho-tich", None)]
        about_cards = [text for text in said if "thẻ" in text]
        assert about_cards == ["Đã đọc thẻ căn cước: phiếu ưu tiên. Mời chọn dịch vụ.",
                            "Đã đọc thẻ căn cước. Mời chọn dịch vụ.",
                            "Không đọc được thẻ. Mời chọn dịch vụ để lấy phiếu thường.",
                            "Đã đọc thẻ căn cước: phiếu ưu tiên. Mời chọn dịch vụ."]
    finally:
        app.stop()
    # Nothing of any card in an event, the kiosk's SQLite files, or the log.
    wire = b"".join(e.model_dump_json().encode() for e in inbox.events)
    files = b"".join(p.read_bytes() for p in (tmp_path / "kiosk-data").iterdir() if p.is_file())
    log_text = caplog.text
    for payload in (elderly, young):
        for secret in _secrets_of(payload):
            assert secret.encode() not in wire and secret.encode() not in files and secret not in log_text, secret


def test_a_scanner_typing_into_the_keypad_reader_is_read_as_a_card_and_never_echoed():
    from hardware.buttons import KeypadReader, Press

    scans: list[str] = []
    unknown: list[str] = []
    presses: list[Press] = []
    reader = KeypadReader({"A": "tu-phap-ho-tich"}, lambda p, _b: presses.append(p),
                          on_unknown=unknown.append, on_scan=scans.append)
    code = card(born_aged(61, TODAY))
    assert reader.feed(code + "\n") and reader.feed("A\n") and reader.feed("zz\n")
    assert scans == [code] and [p.service for p in presses] == ["tu-phap-ho-tich"] and unknown == ["zz"]
