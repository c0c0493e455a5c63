"""Writing TOML for generated configs (topologies): tables, arrays of tables, inline values.

The standard library reads TOML but does not write it; configs are small, plain data.
Standard library only.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(data: dict[str, Any], path: list[str], out: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if v is not None and not isinstance(v, dict) and not _is_table_array(v)}
    for key, value in scalars.items():
        out.append(f"{_key(key)} = {_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            name = ".".join(_key(p) for p in [*path, key])
            out.extend(["", f"[{name}]"])
            _table(value, [*path, key], out)
        elif _is_table_array(value):
            name = ".".join(_key(p) for p in [*path, key])
            for item in value:
                out.extend(["", f"[[{name}]]"])
                _table(item, [*path, key], out)


def dumps(data: dict[str, Any], header: str = "") -> str:
    """TOML text of `data` (None values are left out, as TOML has no null)."""
    out: list[str] = [f"# {line}".rstrip() for line in header.splitlines()]
    if out:
        out.append("")
    _table(data, [], out)
    return "\n".join(out).strip("\n") + "\n"
