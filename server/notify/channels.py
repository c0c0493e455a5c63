"""The one small interface every message channel implements, its two errors, and the two
channels that need no network: the ticket page (the default) and a file of JSON lines.

A channel may say `instant = True` (the outbox row itself is the delivery: the ticket
page) or `batch = n` (claim up to n rows at once: only where a resend cannot duplicate,
since rows of one claim are marked sent together). A channel's `send` delivers one message or raises `Retry` (try again later: network down,
quota, the provider's 5xx) or `Rejected` (it will never work: invalid number, template
refused, subscription gone). It never logs an address. Imports the standard library and
server.notify.outbox only.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TextIO


@dataclass(frozen=True)
class Message:
    key: str  # idempotency key: the same for every attempt
    ticket_id: str
    site: str
    kind: str
    text: str
    params: dict[str, Any]
    address: str | None  # the contact the citizen gave this channel (None: none needed)


class Retry(Exception):  # noqa: N818 - a verdict, not a failure of ours
    """Not delivered this time; try again (after `after_s` when the provider said so)."""

    def __init__(self, reason: str, after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


class Rejected(Exception):  # noqa: N818 - a verdict, not a failure of ours
    """Never deliverable as it is; `forget_contact` when the address itself is bad."""

    def __init__(self, reason: str, forget_contact: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.forget_contact = forget_contact


class Channel(Protocol):
    name: ClassVar[str]
    needs_contact: ClassVar[bool]  # only tickets whose citizen opted in get messages

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


class PageChannel:
    """The ticket page (`/t/<id>`): a sent row is what the page's next poll shows and
    alerts on. Nothing leaves the server; no contact, no personal data."""

    name: ClassVar[str] = "page"
    needs_contact: ClassVar[bool] = False
    instant: ClassVar[bool] = True  # the outbox row is written as delivered: no send step

    def send(self, message: Message) -> None:
        return None  # being marked sent in the outbox is the delivery

    def close(self) -> None:
        return None


class FileChannel:
    """JSON lines appended to a file, for offices with no other channel (a notice screen,
    a script, an audit). Ticket id, kind and text only: no contact."""

    name: ClassVar[str] = "file"
    needs_contact: ClassVar[bool] = False
    batch: ClassVar[int] = 100  # no provider to deduplicate for: take many rows per claim

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self.handle: TextIO | None = None

    def send(self, message: Message) -> None:
        line = json.dumps({"key": message.key, "site": message.site, "ticket_id": message.ticket_id,
                           "kind": message.kind, "text": message.text}, ensure_ascii=False)
        try:
            with self.lock:
                if self.handle is None:
                    self.handle = self.path.open("a", encoding="utf-8")
                self.handle.write(line + "\n")
                self.handle.flush()
        except OSError as exc:
            self.close()
            raise Retry(f"cannot write {self.path.name}: {exc.strerror}") from None

    def close(self) -> None:
        with self.lock:
            if self.handle is not None:
                try:
                    self.handle.close()
                except OSError:
                    pass
                self.handle = None
