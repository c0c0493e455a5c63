"""Generates docs/configuration.md from the settings models, so it cannot go stale.

`python -m xephang.configdoc` rewrites the file; a test fails when the committed file
differs from what the models say.
"""

from __future__ import annotations

import importlib
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
PROGRAMS = [
    ("Every program", "protocol.settings", "CommonSettings", ()),
    ("`xephang server`", "server.settings", "ServerSettings", ("server", "national")),
    ("`xephang kiosk`", "kiosk.settings", "KioskSettings", ("kiosk",)),
    ("`xephang display`", "display.settings", "DisplaySettings", ("display",)),
    ("`xephang feedback`", "kiosk.feedback", "FeedbackSettings", ("feedback",)),
    ("`xephang keypad`", "kiosk.deskpad", "DeskpadSettings", ("keypad",)),
    ("`xephang counter-display`", "counterdisplay.settings", "CounterDisplaySettings", ("counter_display",)),
    ("`xephang national`", "national.settings", "NationalSettings", ("aggregator",)),
]


def _type_name(annotation: typing.Any) -> str:
    """A short, stable type name (no Annotated metadata, no memory addresses)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " / ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: typing.Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
        if value is None:
            return ""
        if hasattr(value, "get_secret_value"):
            return "(secret)"
        return f"`{value}`"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return ""
        return f"`{value}`" if not isinstance(value, BaseModel) and value not in ({}, []) else ""
    return "**required**"


def _models(annotation: typing.Any) -> list[type[BaseModel]]:
    found = []
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
        elif typing.get_args(arg):
            found.extend(_models(arg))
    return found


def _rows(model: type[BaseModel], prefix: str, seen: set) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = [m for m in _models(field.annotation) if m not in seen]
        rows.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {field.description or ''} |")
        for sub in nested:
            seen.add(sub)
            is_list = typing.get_origin(field.annotation) is list
            rows.extend(_rows(sub, f"{key}[].." if is_list else f"{key}.", seen))
    return [r.replace("[]..", "[].") for r in rows]


def render() -> str:
    out = [
        "# Configuration",
        "",
        "Generated from the settings models by `python -m xephang.configdoc`; do not edit by hand.",
        "",
        "One TOML file describes a deployment; every program reads the keys it needs and",
        "ignores the tables of other programs. Precedence: command line > environment",
        "(`XEPHANG_` + the key, nested keys joined by `__`, e.g. `XEPHANG_BROKER__PORT=1884`)",
        "> TOML file (`--config FILE.toml` or `$XEPHANG_CONFIG`) > defaults. A bad value stops",
        "the program at start with one line per bad key. Passwords are secrets: never logged.",
        "See `examples/commune.toml` for a realistic commune centre.",
        "",
    ]
    for title, module, name, sections in PROGRAMS:
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ModuleNotFoundError, AttributeError):
            continue
        seen: set = set()
        out += [f"## {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for field_name, field in cls.model_fields.items():
            if sections and field_name not in sections:
                continue
            key_rows = _rows(_single(field_name, field), "", seen)
            out += key_rows
        out.append("")
    return "\n".join(out) + "\n"


def _single(name: str, field: FieldInfo) -> type[BaseModel]:
    from pydantic import create_model

    definitions: dict[str, typing.Any] = {name: (field.annotation, field)}  # (type, FieldInfo), as create_model takes it
    return create_model(f"Only_{name}", **definitions)


def main(argv: list[str]) -> int:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
