"""Config files with every field wrong: each program's settings, every leaf of a valid
configuration replaced in turn by a value of the wrong kind, must give a ConfigError
whose lines name that key; never another exception, never a traceback from the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from display.settings import DisplaySettings
from kiosk.settings import KioskSettings
from protocol.settings import BrokerSettings, ConfigError, load_settings
from server.settings import ServerSettings
from tests.kiosk.conftest import kiosk_dict
from tests.support import SITE_ID, settings_dict, write_toml

ROOT = Path(__file__).resolve().parents[2]
BROKER = BrokerSettings(host="127.0.0.1", port=1883, username="server", password="mat-khau-may-chu")


def _valid(program: str, tmp_path: Path) -> dict[str, Any]:
    data = settings_dict(BROKER)
    if program == "server":
        data["server"] = {"database": str(tmp_path / "s.db"), "dispatch_sites": [SITE_ID], "http_port": 8000,
                          "batch_max": 500, "batch_window_ms": 20, "demo": False, "public_url": "http://x"}
    elif program == "kiosk":
        data["kiosk"] = kiosk_dict(tmp_path)
    else:
        data["display"] = {"site": SITE_ID, "device": "display-1", "audio_output": "silent"}
    return data


CLASSES = {"server": ServerSettings, "kiosk": KioskSettings, "display": DisplaySettings}


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        yield path, value
        for key, inner in value.items():
            yield from _leaves(inner, path + (key,))
    elif isinstance(value, list):
        yield path, value
        for i, inner in enumerate(value):
            yield from _leaves(inner, path + (i,))
    else:
        yield path, value


def _wrong(value: Any) -> Any:
    """A value of the wrong kind for where `value` stands."""
    if isinstance(value, bool):
        return "có lẽ"
    if isinstance(value, (int, float)):
        return "không phải số"
    if isinstance(value, str):
        return {"sai": [1, 2]}
    if isinstance(value, list):
        return "không phải danh sách"
    if isinstance(value, dict):
        return 42
    return [["?"]]


def _replace(data: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replace(copy[path[0]], path[1:], new)
    return copy


@pytest.mark.parametrize("program", sorted(CLASSES))
def test_every_field_wrong_gives_a_config_error_naming_it(program, tmp_path):
    valid = _valid(program, tmp_path)
    load_settings(CLASSES[program], None, **valid)  # the starting point is valid
    checked = 0
    accepted = []
    for path, value in _leaves(valid):
        if not path:
            continue
        broken = _replace(valid, path, _wrong(value))
        try:
            load_settings(CLASSES[program], None, **broken)
        except ConfigError as exc:
            assert exc.lines and all("\n" not in line for line in exc.lines)
            top = str(path[0])
            assert any(line.startswith(top) or line.startswith("config") for line in exc.lines), (path, exc.lines)
            checked += 1
        else:
            accepted.append(path)
    assert checked >= 40
    assert accepted == []


@pytest.mark.parametrize("program", ["server", "kiosk", "display"])
def test_cli_answers_a_bad_config_file_with_lines_not_a_traceback(program, tmp_path):
    data = _valid(program, tmp_path)
    data["sites"][0]["counters"][0]["number"] = "một"
    data["sites"][0]["timezone"] = "Asia/Hà_Nội"
    data["broker"]["port"] = 70000
    config = write_toml(tmp_path / "bad.toml", data)
    args = {"server": ["server"], "kiosk": ["kiosk"], "display": ["display"]}[program]
    result = subprocess.run([sys.executable, "-m", "xephang.cli", *args, "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "port" in result.stderr and "timezone" in result.stderr, result.stderr
    assert "mat-khau-may-chu" not in result.stderr + result.stdout
    # Not TOML at all.
    config.write_text("[server\nthis is = not toml", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "xephang.cli", *args, "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "TOML" in result.stderr
