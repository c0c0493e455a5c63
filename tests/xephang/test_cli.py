"""The `xephang` command: help everywhere, one clear line per bad config key."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import typing

from pydantic import BaseModel

from xephang.cli import build_parser, main

SETTINGS_CLASSES = [
    ("protocol.settings", "CommonSettings"),
    ("server.settings", "ServerSettings"),
    ("kiosk.settings", "KioskSettings"),
    ("display.settings", "DisplaySettings"),
    ("kiosk.deskpad", "DeskpadSettings"),
]


def _walk(parser: argparse.ArgumentParser, path: str):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"`{path} {name}` has no help text"
                yield from _walk(sub, f"{path} {name}")


def test_every_command_and_option_has_help():
    commands = list(_walk(build_parser(), "xephang"))
    names = {path for path, _ in commands}
    assert {"xephang server", "xephang broker config"} <= names
    for path, parser in commands:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"`{path}` option {action.option_strings or action.dest} has no help text"


def _models(annotation):
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            yield arg
        else:
            yield from (m for a in typing.get_args(arg) for m in _models(a))


def test_every_setting_has_a_description():
    seen: set[type] = set()
    pending = []
    for module, name in SETTINGS_CLASSES:
        try:
            pending.append(getattr(importlib.import_module(module), name))
        except ModuleNotFoundError:
            continue
    missing = []
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for field_name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{field_name}")
            pending.extend(_models(field.annotation))
    assert len(seen) > 8
    assert not missing, f"settings without a description: {missing}"


def test_bad_config_fails_at_start_with_one_line_per_bad_key(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text(
        """
[broker]
port = 70000
[server]
http_port = "eighty"
dispatch_sites = ["nowhere"]
[[sites]]
id = "Xã Sai"
name = "Xã Sai"
timezone = "Asia/Hanoi_Typo"
[[sites.services]]
id = "a"
name = "A"
letter = "a"
[[sites.counters]]
id = "q1"
number = 0
name = "Q"
services = ["a"]
""",
        encoding="utf-8",
    )
    code = main(["server", "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "xephang: config: broker.port: Input should be less than or equal to 65535 (got 70000)",
        "xephang: config: sites.0.id: String should match pattern '^[a-z0-9-]{1,40}$' (got 'Xã Sai')",
        "xephang: config: sites.0.timezone: Value error, unknown time zone 'Asia/Hanoi_Typo' (got 'Asia/Hanoi_Typo')",
        "xephang: config: sites.0.services.0.letter: String should match pattern '^[A-Z]$' (got 'a')",
        "xephang: config: sites.0.counters.0.number: Input should be greater than or equal to 1 (got 0)",
        "xephang: config: server.http_port: Input should be a valid integer, unable to parse string as an integer (got 'eighty')",
    ]


def test_broken_toml_and_missing_file_are_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport=", encoding="utf-8")
    assert main(["server", "--config", str(broken)]) == 2
    assert main(["server", "--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "is not valid TOML" in err[0] and "file not found" in err[1]


def test_example_config_is_valid_and_secrets_are_never_printed(tmp_path):
    from protocol.settings import load_settings
    from server.settings import ServerSettings

    settings = load_settings(ServerSettings, "examples/commune.toml", broker={"password": "hunter2-secret"})
    assert settings.sites[0].name.startswith("Trung tâm Phục vụ hành chính công")
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings.model_dump())


def test_broker_config_command_writes_files_and_keeps_passwords(tmp_path):
    out = tmp_path / "broker"
    cmd = [sys.executable, "-m", "xephang.cli", "broker", "config", "--config", "examples/commune.toml", "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "kiosk-1:" in first.stdout
    passwd = (out / "passwd").read_text()
    assert "kiosk-1:$7$101$" in passwd
    assert oct((out / "credentials.toml").stat().st_mode)[-3:] == "600"
    second = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "no new accounts" in second.stdout and "kiosk-1:" not in second.stdout


def test_configuration_doc_matches_the_settings_models():
    from xephang.configdoc import DOC, render

    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m xephang.configdoc"
