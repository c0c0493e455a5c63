"""Topology (c) "national": the generated national broker starts, a province broker with
the generated bridge block carries its sites' roll-ups up and the acks down, and the
ACL keeps a province's bridge to its own sites."""

from __future__ import annotations

import getpass
import queue
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import BrokerProcess, free_port, write_config
from protocol import topics
from protocol.settings import Device
from xephang.topology_national import Province, national, provinces_from_sites


def client(port: int, user: str, password: str, subscribe: str | None = None) -> tuple[mqtt.Client, queue.SimpleQueue]:
    got: queue.SimpleQueue = queue.SimpleQueue()
    ready: queue.SimpleQueue = queue.SimpleQueue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{port}")
    c.username_pw_set(user, password)
    c.on_message = lambda _c, _u, m: got.put((m.topic, m.payload))
    c.on_subscribe = lambda *a: ready.put(True)
    c.on_connect = lambda cl, u, f, r, p: cl.subscribe(subscribe, qos=1) if subscribe else ready.put(True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    ready.get(timeout=10)
    return c, got


def test_generated_national_bridge_carries_roll_ups_up_and_acks_down(tmp_path):
    port = free_port()
    provinces = [Province("ha-noi", ("hn-xa-a", "hn-xa-b")), Province("hue", ("hue-xa-c",))]
    written = national(tmp_path / "out", "127.0.0.1", provinces, port, bind="127.0.0.1", run_as_user=getpass.getuser())
    passwords = written.new_accounts
    centre = BrokerProcess(tmp_path / "out/national/broker/mosquitto.conf", port).start()
    province_port = free_port()
    conf = write_config(tmp_path / "province", [Device(id="server", role="server")], {"server": "pw-server-1"},
                        province_port, run_as_user=getpass.getuser())
    conf.write_text(conf.read_text() + "\n" + (tmp_path / "out/province-ha-noi/bridge-national.conf").read_text())
    province = BrokerProcess(conf, province_port).start()
    aggregator = server = None
    try:
        aggregator, up = client(port, "national", passwords["national"], topics.ALL_ROLLUPS)
        server, down = client(province_port, "server", "pw-server-1", topics.ALL_ROLLUP_ACKS)
        # The bridge connects in the background: publish until the first roll-up arrives.
        for _ in range(50):
            server.publish(topics.rollup("hn-xa-a", "2026-04-14"), b"{}", qos=1)
            try:
                topic, _ = up.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("no roll-up crossed the bridge")
        assert topic == topics.rollup("hn-xa-a", "2026-04-14")
        aggregator.publish(topics.rollup_ack("hn-xa-b", "2026-04-14"), b"{}", qos=1)
        assert down.get(timeout=10)[0] == topics.rollup_ack("hn-xa-b", "2026-04-14")
        # Another province's site is not bridged by this province: it never reaches the
        # nation, checked by a later roll-up of its own site arriving first and alone.
        while not up.empty():
            up.get()
        server.publish(topics.rollup("hue-xa-c", "2026-04-14"), b"{}", qos=1)
        server.publish(topics.rollup("hn-xa-b", "2026-04-14"), b"{}", qos=1)
        assert up.get(timeout=10)[0] == topics.rollup("hn-xa-b", "2026-04-14")
    finally:
        for c in (aggregator, server):
            if c is not None:
                c.loop_stop()
                c.disconnect()
        province.stop()
        centre.stop()


def test_provinces_from_the_sites_labels_and_refusals():
    class Site:
        def __init__(self, id, groups):
            self.id, self.groups = id, groups

    found = provinces_from_sites([Site("a", {"province": "p1"}), Site("b", {"province": "p2"}), Site("c", {"province": "p1"})])
    assert found == [Province("p1", ("a", "c")), Province("p2", ("b",))]
    with pytest.raises(ValueError, match="without groups.province: d"):
        provinces_from_sites([Site("d", {})])
    with pytest.raises(ValueError, match="two provinces"):
        national(Path("/nonexistent"), "h", [Province("p1", ("a",)), Province("p2", ("a",))])
