"""`xephang display`: help texts, settings precedence, snapshots, clear errors, and
the Vietnamese catalog of the board."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pygame
import pytest

from display import render
from display.settings import DisplaySettings
from protocol.i18n import load_catalog
from protocol.settings import ConfigError, load_settings
from xephang.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "commune.toml"


def display_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["display"]


def test_every_option_and_setting_has_help():
    for action in display_parser()._actions:
        assert action.help, action.dest
    from display.settings import DisplaySection

    for name, field in DisplaySection.model_fields.items():
        assert field.description, name


def test_toml_env_and_cli_precedence(tmp_path, monkeypatch):
    config = tmp_path / "board.toml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        + '\n[display]\ndevice = "display-1"\nvoice = "espeak"\nsize = "1920x1080"\nvariant = "north"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("XEPHANG_DISPLAY__VARIANT", "south")
    settings = load_settings(DisplaySettings, config, display={"size": "1366x768"})
    assert settings.display.site == "xa-phu-dong"  # the only site
    assert settings.display.voice == "espeak"  # TOML
    assert settings.display.variant == "south"  # env over TOML
    assert settings.display.size == "1366x768"  # CLI over TOML
    assert settings.display.repeat == 2  # default


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ('sentence = "Mời số {number}"', "display.sentence"),
        ('voice = "robot"', "display.voice"),
        ('size = "big"', "display.size"),
        ('site = "nowhere"', "display.site"),
        ("snapshot_every_s = 10", "snapshot_every_s needs a snapshot path"),
    ],
)
def test_bad_display_settings_give_one_clear_line(tmp_path, table, where):
    config = tmp_path / "bad.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + f"\n[display]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(DisplaySettings, config)
    assert any(where in line for line in error.value.lines), error.value.lines


def test_demo_snapshot_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "board.png"
    code = main(["display", "--config", str(EXAMPLE), "--demo", "--snapshot", str(out), "--size", "1366x768"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert pygame.image.load(str(out)).get_size() == (1366, 768)


def test_snapshot_without_broker_writes_offline_board_and_says_so(tmp_path, capsys):
    out = tmp_path / "offline.png"
    code = main(["display", "--config", str(EXAMPLE), "--snapshot", str(out), "--wait", "0.5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("xephang: no board state from the broker")
    image = pygame.image.load(str(out))
    assert image.get_size() == (1920, 1080)
    assert image.get_at((960, 115))[:3] == render.RED  # the offline banner


def test_bad_size_is_one_line_not_a_traceback(capsys):
    code = main(["display", "--config", str(EXAMPLE), "--size", "huge", "--snapshot", "x.png"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "xephang: config: display.size: Value error, size must look like 1920x1080, got 'huge' (got 'huge')"


def test_vietnamese_catalog_has_every_message_of_the_board():
    used = set(render.WEEKDAYS) | set(render.MARK_LABELS.values())
    for path in (ROOT / "display").glob("*.py"):
        used |= set(re.findall(r"self\._\([\"']([^\"']+)[\"']\)", path.read_text(encoding="utf-8")))
    catalog = load_catalog("display", "vi")
    assert len(used) >= 20
    missing = sorted(m for m in used if not catalog.get(m))
    assert missing == []
    unused = sorted(set(catalog) - used)
    assert unused == []


def test_check_clips_lists_what_is_missing(tmp_path, capsys, monkeypatch):
    from hardware.audio import write_wav
    from protocol.speech import vocabulary
    from tests.hardware.test_audio import tone

    clips = tmp_path / "clips"
    clips.mkdir()
    words = vocabulary(letters="ABCD")
    for word in words:
        if word != "lăm":
            write_wav(clips / f"{word}.wav", tone(0.01, 400))
    monkeypatch.setenv("XEPHANG_DISPLAY__CLIPS_DIR", str(clips))
    assert main(["display", "--config", str(EXAMPLE), "--check-clips"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"missing: {clips / 'lăm.wav'}", f"{len(words) - 1} of {len(words)} words have a clip in {clips}"]
    write_wav(clips / "lăm.wav", tone(0.01, 400))
    assert main(["display", "--config", str(EXAMPLE), "--check-clips"]) == 0


def test_missing_font_is_a_config_error(tmp_path):
    config = tmp_path / "font.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + '\n[display]\nfont = "/nonexistent/Font.ttf"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(DisplaySettings, config)
    assert error.value.lines == [
        "display.font: Value error, font file not found: /nonexistent/Font.ttf (apt install fonts-dejavu-core) "
        "(got '/nonexistent/Font.ttf')"
    ]


def test_every_setting_is_documented():
    from display.settings import DisplaySection

    doc = (ROOT / "docs" / "display.md").read_text(encoding="utf-8")
    for name in DisplaySection.model_fields:
        assert f"| `{name}` |" in doc, name


def test_board_runs_in_a_window_writes_periodic_snapshots_and_stops_on_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "live.png"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", XEPHANG_DISPLAY__AUDIO_OUTPUT="silent")
    board = subprocess.Popen(
        [sys.executable, "-m", "xephang.cli", "display", "--config", str(EXAMPLE), "--demo", "--windowed",
         "--size", "1366x768", "--snapshot", str(out), "--snapshot-every", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not out.exists():
            assert board.poll() is None, board.communicate()
            assert time.monotonic() < deadline, "no snapshot written"
            time.sleep(0.1)
        first = out.stat().st_mtime_ns
        while out.stat().st_mtime_ns == first:
            assert time.monotonic() < deadline, "snapshot not rewritten"
            time.sleep(0.1)
        board.send_signal(signal.SIGTERM)
        _, err = board.communicate(timeout=10)
    finally:
        if board.poll() is None:
            board.kill()
    assert board.returncode == 0
    assert "Traceback" not in err
    assert pygame.image.load(str(out)).get_size() == (1366, 768)


def test_unwritable_snapshot_path_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["display", "--config", str(EXAMPLE), "--demo", "--snapshot", str(blocker / "board.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"xephang: cannot write snapshot {blocker / 'board.png'}")


def test_espeak_voice_follows_the_variant_unless_set(tmp_path):
    from tests.display.conftest import display_settings

    assert display_settings().display.speaking_voice == "vi"
    assert display_settings(variant="south").display.speaking_voice == "vi-vn-x-south"
    assert display_settings(variant="south", espeak_voice="vi").display.speaking_voice == "vi"


def test_demo_board_needs_no_config_and_a_headless_screen_has_the_size_asked(tmp_path, capsys, monkeypatch):
    """Issue 22: `xephang display --demo` with no config shows the sample board; the
    dummy screen the demo uses without a display gets the size asked (not 1024x768)."""
    monkeypatch.delenv("XEPHANG_CONFIG", raising=False)
    out = tmp_path / "board.png"
    assert main(["display", "--demo", "--snapshot", str(out), "--size", "1366x768"]) == 0
    assert out.stat().st_size > 10_000

    from display.main import open_screen
    from display.settings import DisplaySettings
    from protocol.settings import load_settings

    settings = load_settings(DisplaySettings, None, display={"site": "xa-demo", "size": "1366x768"})
    assert settings.display.fullscreen and not settings.display.windowed
    screen = open_screen(settings)
    try:
        assert screen.get_size() == (1366, 768)
    finally:
        import pygame

        pygame.display.quit()
