"""`xephang doctor`: real broker, real SQLite files, the kiosk's fake printer chosen by
config, fonts on disk; every finding in Vietnamese and English; never a traceback."""

from __future__ import annotations

import argparse
import ast
import email.utils
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from broker.config import free_port
from protocol.i18n import parse_po
from server.storage.db import open_database
from tests.kiosk.conftest import write_config as write_kiosk_config
from tests.support import server_settings_dict, settings_dict, write_toml
from xephang.doctor import cli as doctor_cli
from xephang.doctor.checks import clock_skew_s
from xephang.doctor.findings import Context
from xephang.doctor.report import exit_status, run

ROOT = Path(__file__).resolve().parents[2]


def _latin_only_font(path: Path) -> Path:
    """A tiny TrueType font with glyphs for printable ASCII only (no Vietnamese letters),
    built here so the test needs no font package beyond what scripts/system-deps.sh installs."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    chars = [chr(c) for c in range(0x21, 0x7F)]
    names = [".notdef", "space", *(f"uni{ord(c):04X}" for c in chars)]
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name != "space":  # a plain box: the outline does not matter, the cmap does
            pen.moveTo((50, 0))
            for point in ((50, 700), (450, 700), (450, 0)):
                pen.lineTo(point)
            pen.closePath()
        glyphs[name] = pen.glyph()
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({0x20: "space", **{ord(c): f"uni{ord(c):04X}" for c in chars}})
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics({name: (500, 50) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "XephangLatinOnly", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(path))
    return path


def _doctor(capsys, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    doctor_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["doctor", *argv])
    code = args.run(args)
    return code, capsys.readouterr().out


def _statuses(findings, check):
    return [f.status for f in findings if f.check == check]


def test_server_with_its_broker_and_database_passes(tmp_path, broker, capsys):
    db = tmp_path / "server.db"
    open_database(db).conn.close()
    config = write_toml(tmp_path / "xephang.toml", server_settings_dict(broker, db))
    code, out = _doctor(capsys, "--config", str(config), "--role", "server")
    assert f"Broker 127.0.0.1:{broker.port} chấp nhận tài khoản server" in out
    assert f"Broker 127.0.0.1:{broker.port} accepts user server" in out
    assert f"Database {db} is intact" in out and "nguyên vẹn" in out
    assert "Traceback" not in out
    assert code == 0  # clock warnings (no timedatectl here) are not failures


def test_wrong_password_and_unreachable_broker_are_plain_failures(tmp_path, broker, capsys):
    db = tmp_path / "server.db"
    data = server_settings_dict(broker, db)
    data["broker"]["password"] = "not-the-password"
    config = write_toml(tmp_path / "wrong.toml", data)
    code, out = _doctor(capsys, "--config", str(config), "--role", "server")
    assert code == 1
    assert "từ chối tài khoản server: sai tên hoặc mật khẩu" in out
    assert "refuses user server: wrong user name or password" in out
    data["broker"]["port"] = free_port()
    config = write_toml(tmp_path / "down.toml", data)
    code, out = _doctor(capsys, "--config", str(config), "--role", "server")
    assert code == 1 and "Không kết nối được broker" in out and "Cannot reach the broker" in out


def test_the_password_comes_from_secrets_env_like_systemd_gives_it(tmp_path, broker, capsys, monkeypatch):
    monkeypatch.delenv("XEPHANG_BROKER__PASSWORD", raising=False)
    data = server_settings_dict(broker, tmp_path / "server.db")
    del data["broker"]["password"]
    config = write_toml(tmp_path / "xephang.toml", data)
    code, out = _doctor(capsys, "--config", str(config), "--role", "server")
    assert "No broker password for server" in out and code == 1
    (tmp_path / "secrets.env").write_text(f"# from install.sh\nXEPHANG_BROKER__PASSWORD={broker.passwords['server']}\n")
    code, out = _doctor(capsys, "--config", str(config), "--role", "server")
    assert "accepts user server" in out


def test_damaged_database_is_reported(tmp_path, broker, capsys):
    db_path = tmp_path / "server.db"
    db = open_database(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db["filler"].insert_all(({"id": i, "text": "x" * 500} for i in range(2000)), pk="id")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    raw = bytearray(db_path.read_bytes())
    page = 4096
    raw[page * 20: page * 24] = b"\x07" * (page * 4)  # scribble over four pages mid-file
    db_path.write_bytes(bytes(raw))
    config = write_toml(tmp_path / "xephang.toml", server_settings_dict(broker, db_path))
    code, out = _doctor(capsys, "--config", str(config), "--role", "server")
    assert code == 1
    assert f"Database {db_path} is damaged" in out or f"Database {db_path} cannot be read" in out
    assert "Traceback" not in out


def test_kiosk_with_paper_out_and_mock_pins(tmp_path, broker):
    config = write_kiosk_config(tmp_path, broker, printer={"transport": "fake", "fake_fault": "paper_out"})
    findings = run(Context(role="kiosk", config=config))
    assert _statuses(findings, "printer") == ["fail"]
    printer = next(f for f in findings if f.check == "printer")
    assert "hết giấy; hãy lắp cuộn giấy mới" in printer.text("vi")
    assert "paper out; load a new roll" in printer.text("en")
    assert _statuses(findings, "gpio") == ["warn", "ok"]  # simulated, but the pins work
    assert _statuses(findings, "font") == ["ok", "ok", "ok"]
    assert _statuses(findings, "broker") == ["ok"]
    assert _statuses(findings, "database") == ["warn"]  # the kiosk has not run yet
    assert exit_status(findings) == 1

    good = write_kiosk_config(tmp_path, broker, printer={"transport": "fake", "fake_fault": "none"})
    findings = run(Context(role="kiosk", config=good))
    assert _statuses(findings, "printer") == ["ok"]


def _display_config(tmp_path, **display) -> Path:
    data = settings_dict()
    data["display"] = {"site": "test-site", **display}
    return write_toml(tmp_path / "display.toml", data)


def test_display_font_without_vietnamese_and_no_screen(tmp_path):
    latin = _latin_only_font(tmp_path / "LatinOnly.ttf")
    config = _display_config(tmp_path, font=str(latin), audio_output="silent")
    findings = run(Context(role="display", config=config, environ={"SDL_VIDEODRIVER": "dummy"}))
    assert _statuses(findings, "config") == ["ok"]
    fonts = [f for f in findings if f.check == "font"]
    assert [f.status for f in fonts] == ["fail", "ok"]
    assert fonts[0].params["path"] == latin  # the display's own font, not the kiosk's
    assert "lacks Vietnamese letters" in fonts[0].text("en") and "ư" in fonts[0].text("en")
    assert "thiếu chữ tiếng Việt" in fonts[0].text("vi")
    assert _statuses(findings, "screen") == ["warn"]
    assert _statuses(findings, "audio") == ["warn"]
    assert _statuses(findings, "broker") == ["fail"]  # nobody listens on the default port here


def test_counter_display_with_its_broker_account_and_the_screen_it_needs(tmp_path, broker):
    data = settings_dict(broker.settings_for("display-1"))
    data["broker"]["username"] = None  # the device id is the broker user, as for a kiosk
    data["counter_display"] = {"site": "test-site", "counter": "quay-1", "device": "display-1", "screen": "dummy"}
    config = write_toml(tmp_path / "counter.toml", data)
    findings = run(Context(role="counter-display", config=config))
    assert _statuses(findings, "config") == ["ok"]
    assert _statuses(findings, "broker") == ["ok"]  # user display-1, from counter_display.device
    assert _statuses(findings, "spi") == ["ok"]  # the dummy screen needs no SPI
    data["counter_display"]["screen"] = "max7219"
    findings = run(Context(role="counter-display", config=write_toml(tmp_path / "matrix.toml", data)))
    spi = next(f for f in findings if f.check == "spi")
    if Path("/dev/spidev0.0").exists():  # a Pi with SPI on
        assert spi.status in ("ok", "warn")
    else:
        assert spi.status == "fail" and "raspi-config" in spi.text("en") and "bật SPI" in spi.text("vi")
    from xephang.doctor.report import guess_role

    assert guess_role(config) == "counter-display"


def test_display_without_pygame_reports_it_and_does_not_crash(tmp_path):
    config = _display_config(tmp_path)
    script = (
        "import sys; sys.modules['pygame'] = None\n"  # as on a machine without pygame
        "from xephang.cli import main\n"
        "from xephang.doctor import cli as doctor_cli\n"
        "import argparse\n"
        "p = argparse.ArgumentParser(); doctor_cli.register(p.add_subparsers())\n"
        f"a = p.parse_args(['doctor', '--config', {str(config)!r}, '--role', 'display', '--locale', 'en'])\n"
        "sys.exit(a.run(a))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "SDL_VIDEODRIVER": "kmsdrm"})
    assert done.returncode == 1
    assert "pygame is not installed: the board cannot draw" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_bad_config_is_one_line_per_key_and_the_rest_is_skipped(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[broker]\nport = "many"\n[kiosk]\nsite = "NOT A SLUG"\n', encoding="utf-8")
    code, out = _doctor(capsys, "--config", str(config), "--role", "kiosk", "--locale", "en")
    assert code == 1
    assert "Configuration: broker.port" in out
    for check in ("broker", "GPIO", "printer", "database"):
        assert f"Skipped the {check} check: the configuration could not be read" in out
    assert "Skipped the font check" not in out  # the kiosk's fonts are fixed: checked anyway
    assert "Font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" in out
    assert "Traceback" not in out


def test_display_whose_config_did_not_load_skips_its_fonts_and_sound_and_says_so(tmp_path, capsys):
    """The display's fonts and sound are in its config: without it the doctor must not
    report on other fonts (the kiosk's) as if they were the display's."""
    missing = tmp_path / "NotInstalled.ttf"
    config = _display_config(tmp_path, font=str(missing))
    findings = run(Context(role="display", config=config, environ={"SDL_VIDEODRIVER": "dummy"}))
    assert _statuses(findings, "config") == ["fail"]
    assert f"font file not found: {missing}" in next(f for f in findings if f.check == "config").text("en")
    for check, vi, en in (("font", "phông chữ", "font"), ("audio", "âm thanh và giọng đọc", "sound and voice"),
                          ("broker", "broker", "broker")):
        found = [f for f in findings if f.check == check]
        assert [f.status for f in found] == ["warn"], check  # one bad config is one problem (issue 22)
        assert found[0].text("vi") == f"Bỏ qua kiểm tra {vi}: không đọc được cấu hình"
        assert found[0].text("en") == f"Skipped the {en} check: the configuration could not be read"
    assert not any("DejaVu" in f.text("en") for f in findings)  # no font the display was not given
    assert _statuses(findings, "screen") == ["warn"]  # needs no config: still checked
    assert exit_status(findings) == 1

    code, out = _doctor(capsys, "--config", str(config), "--role", "display")
    lines = out.splitlines()
    at = lines.index("[LƯU Ý]      Bỏ qua kiểm tra phông chữ: không đọc được cấu hình")  # Vietnamese first
    assert lines[at + 1].strip() == "Skipped the font check: the configuration could not be read"
    assert code == 1 and "Traceback" not in out


def test_a_missing_kiosk_font_names_the_package_that_has_it(tmp_path, broker, monkeypatch):
    from xephang.doctor import devices as doctor_devices

    condensed = tmp_path / "DejaVuSansCondensed-Bold.ttf"  # not created: as on a machine without it
    monkeypatch.setattr(doctor_devices, "KIOSK_FONTS", {condensed: "fonts-dejavu-extra"})
    findings = run(Context(role="kiosk", config=write_kiosk_config(tmp_path, broker)))
    font = next(f for f in findings if f.check == "font")
    assert font.status == "fail"
    assert font.text("vi") == f"Không tìm thấy phông chữ {condensed} (apt-get install fonts-dejavu-extra)"


class _SkewedDate(BaseHTTPRequestHandler):
    skew = timedelta(seconds=-120)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def date_time_string(self, timestamp=None) -> str:
        return email.utils.format_datetime(datetime.now(UTC) + self.skew, usegmt=True)

    def log_message(self, *args) -> None:
        pass


def test_clock_skew_against_the_servers_date_header(tmp_path, broker):
    http = HTTPServer(("127.0.0.1", 0), _SkewedDate)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{http.server_port}"
        skew = clock_skew_s(url)
        assert 118 <= skew <= 122
        config = write_kiosk_config(tmp_path, broker)
        findings = run(Context(role="kiosk", config=config, server_url=url))
        clock = [f for f in findings if f.check == "clock"][-1]
        assert clock.status == "fail" and clock.text("vi").startswith("Đồng hồ lệch so với máy chủ +1")
        _SkewedDate.skew = timedelta(0)
        findings = run(Context(role="kiosk", config=config, server_url=url))
        assert [f for f in findings if f.check == "clock"][-1].status == "ok"
    finally:
        _SkewedDate.skew = timedelta(seconds=-120)
        http.shutdown()


def _message_ids() -> set[str]:
    ids = set()
    for name in ("xephang/doctor/report.py", "xephang/doctor/checks.py", "xephang/doctor/devices.py",
                 "xephang/topology_cli.py", "server/commands/backup.py"):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "tr")
                    and node.args and isinstance(node.args[0], ast.Constant)):
                ids.add(node.args[0].value)
    return ids


def test_every_doctor_message_has_a_vietnamese_translation_with_the_same_fields():
    import string
    import unicodedata

    catalog = parse_po((ROOT / "xephang" / "locale" / "vi.po").read_text(encoding="utf-8"))
    ids = _message_ids()
    assert len(ids) > 50
    missing = sorted(ids - set(catalog))
    assert missing == []
    for msgid in ids:
        fields = {f for _, f, _, _ in string.Formatter().parse(msgid) if f}
        assert {f for _, f, _, _ in string.Formatter().parse(catalog[msgid]) if f} == fields, msgid
        assert unicodedata.is_normalized("NFC", catalog[msgid])


@pytest.mark.parametrize("role", ["server", "broker", "kiosk", "display", "desk-keypad", "counter-display"])
def test_every_role_runs_without_a_config_and_without_crashing(role, capsys):
    code, out = _doctor(capsys, "--role", role)
    assert "Traceback" not in out
    assert ("[LỖI]" in out) == (code == 1)


def test_a_missing_table_is_one_problem_in_words_and_no_library_chatter(tmp_path, capsys):
    """Issue 22: a config without [kiosk] was "5 lỗi" with pydantic's "Field required"."""
    config = tmp_path / "no-kiosk.toml"
    config.write_text('[[sites]]\nid = "xa-a"\nname = "Xã A"\n[[sites.services]]\nid = "ho-tich"\nname = "Hộ tịch"\n'
                      'letter = "A"\n[[sites.counters]]\nid = "quay-1"\nnumber = 1\nname = "Quầy 1"\nservices = ["ho-tich"]\n',
                      encoding="utf-8")
    code, out = _doctor(capsys, "--config", str(config), "--role", "kiosk")
    assert code == 1
    assert "Cấu hình: thiếu bảng [kiosk] (vai trò kiosk cần bảng này)" in out
    assert "Configuration: the [kiosk] table is missing (the kiosk role needs it)" in out
    assert "Field required" not in out and "1 lỗi" in out


def test_doctor_stderr_has_no_library_chatter(tmp_path, broker):
    """python-escpos says "Closing File connection to printer" on the root logger at INFO;
    the doctor's report is its output, so such lines stay out (issue 22)."""
    config = write_kiosk_config(tmp_path, broker, printer={"transport": "file", "path": str(tmp_path / "printer.bin")})
    env = {k: v for k, v in os.environ.items() if not k.startswith("XEPHANG_") or k.startswith("XEPHANG_CLOCK_")}
    done = subprocess.run([sys.executable, "-m", "xephang.cli", "doctor", "--config", str(config), "--role", "kiosk"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert "máy in" in done.stdout.lower() or "printer" in done.stdout.lower()
    assert "Closing File connection" not in done.stderr and " INFO " not in done.stderr, done.stderr
