"""The MQTT link every xephang program uses (paho-mqtt 2, MQTT 3.1.1).

- a fixed client id and `clean_session=False`, so the broker keeps QoS 1 messages for
  us while we are away;
- subscriptions are made in `on_connect`, so a reconnect re-subscribes;
- reconnects with back-off (paho's `reconnect_delay_set`);
- presence is a retained status topic with a last will saying `offline`;
- every callback goes through `_guard`: an exception is logged and counted and never
  kills paho's network thread (paho issues #704, #894).

Handlers run on paho's thread: they must hand work to the thread that owns it (a queue),
never touch SQLite writers or pygame directly.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from protocol import clock
from protocol.settings import BrokerSettings

log = logging.getLogger(__name__)

MessageHandler = Callable[[mqtt.MQTTMessage], object]  # what it returns is not used


class Link(Protocol):
    """What a publisher needs of an MQTT link: `MqttLink` is one."""

    @property
    def connected(self) -> threading.Event: ...

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo: ...


class Publish(Protocol):
    """Publish one message at QoS 1 on a program's link; `retain` for state topics.
    The server hands one of these to the parts that publish (dispatcher, state feed)."""

    def __call__(self, topic: str, payload: bytes, retain: bool, /) -> object: ...


def status_payload(state: str, **details: Any) -> bytes:
    body = {"state": state, "ts": clock.now().isoformat(), **details}
    return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")


class MqttLink:
    """A long-lived MQTT connection with presence, re-subscription and guarded callbacks."""

    def __init__(
        self,
        client_id: str,
        broker: BrokerSettings,
        *,
        subscriptions: list[tuple[str, int]] | None = None,
        on_message: MessageHandler | None = None,
        status_topic: str | None = None,
        status_details: dict[str, Any] | None = None,
        manual_ack: bool = False,
        clean_session: bool = False,
        on_published: Callable[[int], None] | None = None,
        on_connection_change: Callable[[bool], None] | None = None,
    ):
        self.client_id = client_id
        self.broker = broker
        self.subscriptions = list(subscriptions or [])
        self.status_topic = status_topic
        self.status_details = dict(status_details or {})
        self.callback_errors = 0
        self.connected = threading.Event()
        self.last_connect_error: str | None = None
        self._on_message = on_message
        self._on_published = on_published
        self._on_connection_change = on_connection_change
        self._stopping = False

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
            manual_ack=manual_ack,
        )
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        if broker.username:
            password = broker.password.get_secret_value() if broker.password else None
            client.username_pw_set(broker.username, password)
        if broker.tls_ca:
            client.tls_set(ca_certs=str(broker.tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if status_topic:
            client.will_set(status_topic, status_payload("offline", device=client_id), qos=1, retain=True)
        client.on_connect = self._guard(self._handle_connect)
        client.on_disconnect = self._guard(self._handle_disconnect)
        client.on_message = self._guard(self._handle_message)
        client.on_publish = self._guard(self._handle_publish)
        client.on_subscribe = self._guard(self._handle_subscribe)
        client.on_socket_open = self._guard(_no_delay)
        self._subscribe_mid: int | None = None
        self.client = client

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> MqttLink:
        """Connect in the background; paho keeps reconnecting until `stop()`."""
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s)
        self.client.loop_start()
        return self

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self.connected.wait(timeout_s)

    def stop(self) -> None:
        self._stopping = True
        if self.status_topic and self.connected.is_set():
            info = self.client.publish(
                self.status_topic, status_payload("offline", device=self.client_id), qos=1, retain=True
            )
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    # -- publishing -------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def set_status(self, state: str = "online", **details: Any) -> None:
        """Publish this device's retained status (merged with earlier details)."""
        self.status_details.update(details)
        if self.status_topic:
            self.client.publish(
                self.status_topic,
                status_payload(state, device=self.client_id, **self.status_details),
                qos=1,
                retain=True,
            )

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message received with manual_ack (after it is safely stored)."""
        self.client.ack(mid, qos)

    # -- callbacks --------------------------------------------------------------------
    def _guard(self, handler: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            try:
                handler(*args)
            except Exception:  # noqa: BLE001 - a paho callback must never raise
                self.callback_errors += 1
                log.exception("MQTT callback %s failed (%d so far)", handler.__name__, self.callback_errors)

        guarded.__name__ = handler.__name__
        return guarded

    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, properties: Properties | None
    ) -> None:
        if reason.is_failure:
            self.last_connect_error = str(reason)
            log.warning("MQTT connect to %s:%s refused: %s", self.broker.host, self.broker.port, reason)
            return
        self.last_connect_error = None
        if self.subscriptions:
            # "Connected" means able to receive: wait for the broker's SUBACK.
            _, self._subscribe_mid = client.subscribe([(topic, qos) for topic, qos in self.subscriptions])
        else:
            self._ready()

    def _handle_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Properties | None
    ) -> None:
        if mid == self._subscribe_mid:
            refused = [r for r in reasons if r.is_failure]
            if refused:
                log.error("MQTT subscriptions refused by %s:%s: %s", self.broker.host, self.broker.port, refused)
            self._ready()

    def _ready(self) -> None:
        self.connected.set()
        if self.status_topic:
            self.set_status("online")
        if self._on_connection_change:
            self._on_connection_change(True)

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode, properties: Properties | None
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("MQTT link to %s:%s lost: %s", self.broker.host, self.broker.port, reason)
        if self._on_connection_change:
            self._on_connection_change(False)

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._on_message:
            self._on_message(message)

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties | None
    ) -> None:
        if self._on_published:
            self._on_published(mid)


def _no_delay(client: mqtt.Client, userdata: Any, sock: mqtt.SocketLike) -> None:
    """Send each packet at once (TCP_NODELAY): a call must not wait up to 40 ms for
    Nagle's algorithm to batch it with the next one (the broker does the same, see
    broker/config.py)."""
    if isinstance(sock, socket.socket):  # also ssl.SSLSocket; not a websocket wrapper
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
