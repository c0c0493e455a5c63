"""Desk keypads: `commands/{counter}` over MQTT, handled exactly like console actions.

A keypad (a Pi with buttons, a USB keypad bridge) publishes
`xephang/v1/{site}/commands/{counter}` with a JSON payload
`{"action": "next" | "recall" | "complete" | "no_show", "outcome"?: ..., "device"?: ...}`.
The broker's ACL lets a keypad account write only its own counter's topic, so the
topic's counter is the authority; `device` is only recorded in the audit log.
Messages are handed from paho's thread to one worker thread that calls the dispatcher
(same rules, same events, same audit trail as the console). `complete` without an
outcome is recorded as `info`, which the 60-minute ratio leaves out, so a keypad that
cannot say the outcome never inflates it. No FastAPI here.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.events import OUTCOMES
from protocol.link import MqttLink
from protocol.settings import BrokerSettings
from server.desk.dispatch import Answer, Dispatcher
from server.desk.errors import DeskRefused
from server.storage import audit
from server.storage.audit import Actor

log = logging.getLogger(__name__)
COMMANDS = f"{topics.PREFIX}/+/commands/+"
ACTIONS = ("next", "recall", "complete", "no_show")
MAX_COMMAND_BYTES = 2048


class KeypadCommands:
    """Subscribes to keypad commands and runs them through the dispatcher."""

    def __init__(self, dispatcher: Dispatcher, broker: BrokerSettings, client_id: str):
        self.dispatcher = dispatcher
        self.handled = 0
        self.refused = 0
        self.inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="xephang-keypad", daemon=True)
        # Clean session: a "next" pressed while the server was down must not fire later.
        self.link = MqttLink(
            f"{client_id}-commands", broker, subscriptions=[(COMMANDS, 1)],
            on_message=self._receive, clean_session=True,
        )

    def start(self) -> KeypadCommands:
        self._thread.start()
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()
        self.inbox.put(None)
        self._thread.join(5)

    def _receive(self, message: mqtt.MQTTMessage) -> None:
        try:
            self.inbox.put_nowait((message.topic, bytes(message.payload)))
        except queue.Full:
            self.refused += 1
            log.warning("keypad command dropped: queue full")

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            try:
                self.handle(*item)
            except DeskRefused as exc:
                self.refused += 1
                log.info("keypad command on %s refused: %s", item[0], exc.code)
            except Exception:  # noqa: BLE001 - one bad command must not stop the worker
                self.refused += 1
                log.exception("keypad command on %s failed", item[0])

    def handle(self, topic: str, payload: bytes) -> Answer | None:
        """Run one command; raises DeskRefused when it is refused (already audited)."""
        try:
            parsed = topics.parse(topic)
        except topics.InvalidTopic:
            return None
        if parsed.kind != "commands" or parsed.site not in self.dispatcher.dispatch_sites:
            return None  # another server dispatches that site
        site, counter = parsed.site, parsed.name
        body = _decode(payload)
        device = str(body.get("device") or "")[:40] if isinstance(body, dict) else ""
        actor = Actor(f"keypad:{device or counter}", "keypad", "mqtt", topic)
        if not isinstance(body, dict) or body.get("action") not in ACTIONS:
            audit.record_failure(self.dispatcher.store, actor, "keypad_command", "invalid_command",
                                 site=site, counter=counter)
            raise DeskRefused("invalid_command", f"action must be one of {', '.join(ACTIONS)}")
        action = body["action"]
        self.handled += 1
        if action == "next":
            return self.dispatcher.call_next(site, counter, actor)
        if action == "recall":
            return self.dispatcher.recall(site, counter, actor)
        if action == "no_show":
            return self.dispatcher.no_show(site, counter, actor)
        outcome = body.get("outcome") or "info"
        if outcome not in OUTCOMES:
            audit.record_failure(self.dispatcher.store, actor, "complete", "invalid_outcome", site=site, counter=counter)
            raise DeskRefused("invalid_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        code = body.get("dossier_code")
        return self.dispatcher.complete(site, counter, outcome, str(code) if code else None, actor=actor)


def _decode(payload: bytes) -> Any:
    if len(payload) > MAX_COMMAND_BYTES:
        return None
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
