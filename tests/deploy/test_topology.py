"""Topology (b) on loopback: two office Mosquittos bridged to a central Mosquitto and a
central server subprocess; events from both offices reach the centre exactly once, also
across a cut of the link to the centre. Plus the generated configs of (a) and (b)."""

from __future__ import annotations

import getpass
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import BrokerProcess, free_port
from display.settings import DisplaySettings
from kiosk.settings import KioskSettings
from protocol import topics
from protocol.events import make_event
from protocol.settings import CommonSettings, load_settings
from server.settings import ServerSettings
from tests.support import OTHER_SITE_ID, SITE_ID, settings_dict, wait_until
from xephang.topology import Centre, Office, central, small_office


def _settings() -> CommonSettings:
    return load_settings(CommonSettings, None, **settings_dict())


def _env_password(path) -> str:
    line = path.read_text().strip()
    assert line.startswith("XEPHANG_BROKER__PASSWORD=")
    return line.split("=", 1)[1]


def _client(port: int, user: str, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _issue(client: mqtt.Client, site: str, source: str, first_seq: int, count: int) -> set[str]:
    ids = set()
    infos = []
    for seq in range(first_seq, first_seq + count):
        ticket = uuid.uuid4()
        event = make_event(
            "ticket.issued", site=site, source=source, seq=seq,
            data={"ticket_id": ticket, "number": f"A{seq:03d}", "service": "tu-phap-ho-tich", "priority": None},
        )
        ids.add(str(event.id))
        infos.append(client.publish(topics.event(site, "ticket.issued"), event.to_json(), qos=1))
    for info in infos:
        info.wait_for_publish(10)
    return ids


def _rows(db, sql):
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def test_generated_small_office_configs_load_with_each_program(tmp_path):
    written = small_office(_settings(), tmp_path, host="192.168.1.10", port=1883, broker_dir="/var/lib/xephang/broker")
    conf = (tmp_path / "broker" / "mosquitto.conf").read_text()
    assert "listener 1883 0.0.0.0" in conf
    assert "password_file /var/lib/xephang/broker/passwd" in conf
    assert "connection " not in conf  # no bridge in topology (a)
    devices = tmp_path / "devices"
    server = load_settings(ServerSettings, devices / "server.toml")
    assert server.server.dispatch_sites == sorted([SITE_ID, OTHER_SITE_ID])
    kiosk = load_settings(KioskSettings, devices / "kiosk-1.toml")
    assert (kiosk.broker.host, kiosk.broker.username, kiosk.kiosk.site) == ("192.168.1.10", "kiosk-1", SITE_ID)
    display = load_settings(DisplaySettings, devices / "display-1.toml")
    assert (display.display.device, display.display.site) == ("display-1", SITE_ID)
    assert oct((devices / "kiosk-1.env").stat().st_mode & 0o777) == "0o600"
    assert set(written.new_accounts) == {"server", "kiosk-1", "kiosk-2", "display-1", "keypad-1", "feedback-1"}
    again = small_office(_settings(), tmp_path, host="192.168.1.10", port=1883, broker_dir="/var/lib/xephang/broker")
    assert again.new_accounts == {}  # passwords kept
    assert _env_password(devices / "kiosk-1.env") == written.new_accounts["kiosk-1"]


def test_central_configs_give_each_bridge_only_its_sites(tmp_path):
    offices = [Office("a", (SITE_ID,)), Office("b", (OTHER_SITE_ID,), server=False)]
    central(_settings(), tmp_path, Centre("central.example.vn"), offices)
    acl = (tmp_path / "central" / "broker" / "acl").read_text()
    block_a = acl.split("user bridge-a\n")[1].split("\n\n")[0]
    assert f"topic write xephang/v1/{SITE_ID}/events/#" in block_a
    assert OTHER_SITE_ID not in block_a and "read" not in block_a
    block_b = acl.split("user bridge-b\n")[1].split("\n\n")[0]
    assert f"topic read xephang/v1/{OTHER_SITE_ID}/state/#" in block_b and SITE_ID + "/" not in block_b
    conf_a = (tmp_path / "office-a" / "broker" / "mosquitto.conf").read_text()
    assert "address central.example.vn:1883" in conf_a
    assert f"topic xephang/v1/{SITE_ID}/events/# out 1" in conf_a and "state/#" not in conf_a
    conf_b = (tmp_path / "office-b" / "broker" / "mosquitto.conf").read_text()
    assert f"topic xephang/v1/{OTHER_SITE_ID}/state/# in 1" in conf_b
    centre = load_settings(ServerSettings, tmp_path / "central" / "server.toml")
    assert centre.server.dispatch_sites == [OTHER_SITE_ID]  # office b has no server
    office_a = load_settings(ServerSettings, tmp_path / "office-a" / "server.toml")
    assert office_a.server.dispatch_sites == [SITE_ID]
    assert not (tmp_path / "office-b" / "server.toml").exists()
    with pytest.raises(ValueError, match="sites in no office"):
        central(_settings(), tmp_path / "x", Centre("c"), [Office("a", (SITE_ID,))])
    with pytest.raises(ValueError, match="two offices"):
        central(_settings(), tmp_path / "y", Centre("c"), [Office("a", (SITE_ID, OTHER_SITE_ID)), Office("b", (OTHER_SITE_ID,))])


def _health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return {}


def _server(config, env_file, port, log):
    env = dict(os.environ, XEPHANG_BROKER__PASSWORD=_env_password(env_file))
    return subprocess.Popen(
        [sys.executable, "-m", "xephang.cli", "server", "--config", str(config), "--port", str(port)],
        stdout=log, stderr=log, start_new_session=True, env=env,
    )


def test_two_offices_reach_the_centre_exactly_once_across_a_link_cut(tmp_path):
    port_a, port_b, port_c = free_port(), free_port(), free_port()
    offices = [Office("a", (SITE_ID,), port=port_a, bind="127.0.0.1"),
               Office("b", (OTHER_SITE_ID,), server=False, port=port_b, bind="127.0.0.1")]
    db = tmp_path / "central.db"
    central(_settings(), tmp_path, Centre("127.0.0.1", port_c, bind="127.0.0.1"), offices,
            database=str(db), run_as_user=getpass.getuser())
    brokers = {
        name: BrokerProcess(tmp_path / folder / "broker" / "mosquitto.conf", port)
        for name, folder, port in (("a", "office-a", port_a), ("b", "office-b", port_b), ("c", "central", port_c))
    }
    log = open(tmp_path / "central-server.log", "ab")
    server = None
    try:
        for broker in brokers.values():
            broker.start()
        http_port = free_port()
        server = _server(tmp_path / "central" / "server.toml", tmp_path / "central" / "server.env", http_port, log)
        kiosk_a = _client(port_a, "kiosk-1", _env_password(tmp_path / "office-a" / "devices" / "kiosk-1.env"))
        kiosk_b = _client(port_b, "kiosk-2", _env_password(tmp_path / "office-b" / "devices" / "kiosk-2.env"))
        wait_until(lambda: _health(http_port).get("broker") == "connected", timeout_s=30)
        sent = _issue(kiosk_a, SITE_ID, "kiosk-1", 1, 50) | _issue(kiosk_b, OTHER_SITE_ID, "kiosk-2", 1, 50)
        wait_until(lambda: _rows(db, "SELECT COUNT(*) FROM events")[0][0] == 100, timeout_s=30)

        brokers["c"].stop()  # the link to the centre is down; offices keep taking tickets
        sent |= _issue(kiosk_a, SITE_ID, "kiosk-1", 51, 40) | _issue(kiosk_b, OTHER_SITE_ID, "kiosk-2", 51, 40)
        assert _rows(db, "SELECT COUNT(*) FROM events")[0][0] == 100
        brokers["c"].start()
        wait_until(lambda: _rows(db, "SELECT COUNT(*) FROM events")[0][0] == 180, timeout_s=60)
        assert server.poll() is None
        time.sleep(1.0)  # a late redelivery must still not double anything
        ids = [r[0] for r in _rows(db, "SELECT id FROM events")]
        assert len(ids) == 180 and set(ids) == sent
        per_site = dict(_rows(db, "SELECT site, COUNT(*) FROM tickets GROUP BY site"))
        assert per_site == {SITE_ID: 90, OTHER_SITE_ID: 90}
        assert _rows(db, "PRAGMA integrity_check") == [("ok",)]

        # office b has no server: the centre dispatches it and its retained state comes down.
        got = []
        watcher = _client(port_b, "kiosk-2", _env_password(tmp_path / "office-b" / "devices" / "kiosk-2.env"))
        watcher.on_message = lambda c, u, m: got.append(m.topic)
        watcher.subscribe(topics.queue_state(OTHER_SITE_ID), qos=1)
        wait_until(lambda: got, timeout_s=20)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        for broker in brokers.values():
            broker.stop()
        log.close()


def test_topology_command_parses_offices_and_refuses_bad_ones(tmp_path, capsys):
    import argparse

    from protocol.errors import XephangError
    from tests.support import write_toml
    from xephang import topology_cli

    config = write_toml(tmp_path / "shared.toml", settings_dict())
    parser = argparse.ArgumentParser()
    topology_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["topology", "central", "--config", str(config), "--out", str(tmp_path / "out"),
                              "--centre", "central.example.vn", "--office", f"a={SITE_ID}@192.168.1.10",
                              "--office", f"b={OTHER_SITE_ID}@192.168.2.10", "--no-server", "b"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "bridge-a:" in out and "bridge-b:" in out and "server-a:" in out and "server-b" not in out
    kiosk = load_settings(KioskSettings, tmp_path / "out" / "office-a" / "devices" / "kiosk-1.toml")
    assert kiosk.broker.host == "192.168.1.10"
    assert args.run(args) == 0
    assert "Không có tài khoản mới; giữ nguyên các mật khẩu đã có" in capsys.readouterr().out
    for office, message in ((["--office", "nonsense"], "write ID=SITE"),
                            (["--office", f"a={SITE_ID}"], "sites in no office"),
                            (["--office", f"a={SITE_ID},{OTHER_SITE_ID}", "--no-server", "zz"], "unknown offices: zz")):
        bad = parser.parse_args(["topology", "central", "--config", str(config), "--out", str(tmp_path / "bad"),
                                 "--centre", "c", *office])
        with pytest.raises(XephangError, match=message):
            bad.run(bad)
