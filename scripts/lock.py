"""Writes constraints.txt: the exact version of every package xephang[dev] needs, as
installed in the Python environment that runs this script.

`make lock` runs it in a fresh virtual environment where `.[dev]` was just installed
without constraints (the newest versions pyproject.toml allows); `make demo`, `make
test`, CI (through `make test`) and deploy/install.sh then install with
`-c constraints.txt`, so a fresh machine gets what the tests passed with, not whatever
is newest that day (issue 22: FastAPI moving to OpenAPI 3.1 broke /docs under an open
range). Only the closure of pyproject.toml's requirements is written, evaluated for this
machine's markers, so unrelated packages in the environment do not leak in.

Usage: python scripts/lock.py [--check] [constraints.txt]
  --check: exit 1 (and say which) when the file differs from the environment.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# The installer's own tools: each venv keeps the ones it was made with (a pin on an old
# setuptools would fight pyproject's build requirement).
NOT_LOCKED = {"pip", "setuptools"}
HEADER = ("# Exact versions of xephang[dev] and everything it pulls in: `make lock` refreshes this\n"
          "# file on purpose; make demo, make test, CI and deploy/install.sh install with -c.\n")


def _project_requirements(extras: set[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    found = [Requirement(r) for r in project.get("dependencies", [])]
    seen: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in optional.get(extra, []):
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "xephang":
                todo.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def closure(extras: set[str]) -> dict[str, str]:
    """{distribution name: installed version} for the requirements and their own, recursively."""
    pins: dict[str, str] = {}
    todo: list[tuple[Requirement, frozenset[str]]] = [(r, frozenset()) for r in _project_requirements(extras)]
    while todo:
        requirement, wanted = todo.pop()
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in (wanted or {""})):
            continue
        name = canonicalize_name(requirement.name)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"lock: {requirement.name} is required but not installed here") from None
        known = name in pins
        pins[name] = dist.version
        if known and not requirement.extras:
            continue
        for text in dist.requires or []:
            todo.append((Requirement(text), frozenset(requirement.extras)))
    return pins


def render(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()) if name not in NOT_LOCKED)


def parse(text: str) -> dict[str, str]:
    return {canonicalize_name(m.group(1)): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, re.MULTILINE)}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if not a.startswith("--")]
    target = Path(paths[0]) if paths else ROOT / "constraints.txt"
    pins = {n: v for n, v in closure({"dev"}).items() if n not in NOT_LOCKED}
    if check:
        locked = parse(target.read_text(encoding="utf-8")) if target.exists() else {}
        differ = sorted(n for n in pins.keys() | locked.keys() if pins.get(n) != locked.get(n))
        for name in differ:
            print(f"{name}: locked {locked.get(name, '-')}, installed {pins.get(name, '-')}")
        return 1 if differ else 0
    target.write_text(render(pins), encoding="utf-8")
    print(f"lock: {len(pins)} packages written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
