"""The board's MQTT feed: paho's thread puts raw messages into a queue, nothing more.

`Feed` owns the protocol.link.MqttLink (client id = device id, retained presence on
the device status topic) and subscribes to the site's retained `state/board` and its
`ticket.called` / `ticket.recalled` events. Its callbacks run on paho's thread and only
call `queue.put_nowait`: parsing and drawing happen in the render loop, through
`apply_inbound()`, which never raises on a bad message.

No pygame here.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from display.board import Announcement, BoardModel
from protocol import topics
from protocol.events import InvalidEvent, TicketCalled, TicketRecalled, parse_event
from protocol.settings import BrokerSettings
from protocol.state import BoardState

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt  # type only: this module stays free of paho at run time

log = logging.getLogger(__name__)

CALL_TYPES = ("ticket.called", "ticket.recalled")
INBOX_SIZE = 5000


@dataclass(frozen=True)
class Inbound:
    """One item handed from paho's thread to the render loop."""

    kind: str  # "message" | "link"
    topic: str = ""
    payload: bytes = b""
    up: bool = False
    put_s: float = field(default=0.0, compare=False)  # perf_counter() when queued


def subscriptions(site: str) -> list[tuple[str, int]]:
    return [
        (topics.board_state(site), 1),
        *((topics.event(site, kind), 1) for kind in CALL_TYPES),
    ]


class Feed:
    """MQTT -> queue. `start()` connects in the background; `stop()` says offline."""

    def __init__(
        self,
        site: str,
        device: str,
        broker: BrokerSettings,
        inbox: queue.Queue[Inbound],
        clock: Callable[[], float] = time.perf_counter,
        details: dict[str, Any] | None = None,
        *,
        presence: bool = True,
        client_suffix: str = "",
    ):
        from protocol.link import MqttLink  # paho only for a board that connects

        self.inbox = inbox
        self.clock = clock
        self.dropped = 0
        # A one-off reader (a snapshot) uses its own client id and no presence, so it
        # neither kicks the running board off the broker nor marks it offline.
        self.link = MqttLink(
            client_id=device + client_suffix,
            broker=broker,
            subscriptions=subscriptions(site),
            on_message=self._on_message,
            status_topic=topics.device_status(site, device) if presence else None,
            status_details=details,
            clean_session=not presence,
            on_connection_change=self._on_link,
        )

    def _put(self, item: Inbound) -> None:
        try:
            self.inbox.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            log.warning("board inbox full: dropped a message (%d so far)", self.dropped)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self._put(Inbound("message", message.topic, bytes(message.payload), put_s=self.clock()))

    def _on_link(self, up: bool) -> None:
        self._put(Inbound("link", up=up, put_s=self.clock()))

    def start(self) -> Feed:
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()


def apply_inbound(
    item: Inbound, model: BoardModel, now_s: float, now_at: datetime
) -> tuple[bool, Announcement | None]:
    """Apply one queued item to the model: (something changed, what to announce).

    A bad message is logged and counted on the model; it never raises.
    """
    if item.kind == "link":
        return model.set_link(item.up, now_s), None
    try:
        where = topics.parse(item.topic)
    except topics.InvalidTopic as exc:
        model.note_bad_message(str(exc))
        return False, None
    if where.kind == "state" and where.name == "board":
        if not item.payload:
            return False, None  # a cleared retained message
        try:
            state = BoardState.model_validate_json(item.payload)
        except (ValidationError, ValueError) as exc:
            model.note_bad_message(f"state/board: {_first_line(exc)}")
            return False, None
        return model.apply_state(state, now_s), None
    if where.kind == "events" and where.name in CALL_TYPES:
        try:
            event = parse_event(item.payload)
        except InvalidEvent as exc:
            model.note_bad_message(f"{where.name}: {exc.reason}")
            return False, None
        if event.type != where.name or not isinstance(event, TicketCalled | TicketRecalled):
            model.note_bad_message(f"{event.type} published on the {where.name} topic")
            return False, None
        before = model.revision
        announcement = model.apply_call(event, now_s, now_at)
        return model.revision != before, announcement
    return False, None


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'payload'}: {first['msg']}"
    return json.dumps(str(exc))[:200]
