"""The audit log: who did what, when, from where, and whether it worked.

Every state-changing action (desk actions from the console, the API or a keypad, logins,
account changes, the day-end job) leaves one row. A successful desk action writes its
row inside the dispatcher's transaction, so the event and its audit row commit together.
No FastAPI here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


class Writer(Protocol):
    """A store with one write transaction at a time (`EventStore` is one)."""

    def writing(self) -> AbstractContextManager[sqlite3.Connection]: ...


@dataclass(frozen=True)
class Actor:
    """Who acts: a user, a device or the system, and by which channel."""

    name: str
    role: str = "system"
    via: str = "direct"  # web | api | mqtt | system | direct (Python callers, e.g. the simulator)
    remote: str | None = None  # IP address, or the broker topic for keypads


SYSTEM = Actor("system", "system", "system")


def as_actor(actor: Actor | str | None) -> Actor:
    """Accept an Actor, a plain name (callers such as the simulator) or None (system)."""
    if actor is None:
        return SYSTEM
    if isinstance(actor, Actor):
        return actor
    return Actor(str(actor)[:80])


def record(
    conn: sqlite3.Connection,
    actor: Actor,
    action: str,
    *,
    site: str | None = None,
    counter: str | None = None,
    target: str | None = None,
    ok: bool = True,
    code: str | None = None,
    detail: dict[str, Any] | None = None,
    at: float | None = None,
) -> None:
    """Write one audit row on `conn` (inside the caller's transaction if one is open)."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, role, via, remote, action, site, counter, target, ok, code, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            at if at is not None else time.time(), actor.name, actor.role, actor.via,
            (actor.remote or "")[:200] or None, action, site, counter, target, int(ok), code,
            json.dumps(detail, ensure_ascii=False, default=str)[:2000] if detail else None,
        ),
    )


def record_failure(store: Writer, actor: Actor, action: str, code: str, **where: Any) -> None:
    """A refused action in its own small transaction (the action's own one rolled back)."""
    with store.writing() as conn:
        record(conn, actor, action, ok=False, code=code, **where)


def recent(conn: sqlite3.Connection, site: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    sql = "SELECT at, actor, role, via, remote, action, site, counter, target, ok, code, detail FROM audit_log"
    params: list[Any] = []
    if site is not None:
        sql += " WHERE site = ?"
        params.append(site)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    names = ("at", "actor", "role", "via", "remote", "action", "site", "counter", "target", "ok", "code", "detail")
    rows = []
    for row in conn.execute(sql, params).fetchall():
        item = dict(zip(names, tuple(row)))
        item["ok"] = bool(item["ok"])
        item["detail"] = json.loads(item["detail"]) if item["detail"] else None
        rows.append(item)
    return rows
