"""Small packets leave at once on both hops of a call (server -> broker -> display).

Nagle's algorithm held a lone "ticket.called" back until the previous packet was
acknowledged (up to the peer's 40 ms delayed ACK); bench/dispatch.py shows the effect on
call-to-display latency. Here: the link's own socket and the broker's config.
"""

from __future__ import annotations

import socket

from protocol.link import MqttLink


def test_the_link_sends_without_nagle_delay(broker):
    link = MqttLink("test-nodelay", broker.settings_for("server"), clean_session=True).start()
    try:
        assert link.wait_connected(10)
        sock = link.client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        link.stop()


def test_the_broker_sends_without_nagle_delay(broker):
    conf = (broker.directory / "mosquitto.conf").read_text()
    assert "\nset_tcp_nodelay true\n" in conf
    log = (broker.directory / "mosquitto.log").read_text()
    assert "Error" not in log  # Mosquitto accepted the option (an unknown one stops it)
