"""TLS on the broker as docs/security.md says: xephang's generated config plus a TLS
listener, clients with `broker.tls_ca`. Certificates made with openssl for the test."""

from __future__ import annotations

import getpass
import subprocess
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import BrokerProcess, free_port, write_config
from protocol.link import MqttLink
from protocol.settings import BrokerSettings
from tests.support import DEVICES, password_for, wait_until


def _certificates(folder) -> dict[str, str]:
    folder.mkdir()
    run = lambda *args: subprocess.run(args, cwd=folder, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=xephang test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other-ca.crt",
        "-days", "2", "-subj", "/CN=somebody else")
    return {name: str(folder / name) for name in ("ca.crt", "broker.crt", "broker.key", "other-ca.crt")}


def test_tls_listener_with_generated_config_and_tls_ca_in_client_settings(tmp_path):
    certs = _certificates(tmp_path / "certs")
    plain_port, tls_port = free_port(), free_port()
    passwords = {d.id: password_for(d.id) for d in DEVICES}
    conf = write_config(tmp_path / "broker", DEVICES, passwords, plain_port, run_as_user=getpass.getuser())
    # The lines docs/security.md tells an installer to add (here on a second port).
    conf.write_text(conf.read_text() + (
        f"\nlistener {tls_port} 127.0.0.1\n"
        f"cafile {certs['ca.crt']}\ncertfile {certs['broker.crt']}\nkeyfile {certs['broker.key']}\n"
        "tls_version tlsv1.2\n"
    ))
    broker = BrokerProcess(conf, tls_port).start()
    try:
        got: list = []
        server = MqttLink(
            "server", BrokerSettings(host="127.0.0.1", port=tls_port, username="server",
                                     password=passwords["server"], tls_ca=certs["ca.crt"]),
            subscriptions=[("xephang/#", 1)], on_message=lambda m: got.append(m.topic),
        ).start()
        assert server.wait_connected(10), server.last_connect_error
        kiosk = MqttLink(
            "kiosk-1", BrokerSettings(host="127.0.0.1", port=tls_port, username="kiosk-1",
                                      password=passwords["kiosk-1"], tls_ca=certs["ca.crt"]),
            status_topic="xephang/v1/test-site/devices/kiosk-1/status",
        ).start()
        assert kiosk.wait_connected(10)
        wait_until(lambda: "xephang/v1/test-site/devices/kiosk-1/status" in got, 10)
        # The ACL still applies over TLS.
        kiosk.publish("xephang/v1/test-site/events/ticket.completed", b"{}").wait_for_publish(5)
        kiosk.stop()
        server.stop()
        assert "xephang/v1/test-site/events/ticket.completed" not in got
        # A client that trusts another CA, or speaks plain MQTT to the TLS port, gets nowhere.
        stranger = MqttLink(
            "display-1", BrokerSettings(host="127.0.0.1", port=tls_port, username="display-1",
                                        password=passwords["display-1"], tls_ca=certs["other-ca.crt"]),
        ).start()
        assert not stranger.wait_connected(3)
        stranger.client.loop_stop()
        plain = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")
        plain.username_pw_set("server", passwords["server"])
        connected: list = []
        plain.on_connect = lambda c, u, f, reason, p: connected.append(reason)
        try:
            plain.connect("127.0.0.1", tls_port)
        except OSError as exc:
            connected.append(exc)  # refused outright is as good
        else:
            plain.loop_start()
            time.sleep(2)  # a plain CONNECT on a TLS port gets no CONNACK
            plain.loop_stop()
        assert not [r for r in connected if not isinstance(r, OSError) and not r.is_failure]
    finally:
        broker.stop()
