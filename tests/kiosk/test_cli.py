"""`xephang kiosk` commands: preview, --check against a real broker, clear errors,
help on every option and setting, a complete Vietnamese catalog."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from PIL import Image

from hardware.printer import PrinterSettings
from kiosk.settings import KioskSection, KioskSettings, LedPins
from protocol.i18n import load_catalog
from tests.kiosk.conftest import write_config
from xephang.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_preview_writes_a_png_of_the_paper_width(tmp_path, capsys):
    for width in (576, 384):
        out = tmp_path / f"t{width}.png"
        assert main(["kiosk", "preview", "--out", str(out), "--width", str(width)]) == 0
        with Image.open(out) as picture:
            assert picture.width == width and picture.mode == "1"
    assert "Đã ghi bản xem trước phiếu" in capsys.readouterr().out


def test_preview_from_config_uses_the_site_and_profile(tmp_path, capsys):
    config = write_config(tmp_path, None, printer={"transport": "dummy", "profile": "POS-5890"})
    out = tmp_path / "p.png"
    assert main(["kiosk", "preview", "--config", str(config), "--out", str(out)]) == 0
    with Image.open(out) as picture:
        assert picture.width == 384
    assert main(["kiosk", "preview", "--config", str(config), "--out", str(out), "--service", "nope"]) == 1
    assert "unknown service 'nope'" in capsys.readouterr().err


def test_check_reports_buttons_lights_printer_and_broker(tmp_path, broker, capsys):
    config = write_config(tmp_path, broker)
    assert main(["kiosk", "--check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Nút bấm (mock): tu-phap-ho-tich: GPIO17; chung-thuc: GPIO27; dat-dai: GPIO22; priority: GPIO26" in out
    assert "Đèn: ready: GPIO5; printing: GPIO6; fault: GPIO13; buzzer: GPIO19" in out
    assert "Máy in: fake" in out and "trạng thái ok" in out
    assert "(kiosk-1): kết nối được" in out
    assert out.strip().endswith("Kết quả: TỐT")


def test_check_says_what_is_wrong(tmp_path, broker, capsys):
    config = write_config(tmp_path, broker, printer={"transport": "fake", "fake_fault": "cover_open"})
    broker.stop()
    assert main(["kiosk", "--check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "trạng thái cover_open" in out
    assert "KHÔNG kết nối được" in out
    assert out.strip().endswith("Kết quả: CÓ LỖI")
    broker.start()


def test_bad_config_is_one_clear_line(tmp_path, capsys):
    config = write_config(tmp_path, None, buttons={"no-such-service": 17})
    assert main(["kiosk", "--check", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kiosk.buttons name unknown services ['no-such-service']" in err[0]
    assert "Traceback" not in "".join(err)


def test_no_gpio_here_is_one_clear_line(tmp_path, capsys):
    config = write_config(tmp_path, None, pin_factory="lgpio")
    assert main(["kiosk", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("xephang: kiosk cannot start: lgpio pins are not available here")
    assert err[0].endswith('use pin_factory = "mock" or "keyboard"')


def test_every_option_and_setting_has_help():
    parser = build_parser()
    kiosk = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "kiosk")[1]
    parsers = [kiosk] + list(kiosk._subparsers._group_actions[0].choices.values())
    for sub in parsers:
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction) and not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{sub.prog} {action.dest} has no help"
    for model in (KioskSettings, KioskSection, LedPins, PrinterSettings):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_every_kiosk_message_has_a_vietnamese_translation():
    catalog = load_catalog("kiosk", "vi")
    used: set[str] = set()
    pattern = re.compile(r'(?:\b_|\))\("((?:[^"\\]|\\.)*)"\)')
    for path in (ROOT / "kiosk").glob("*.py"):
        used.update(pattern.findall(path.read_text(encoding="utf-8")))
    assert len(used) > 30
    missing = sorted(m for m in used if not catalog.get(m))
    assert missing == []


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "kiosk.md").read_text(encoding="utf-8")
    for model, prefix in ((KioskSection, ""), (LedPins, "leds."), (PrinterSettings, "printer.")):
        for name in model.model_fields:
            assert f"`{prefix}{name}`" in doc, f"docs/kiosk.md does not document {prefix}{name}"
