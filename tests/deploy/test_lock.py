"""Installs that do not drift (issue 22, point 9a): constraints.txt pins every package
xephang[dev] pulls in, to the versions installed here (so the tests ran on the lock), and
every install path uses it: make demo/test (and so CI), and deploy/install.sh."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"
sys.path.insert(0, str(ROOT / "scripts"))
from lock import NOT_LOCKED, closure, parse  # noqa: E402


def test_the_lock_pins_every_requirement_at_a_version_pyproject_allows():
    locked = parse(LOCK.read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in map(Requirement, texts):
        name = canonicalize_name(requirement.name)
        if name == "xephang":
            continue
        assert name in locked, f"{name} is required by pyproject.toml but not in constraints.txt: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (name, locked[name], str(requirement.specifier))
    assert not NOT_LOCKED & locked.keys()
    assert all(line.startswith("#") or "==" in line for line in LOCK.read_text(encoding="utf-8").splitlines())


def test_the_tests_run_on_the_locked_versions():
    """What is installed here is what the lock says: `make test` installed with it."""
    installed = {n: v for n, v in closure({"dev"}).items() if n not in NOT_LOCKED}
    locked = parse(LOCK.read_text(encoding="utf-8"))
    differ = {n: (locked.get(n), installed.get(n)) for n in installed.keys() | locked.keys() if locked.get(n) != installed.get(n)}
    assert differ == {}, f"(locked, installed) differ: {differ}; run `make lock` or reinstall with -c constraints.txt"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_make_and_the_installer_install_with_the_lock(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    plan = subprocess.run(["make", "-n", "-B", f"VENV={tmp_path}/venv", f"{tmp_path}/venv/.installed"],
                          cwd=ROOT, capture_output=True, text=True, env=env, check=True).stdout
    assert "pip install -q -c constraints.txt -e '.[dev]'" in plan
    lock_plan = subprocess.run(["make", "-n", "lock"], cwd=ROOT, capture_output=True, text=True, env=env, check=True).stdout
    assert "scripts/lock.py constraints.txt" in lock_plan
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci  # CI runs the README's command, which installs with the lock
    (tmp_path / "root").mkdir()
    dry = subprocess.run(["sh", str(ROOT / "deploy" / "install.sh"), "--root", str(tmp_path / "root"), "--role", "server",
                          "--dry-run"], capture_output=True, text=True, timeout=120)
    assert f"-c {LOCK}" in dry.stdout, dry.stdout + dry.stderr
