"""A small embedded MQTT 3.1.1 broker for the demo when Mosquitto is not installed.

Not for production: it keeps everything in memory (no persistence), serves one
listener, and is as small as we could make it while keeping what xephang relies on:
username/password from the same password file `xephang broker config` writes
(PBKDF2-SHA512 `$7$` lines), the same ACL file (`user` blocks with `topic read|write|
readwrite PATTERN`), QoS 0 and 1 with redelivery to persistent sessions, retained
messages, last wills, keep-alive. Offices run Mosquitto (docs/deployment.md).
Standard library only (asyncio); no FastAPI or paho here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 10, 11, 12, 13, 14


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching with + and # (no $-topic special cases needed here)."""
    p_parts, t_parts = pattern.split("/"), topic.split("/")
    for index, part in enumerate(p_parts):
        if part == "#":
            return True
        if index >= len(t_parts) or (part != "+" and part != t_parts[index]):
            return False
    return len(p_parts) == len(t_parts)


def read_passwords(path: Path) -> dict[str, str]:
    users = {}
    for line in path.read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            user, _, hashed = line.partition(":")
            users[user] = hashed
    return users


def check_password(hashed: str, password: str) -> bool:
    parts = hashed.split("$")  # ['', '7', iterations, salt, hash]
    if len(parts) != 5 or parts[1] != "7":
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(parts[3]), int(parts[2]), 64)
    return hmac.compare_digest(digest, base64.b64decode(parts[4]))


def read_acl(path: Path) -> dict[str, list[tuple[str, str]]]:
    rules: dict[str, list[tuple[str, str]]] = {}
    user = None
    for raw in path.read_text().splitlines():
        words = raw.split()
        if len(words) == 2 and words[0] == "user":
            user = words[1]
            rules.setdefault(user, [])
        elif len(words) == 3 and words[0] == "topic" and user is not None:
            rules[user].append((words[1], words[2]))
    return rules


@dataclass
class Session:
    client_id: str
    user: str
    clean: bool
    subscriptions: dict[str, int] = field(default_factory=dict)
    pending: deque = field(default_factory=deque)  # (topic, payload, qos) queued while away
    inflight: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    next_id: int = 1
    writer: asyncio.StreamWriter | None = None

    def packet_id(self) -> int:
        self.next_id = self.next_id % 65535 + 1
        return self.next_id


class MiniBroker:
    def __init__(self, port: int, password_file: Path, acl_file: Path, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.passwords = read_passwords(password_file)
        self.acl = read_acl(acl_file)
        self.sessions: dict[str, Session] = {}
        self.retained: dict[str, bytes] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- running in a thread (the demo) -------------------------------------------------
    def start(self) -> "MiniBroker":
        self._thread = threading.Thread(target=self._run, name="minibroker", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("embedded broker did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._server and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        if self._thread:
            self._thread.join(5)

    async def _shutdown(self) -> None:
        self._server.close()
        for session in self.sessions.values():
            if session.writer is not None:
                session.writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.call_soon(self._loop.stop)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._client, self.host, self.port))
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    # -- access control -----------------------------------------------------------------
    def allowed(self, user: str, topic: str, access: str) -> bool:
        for kind, pattern in self.acl.get(user, []):
            if (kind == access or kind == "readwrite") and topic_matches(pattern, topic):
                return True
        return False

    # -- the protocol -------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Session | None = None
        will: tuple[str, bytes, int, bool] | None = None
        keepalive = 60
        try:
            kind, flags, body = await asyncio.wait_for(_read_packet(reader), 10)
            if kind != CONNECT:
                return
            session, will, keepalive, code, present = self._connect(body, writer)
            writer.write(bytes([CONNACK << 4, 2, int(present), code]))
            await writer.drain()
            if code:
                return
            self._resume(session)
            while True:
                kind, flags, body = await asyncio.wait_for(_read_packet(reader), keepalive * 1.5 or None)
                if kind == PUBLISH:
                    await self._publish_in(session, flags, body, writer)
                elif kind == PUBACK:
                    session.inflight.pop(struct.unpack("!H", body[:2])[0], None)
                elif kind == SUBSCRIBE:
                    self._subscribe(session, body, writer)
                elif kind == UNSUBSCRIBE:
                    packet_id, filters = struct.unpack("!H", body[:2])[0], _strings(body[2:])
                    for f in filters:
                        session.subscriptions.pop(f, None)
                    writer.write(bytes([UNSUBACK << 4, 2]) + struct.pack("!H", packet_id))
                elif kind == PINGREQ:
                    writer.write(bytes([PINGRESP << 4, 0]))
                elif kind == DISCONNECT:
                    will = None
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            if session is not None and session.writer is writer:
                session.writer = None
                if session.clean:
                    self.sessions.pop(session.client_id, None)
                if will:
                    self._route(session.user, *will)
            writer.close()

    def _connect(self, body: bytes, writer: asyncio.StreamWriter):
        name, offset = _string(body, 0)
        level, flags = body[offset], body[offset + 1]
        keepalive = struct.unpack("!H", body[offset + 2 : offset + 4])[0]
        offset += 4
        client_id, offset = _string(body, offset)
        will = None
        if flags & 0x04:
            will_topic, offset = _string(body, offset)
            length = struct.unpack("!H", body[offset : offset + 2])[0]
            will = (will_topic, body[offset + 2 : offset + 2 + length], (flags >> 3) & 3, bool(flags & 0x20))
            offset += 2 + length
        user = password = ""
        if flags & 0x80:
            user, offset = _string(body, offset)
        if flags & 0x40:
            length = struct.unpack("!H", body[offset : offset + 2])[0]
            password = body[offset + 2 : offset + 2 + length].decode("utf-8", "replace")
        hashed = self.passwords.get(user)
        if name != "MQTT" or level != 4:
            return None, None, keepalive, 1, False
        if not hashed or not check_password(hashed, password):
            return None, None, keepalive, 5, False
        clean = bool(flags & 0x02)
        old = self.sessions.get(client_id)
        if old and old.writer is not None:
            old.writer.close()
        present = bool(old) and not clean
        session = old if present else Session(client_id, user, clean)
        session.user, session.clean, session.writer = user, clean, writer
        self.sessions[client_id] = session
        return session, will, keepalive, 0, present

    def _resume(self, session: Session) -> None:
        for packet_id, (topic, payload) in list(session.inflight.items()):
            self._send(session, topic, payload, 1, False, packet_id, dup=True)
        while session.pending:
            self._send(session, *session.pending.popleft(), retain=False)

    async def _publish_in(self, session: Session, flags: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        qos, retain = (flags >> 1) & 3, bool(flags & 1)
        topic, offset = _string(body, 0)
        if qos:
            packet_id = struct.unpack("!H", body[offset : offset + 2])[0]
            offset += 2
            writer.write(bytes([PUBACK << 4, 2]) + struct.pack("!H", packet_id))
        self._route(session.user, topic, body[offset:], min(qos, 1), retain)

    def _route(self, user: str, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if not self.allowed(user, topic, "write"):
            return  # like Mosquitto: acknowledged, then dropped
        if retain:
            if payload:
                self.retained[topic] = payload
            else:
                self.retained.pop(topic, None)
        for session in list(self.sessions.values()):
            granted = max((q for f, q in session.subscriptions.items() if topic_matches(f, topic)), default=None)
            if granted is None or not self.allowed(session.user, topic, "read"):
                continue
            effective = min(qos, granted)
            if session.writer is None:
                if effective and not session.clean:
                    session.pending.append((topic, payload, effective))
                continue
            self._send(session, topic, payload, effective, False)

    def _subscribe(self, session: Session, body: bytes, writer: asyncio.StreamWriter) -> None:
        packet_id = struct.unpack("!H", body[:2])[0]
        offset, granted = 2, []
        new_filters = []
        while offset < len(body):
            topic_filter, offset = _string(body, offset)
            qos = min(body[offset], 1)
            offset += 1
            session.subscriptions[topic_filter] = qos
            granted.append(qos)
            new_filters.append((topic_filter, qos))
        writer.write(bytes([SUBACK << 4]) + _length(2 + len(granted)) + struct.pack("!H", packet_id) + bytes(granted))
        for topic, payload in list(self.retained.items()):
            for topic_filter, qos in new_filters:
                if topic_matches(topic_filter, topic) and self.allowed(session.user, topic, "read"):
                    self._send(session, topic, payload, qos, True)
                    break

    def _send(self, session: Session, topic: str, payload: bytes, qos: int, retain: bool,
              packet_id: int | None = None, dup: bool = False) -> None:
        if session.writer is None:
            return
        encoded = topic.encode()
        variable = struct.pack("!H", len(encoded)) + encoded
        if qos:
            packet_id = packet_id or session.packet_id()
            session.inflight[packet_id] = (topic, payload)
            variable += struct.pack("!H", packet_id)
        header = (PUBLISH << 4) | (8 if dup else 0) | (qos << 1) | int(retain)
        session.writer.write(bytes([header]) + _length(len(variable) + len(payload)) + variable + payload)


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, multiplier = 0, 1
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            break
    if length > 4 * 1024 * 1024:
        raise ValueError("packet too large")
    return first >> 4, first & 0x0F, await reader.readexactly(length)


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(data: bytes, offset: int) -> tuple[str, int]:
    length = struct.unpack("!H", data[offset : offset + 2])[0]
    return data[offset + 2 : offset + 2 + length].decode("utf-8"), offset + 2 + length


def _strings(data: bytes) -> list[str]:
    found, offset = [], 0
    while offset < len(data):
        value, offset = _string(data, offset)
        found.append(value)
    return found
