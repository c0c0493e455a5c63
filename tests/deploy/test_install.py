"""deploy/install.sh and uninstall.sh run into a throw-away root: a fresh virtual
environment, the rendered units (checked with `systemd-analyze verify`), the udev rule,
role configs that load, broker accounts that a real Mosquitto accepts, and a second run
that changes nothing.

PyPI is not reachable from tests, so the venv the script creates gets the project's
dependencies through a .pth file (the `--python` wrapper below adds it right after
`python -m venv`); xephang itself is installed by the script from a wheel built here
(`--wheelhouse`), exactly as an offline office install does.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from broker.config import BrokerProcess, free_port
from counterdisplay.settings import CounterDisplaySettings
from display.settings import DisplaySettings
from kiosk.deskpad import DeskpadSettings
from kiosk.settings import KioskSettings
from protocol.settings import CommonSettings, load_settings
from server.settings import ServerSettings
from xephang.doctor.checks import broker_answer

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.sh"
UNINSTALL = ROOT / "deploy" / "uninstall.sh"
SITE_PACKAGES = Path(next((ROOT / ".venv" / "lib").glob("python3.*"))) / "site-packages"


def _base_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns(".venv", ".git", "tests", "bench", "*.egg-info", "__pycache__", "build", "var")
    shutil.copytree(ROOT, source / "xephang", ignore=ignore)
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source / "xephang")],
        check=True, capture_output=True,
    )
    assert len(list(out.glob("xephang-*.whl"))) == 1
    return out


@pytest.fixture(scope="module")
def python_wrapper(tmp_path_factory) -> Path:
    """Runs the base Python; after `-m venv DIR` it lets DIR see the dependencies."""
    folder = tmp_path_factory.mktemp("python")
    deps = folder / "deps"
    deps.mkdir()
    for entry in SITE_PACKAGES.iterdir():
        if "xephang" in entry.name or "editable" in entry.name or entry.suffix == ".pth":
            continue  # xephang itself must come from the wheel
        (deps / entry.name).symlink_to(entry)
    wrapper = folder / "python3"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
        f'  "{_base_python()}" "$@" || exit $?\n'
        '  for last; do :; done\n'
        f'  echo "{deps}" > "$(echo "$last"/lib/python3.*/site-packages)/zz-test-deps.pth"\n'
        "  exit 0\n"
        "fi\n"
        f'exec "{_base_python()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def _install(root: Path, wheelhouse: Path, python: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XEPHANG_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = "/usr/bin:/bin:/usr/sbin:/sbin"
    done = subprocess.run(
        ["sh", str(INSTALL), "--root", str(root), "--wheelhouse", str(wheelhouse), "--python", str(python), *args],
        capture_output=True, text=True, timeout=240, env=env, cwd="/",
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file outside the venv: its hash and mode."""
    result = {}
    for path in sorted(root.rglob("*")):
        if "venv" in path.parts or path.is_dir():
            continue
        result[str(path.relative_to(root))] = (hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(path.stat().st_mode))
    return result


def test_server_role_installs_into_a_fresh_venv_and_a_second_run_changes_nothing(tmp_path, wheelhouse, python_wrapper):
    root = tmp_path / "root"
    root.mkdir()
    first = _install(root, wheelhouse, python_wrapper, "--role", "server")
    venv = root / "opt/xephang/venv"
    assert "-m pip install" not in first.stdout  # pip ran for real, not "would run"
    version = subprocess.run([str(venv / "bin/xephang"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "xephang 0.1.0"
    installed = subprocess.run([str(venv / "bin/python"), "-I", "-c", "import xephang; print(xephang.__file__)"],
                               capture_output=True, text=True, check=True).stdout
    assert installed.startswith(str(venv))  # from the wheel, not from the source tree
    assert "new broker accounts" in first.stdout and "kiosk-1:" in first.stdout
    files = _snapshot(root)
    for expected in ("etc/systemd/system/xephang-server.service", "etc/systemd/system/xephang-broker.service",
                     "etc/xephang/xephang.toml", "etc/xephang/secrets.env", "var/lib/xephang/broker/mosquitto.conf",
                     "var/lib/xephang/broker/passwd", "var/lib/xephang/broker/acl", "opt/xephang/share/doc/deployment.md"):
        assert expected in files, expected
    assert files["etc/xephang/secrets.env"][1] == 0o600
    assert files["var/lib/xephang/broker/passwd"][1] == 0o600
    assert files["etc/xephang/xephang.toml"][1] == 0o640
    unit = (root / "etc/systemd/system/xephang-server.service").read_text()
    for line in ("Restart=on-failure", "WantedBy=multi-user.target", "StandardOutput=journal",
                 "ExecStart=/opt/xephang/venv/bin/xephang server --config /etc/xephang/xephang.toml",
                 "EnvironmentFile=-/etc/xephang/secrets.env", "User=xephang", "ReadWritePaths=/var/lib/xephang"):
        assert line in unit.splitlines(), line
    conf = (root / "var/lib/xephang/broker/mosquitto.conf").read_text()
    assert str(root) not in conf and "password_file /var/lib/xephang/broker/passwd" in conf
    assert "listener 1883 0.0.0.0" in conf and "user mosquitto" in conf
    settings = load_settings(ServerSettings, root / "etc/xephang/xephang.toml")
    assert str(settings.server.database) == "/var/lib/xephang/server/xephang.db"

    second = _install(root, wheelhouse, python_wrapper, "--role", "server")
    assert "role server: nothing to change" in second.stdout
    assert "new broker accounts" not in second.stdout and "already in /opt/xephang/venv" in second.stdout
    assert _snapshot(root) == files
    assert "enable xephang-backup.timer" in first.stdout and "enable xephang-backup.service" not in first.stdout
    backup = (root / "etc/systemd/system/xephang-backup.service").read_text()
    assert ("ExecStart=/opt/xephang/venv/bin/xephang backup --config /etc/xephang/xephang.toml "
            "--out /var/lib/xephang/backups --keep 14") in backup.splitlines()

    # The accounts work: run the generated broker (paths mapped into the root) and log in
    # with the password install.sh gave the server in secrets.env.
    broker_dir = root / "var/lib/xephang/broker"
    port = free_port()
    test_conf = broker_dir / "test.conf"
    test_conf.write_text(
        conf.replace("/var/lib/xephang/broker", str(broker_dir))
        .replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1")
        .replace("user mosquitto", f"user {getpass.getuser()}")
    )
    password = (root / "etc/xephang/secrets.env").read_text().strip().split("=", 1)[1]
    broker = BrokerProcess(test_conf, port).start()
    try:
        assert broker_answer("127.0.0.1", port, "server", password) == "ok"
        assert broker_answer("127.0.0.1", port, "server", "guessed") == "refused"
    finally:
        broker.stop()


@pytest.mark.parametrize(
    ("role", "units", "settings_class"),
    [
        ("kiosk", ["xephang-kiosk.service"], KioskSettings),
        ("display", ["xephang-display.service"], DisplaySettings),
        ("desk-keypad", ["xephang-keypad.service"], DeskpadSettings),
        ("counter-display", ["xephang-counter-display.service"], CounterDisplaySettings),
        ("broker", ["xephang-broker.service"], CommonSettings),
    ],
)
def test_device_roles_get_their_units_and_a_config_that_loads(tmp_path, wheelhouse, python_wrapper, role, units, settings_class):
    root = tmp_path / "root"
    root.mkdir()
    done = _install(root, wheelhouse, python_wrapper, "--role", role, "--broker-host", "192.168.1.10")
    present = sorted(p.name for p in (root / "etc/systemd/system").glob("*.service")) if units else []
    assert present == units
    assert (root / "etc/udev/rules.d/99-xephang-printer.rules").exists() == (role == "kiosk")
    config = root / "etc/xephang/xephang.toml"
    settings = load_settings(settings_class, config)
    assert settings.broker.host == "192.168.1.10"
    if role == "kiosk":
        assert str(settings.kiosk.data_dir) == "/var/lib/xephang/kiosk"
        unit = (root / "etc/systemd/system/xephang-kiosk.service").read_text()
        assert "SupplementaryGroups=gpio lp dialout" in unit
        assert "include-system-site-packages = true" in (root / "opt/xephang/venv/pyvenv.cfg").read_text()
        rule = (root / "etc/udev/rules.d/99-xephang-printer.rules").read_text()
        assert 'SYMLINK+="xephang-printer"' in rule
        assert all(not line or line.startswith("#") or "#" not in line for line in rule.splitlines())
    if role == "desk-keypad":
        assert settings.keypad.counter == "quay-1" and settings.keypad.buttons["next"] == 17
        assert "xephang keypad --config" in (root / "etc/systemd/system/xephang-keypad.service").read_text()
    if role == "counter-display":
        section = settings.counter_display
        assert (section.counter, section.device, section.screen) == ("quay-1", "counter-quay-1", "max7219")
        assert settings.broker_login().username == "counter-quay-1"
        device = next(d for d in settings.devices if d.id == section.device)
        assert (device.role, device.site) == ("display", section.site)  # its broker account: a display's rights
        unit = (root / "etc/systemd/system/xephang-counter-display.service").read_text()
        assert "xephang counter-display --config /etc/xephang/xephang.toml" in unit
        assert "SupplementaryGroups=spi gpio" in unit
        assert "include-system-site-packages = false" in (root / "opt/xephang/venv/pyvenv.cfg").read_text()
    if role == "broker":
        assert not (root / "etc/xephang/secrets.env").exists()
        assert (root / "var/lib/xephang/broker/acl").exists()
    else:
        secrets = root / "etc/xephang/secrets.env"
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
        assert "put this device's broker password" in done.stdout
    files = _snapshot(root)
    again = _install(root, wheelhouse, python_wrapper, "--role", role, "--broker-host", "192.168.1.10")
    assert f"role {role}: nothing to change" in again.stdout
    assert _snapshot(root) == files


def test_the_users_config_is_never_overwritten(tmp_path, wheelhouse, python_wrapper):
    root = tmp_path / "root"
    root.mkdir()
    _install(root, wheelhouse, python_wrapper, "--role", "display")
    config = root / "etc/xephang/xephang.toml"
    edited = config.read_text().replace('voice = "espeak"', 'voice = "chime"')
    config.write_text(edited)
    done = _install(root, wheelhouse, python_wrapper, "--role", "display", "--broker-host", "10.0.0.9")
    assert "kept /etc/xephang/xephang.toml (yours)" in done.stdout
    assert config.read_text() == edited


def test_dry_run_writes_nothing_and_says_what_it_would_do(tmp_path, wheelhouse, python_wrapper):
    root = tmp_path / "root"
    root.mkdir()
    done = _install(root, wheelhouse, python_wrapper, "--role", "kiosk", "--dry-run")
    assert list(root.iterdir()) == []
    assert "-m venv --system-site-packages" in done.stdout and "would run:" in done.stdout
    assert "would write /etc/systemd/system/xephang-kiosk.service" in done.stdout
    assert "would write /etc/udev/rules.d/99-xephang-printer.rules" in done.stdout


def test_bad_arguments_get_one_clear_line(tmp_path, wheelhouse, python_wrapper):
    for args, message in (
        ([], "--role is required"),
        (["--role", "toaster"], "unknown role 'toaster'"),
        (["--role", "kiosk", "--prefix", "opt"], "paths must be absolute: opt"),
        (["--role", "kiosk", "--broker-port", "x"], "--broker-port must be a number"),
        (["--role", "kiosk", "--frobnicate"], "unknown option --frobnicate"),
    ):
        done = _install(tmp_path, wheelhouse, python_wrapper, *args, check=False)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


def test_systemd_analyze_verify_accepts_every_unit(tmp_path, wheelhouse, python_wrapper):
    verify = shutil.which("systemd-analyze")
    assert verify, "systemd-analyze is needed (apt-get install systemd)"
    units = tmp_path / "units"
    units.mkdir()
    for role in ("server", "kiosk", "display", "desk-keypad", "counter-display"):
        root = tmp_path / role
        root.mkdir()
        _install(root, wheelhouse, python_wrapper, "--role", role)
        for unit in (root / "etc/systemd/system").glob("xephang-*"):
            # the same unit, pointing at the venv where this root has it
            text = unit.read_text().replace("/opt/xephang/", f"{root}/opt/xephang/")
            (units / unit.name).write_text(text)
    names = sorted(p.name for p in units.iterdir())
    assert names == ["xephang-backup.service", "xephang-backup.timer", "xephang-broker.service",
                     "xephang-counter-display.service", "xephang-display.service", "xephang-keypad.service", "xephang-kiosk.service",
                     "xephang-server.service"]
    done = subprocess.run([verify, "verify", *map(str, sorted(units.iterdir()))], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "xephang" not in done.stderr, done.stderr
    broken = units / "xephang-broken.service"
    broken.write_text((units / "xephang-kiosk.service").read_text().replace("venv/bin/xephang", "venv/bin/nothing-here"))
    done = subprocess.run([verify, "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "is not executable" in done.stderr  # the check can fail


def test_uninstall_keeps_config_and_data_unless_purged(tmp_path, wheelhouse, python_wrapper):
    root = tmp_path / "root"
    root.mkdir()
    _install(root, wheelhouse, python_wrapper, "--role", "kiosk")
    (root / "var/lib/xephang/kiosk").mkdir(parents=True)
    (root / "var/lib/xephang/kiosk/kiosk.sqlite3").write_bytes(b"tickets")

    def uninstall(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["sh", str(UNINSTALL), "--root", str(root), "--role", "kiosk", *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    uninstall()
    assert not (root / "etc/systemd/system/xephang-kiosk.service").exists()
    assert not (root / "etc/udev/rules.d/99-xephang-printer.rules").exists()
    assert not (root / "opt/xephang/venv").exists()
    assert (root / "etc/xephang/xephang.toml").exists()
    assert (root / "var/lib/xephang/kiosk/kiosk.sqlite3").read_bytes() == b"tickets"
    uninstall()  # again: nothing left to do, no error
    done = uninstall("--purge")
    assert not (root / "etc/xephang").exists() and not (root / "var/lib/xephang").exists()
    assert "removed with its configuration and data" in done.stdout


def test_an_office_of_topology_b_installs_from_the_generated_files(tmp_path, wheelhouse, python_wrapper):
    from tests.support import OTHER_SITE_ID, SITE_ID, settings_dict
    from xephang.topology import Centre, Office, central

    bundle = tmp_path / "bundle"
    settings = load_settings(CommonSettings, None, **settings_dict())
    central(settings, bundle, Centre("central.example.vn"),
            [Office("a", (SITE_ID,), broker_dir="/var/lib/xephang/broker"), Office("b", (OTHER_SITE_ID,))])
    office = bundle / "office-a"
    broker_root = tmp_path / "broker-pi"
    broker_root.mkdir()
    _install(broker_root, wheelhouse, python_wrapper, "--role", "broker", "--broker-files", str(office / "broker"))
    for name in ("mosquitto.conf", "passwd", "acl"):
        assert (broker_root / "var/lib/xephang/broker" / name).read_bytes() == (office / "broker" / name).read_bytes()
    assert not (broker_root / "var/lib/xephang/broker/credentials.toml").exists()  # passwords stay with the officer
    assert "connection a\naddress central.example.vn:1883" in (broker_root / "var/lib/xephang/broker/mosquitto.conf").read_text()
    kiosk_root = tmp_path / "kiosk-pi"
    kiosk_root.mkdir()
    _install(kiosk_root, wheelhouse, python_wrapper, "--role", "kiosk",
             "--config-from", str(office / "devices/kiosk-1.toml"), "--secrets-from", str(office / "devices/kiosk-1.env"))
    assert (kiosk_root / "etc/xephang/xephang.toml").read_bytes() == (office / "devices/kiosk-1.toml").read_bytes()
    assert (kiosk_root / "etc/xephang/secrets.env").read_bytes() == (office / "devices/kiosk-1.env").read_bytes()
    assert stat.S_IMODE((kiosk_root / "etc/xephang/secrets.env").stat().st_mode) == 0o600
    kiosk = load_settings(KioskSettings, kiosk_root / "etc/xephang/xephang.toml")
    assert (kiosk.kiosk.device_id, kiosk.broker.username) == ("kiosk-1", "kiosk-1")


def test_a_second_role_on_the_same_machine_shares_venv_and_config(tmp_path, wheelhouse, python_wrapper):
    root = tmp_path / "root"
    root.mkdir()
    _install(root, wheelhouse, python_wrapper, "--role", "server")
    cfg = root / "opt/xephang/venv/pyvenv.cfg"
    assert "include-system-site-packages = false" in cfg.read_text()
    server_units = {p.name: p.read_bytes() for p in (root / "etc/systemd/system").iterdir()}
    done = _install(root, wheelhouse, python_wrapper, "--role", "kiosk")
    assert "has no [kiosk] section; add one (template: deploy/templates/config/kiosk.toml)" in done.stdout
    assert "include-system-site-packages = true" in cfg.read_text()  # for apt's python3-lgpio
    units = {p.name: p.read_bytes() for p in (root / "etc/systemd/system").iterdir()}
    assert set(units) == set(server_units) | {"xephang-kiosk.service"}
    assert all(units[name] == text for name, text in server_units.items())
    # A counter display on the same Pi: its own unit, and a word about its missing table.
    done = _install(root, wheelhouse, python_wrapper, "--role", "counter-display")
    assert ("has no [counter_display] section; add one (template: deploy/templates/config/counter-display.toml)"
            in done.stdout)
    assert {p.name for p in (root / "etc/systemd/system").iterdir()} == set(units) | {"xephang-counter-display.service"}
