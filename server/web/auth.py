"""Accounts, sessions, API tokens and the checks every route uses.

- Passwords are hashed with argon2 (argon2-cffi); nobody has a default password: the
  only accounts are those made with `xephang users add` (or by the demo, which prints
  its passwords).
- Browsers get a session cookie (random token, stored hashed; HttpOnly, SameSite=Strict,
  Secure over HTTPS) and a CSRF token: every cookie-authenticated POST must carry it in
  the `X-CSRF-Token` header or a `csrf_token` form field.
- API clients send `Authorization: Bearer <token>` (made by `xephang tokens create`,
  stored as a SHA-256 hash: the token itself is shown once). No CSRF check for them.
- Login failures are limited per user name and address (5 per 5 minutes).

No paho, no templates here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, cast

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from server.storage.audit import Writer
from server.web.errors import ApiError

Role = Literal["desk", "manager", "admin"]
ROLES = ("desk", "manager", "admin")
SESSION_COOKIE = "xephang_session"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_hasher = PasswordHasher()
# What an unknown user name is checked against, so a login costs the same whether or not
# the user exists. Stored, not computed at import: one argon2 hash takes its memory cost
# (64 MiB) at once, and computing it at start-up made that the server's peak RSS
# (docs/benchmarks.md, issue 23). Its parameters must stay those of `_hasher`
# (tests/server/test_auth_dummy_hash.py checks it).
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$J+VB7y8/4rtFBw+qrhfd+w$mkRqhQS4BaK43iq3WyEsSK4ofY3LF9oPTE3KtP8qSzY"


class User(BaseModel):
    username: str
    role: Role
    sites: list[str] = Field(default_factory=list)
    counters: list[str] = Field(default_factory=list)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- storage ---------------------------------------------------------------------------
# Where accounts are written: the running server's store, or the database file opened
# by the `users`/`tokens` commands (sqlite-utils), or a plain connection.
Storage = Writer | sqlite_utils.Database | sqlite3.Connection
T = TypeVar("T")


def _with_conn(conn_or_store: Storage, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` in a write transaction of a store, or on a plain connection/Database."""
    if isinstance(conn_or_store, sqlite3.Connection):
        return work(conn_or_store)
    if isinstance(conn_or_store, sqlite_utils.Database):
        return work(conn_or_store.conn)
    with conn_or_store.writing() as conn:
        return work(conn)


def _row_user(row: sqlite3.Row | tuple[Any, ...]) -> User:
    return User(username=row[0], role=row[1], sites=json.loads(row[2]), counters=json.loads(row[3]))


def create_user(
    conn_or_store: Storage,
    username: str,
    password: str,
    role: str,
    sites: list[str] | tuple[str, ...] = (),
    counters: list[str] | tuple[str, ...] = (),
    *,
    replace: bool = False,
) -> User:
    """Create (or with replace=True, reset) an account; raises ValueError on bad input."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise ValueError("user name must be 1-64 characters without spaces")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not password:
        raise ValueError("password must not be empty")
    user = User(username=username, role=cast(Role, role), sites=list(sites), counters=list(counters))  # checked above
    password_hash = _hasher.hash(password)

    def work(conn: sqlite3.Connection) -> None:
        exists = conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
        if exists and not replace:
            raise ValueError(f"user {username!r} already exists")
        conn.execute(
            "INSERT OR REPLACE INTO users (username, password_hash, role, sites, counters, created_at, disabled) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            (username, password_hash, role, json.dumps(user.sites), json.dumps(user.counters), time.time()),
        )
        if exists:
            conn.execute("DELETE FROM sessions WHERE username = ?", (username,))

    _with_conn(conn_or_store, work)
    return user


def list_users(conn_or_store: Storage) -> list[User]:
    def work(conn: sqlite3.Connection) -> list[User]:
        rows = conn.execute(
            "SELECT username, role, sites, counters FROM users WHERE disabled = 0 ORDER BY username"
        ).fetchall()
        return [_row_user(r) for r in rows]

    return _with_conn(conn_or_store, work)


def create_token(conn_or_store: Storage, username: str, name: str = "api", ttl_days: int | None = None) -> str:
    """A new bearer token for `username`; returns the token (only its hash is kept)."""
    token = "xph_" + secrets.token_urlsafe(32)
    now = time.time()

    def work(conn: sqlite3.Connection) -> None:
        if not conn.execute("SELECT 1 FROM users WHERE username = ? AND disabled = 0", (username,)).fetchone():
            raise ValueError(f"no user {username!r}")
        conn.execute(
            "INSERT INTO api_tokens (token_hash, username, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (hash_token(token), username, name[:80], now, now + ttl_days * 86400 if ttl_days else None),
        )

    _with_conn(conn_or_store, work)
    return token


def verify_password(conn: sqlite3.Connection, username: str, password: str) -> User | None:
    row = conn.execute(
        "SELECT username, role, sites, counters, password_hash FROM users WHERE username = ? AND disabled = 0",
        (username,),
    ).fetchone()
    try:
        if row is None:
            _hasher.verify(_DUMMY_HASH, password)  # same cost whether or not the user exists
            return None
        _hasher.verify(row[4], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return _row_user(row)


def start_session(store: Writer, username: str) -> tuple[str, str]:
    """A new browser session: returns (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = time.time()
    with store.writing() as conn:
        conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        conn.execute(
            "INSERT INTO sessions (token_hash, username, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (hash_token(token), username, csrf, now, now + SESSION_TTL_S),
        )
    return token, csrf


def end_session(store: Writer, token: str) -> None:
    with store.writing() as conn:
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (hash_token(token),))


# -- login rate limit ------------------------------------------------------------------
# -- request checks --------------------------------------------------------------------
_readers = threading.local()


def reader_for(request: Request) -> sqlite3.Connection:
    """A read connection per worker thread (WAL readers run beside the writer)."""
    store = request.app.state.runtime.store
    cache = getattr(_readers, "conns", None)
    if cache is None:
        cache = _readers.conns = {}
    conn = cache.get(str(store.path))
    if conn is None:
        conn = cache[str(store.path)] = store.reader()
    return conn


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _lookup(request: Request) -> tuple[User, str | None] | None:
    """(user, csrf token or None for bearer) from the request, or None."""
    conn = reader_for(request)
    now = time.time()
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        row = conn.execute(
            "SELECT u.username, u.role, u.sites, u.counters FROM api_tokens t JOIN users u ON u.username = t.username "
            "WHERE t.token_hash = ? AND u.disabled = 0 AND (t.expires_at IS NULL OR t.expires_at > ?)",
            (hash_token(header[7:].strip()), now),
        ).fetchone()
        if row is None:
            raise ApiError(401, "unauthenticated", "invalid or expired token")
        return _row_user(row), None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    row = conn.execute(
        "SELECT u.username, u.role, u.sites, u.counters, s.csrf FROM sessions s JOIN users u ON u.username = s.username "
        "WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        (hash_token(cookie), now),
    ).fetchone()
    if row is None:
        return None
    return _row_user(row), row[4]


async def _csrf_ok(request: Request, expected: str) -> bool:
    given = request.headers.get("x-csrf-token")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        given = str(form.get("csrf_token") or "")
    if not given:
        return False
    return hmac.compare_digest(given, expected)


async def current_user(request: Request) -> User:
    """The caller (session cookie or bearer token); 401 `unauthenticated` otherwise.

    Cookie-authenticated state changes must carry the session's CSRF token (403 `csrf`).
    """
    found = _lookup(request)
    if found is None:
        raise ApiError(401, "unauthenticated", "log in or send a bearer token")
    user, csrf = found
    request.state.user = user
    request.state.via = "api" if csrf is None else "web"
    if csrf is not None:
        request.state.csrf = csrf
        if request.method not in SAFE_METHODS and not await _csrf_ok(request, csrf):
            raise ApiError(403, "csrf", "missing or wrong CSRF token")
    return user


async def optional_user(request: Request) -> User | None:
    """For HTML pages: the session user or None (the page then redirects to /login)."""
    try:
        return await current_user(request)
    except ApiError:
        return None


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: str) -> Callable[[Request], Any]:
    """A dependency returning the user if their role is one of `roles` (admin always passes).

    Use as `user: Annotated[User, Depends(require_roles("manager"))]`.
    """

    async def dependency(request: Request) -> User:
        user = await current_user(request)
        if user.role != "admin" and user.role not in roles:
            raise ApiError(403, "forbidden", f"needs role {' or '.join(roles)}")
        return user

    return dependency


def check_site(user: User, site: str) -> None:
    """403 `forbidden` unless the user may see or act on `site` (admin: every site)."""
    if user.role != "admin" and site not in user.sites:
        raise ApiError(403, "forbidden", f"no access to site {site!r}")


def check_counter(user: User, site: str, counter: str) -> None:
    """403 `forbidden` unless the user may act at this counter (desk users: their counters)."""
    check_site(user, site)
    if user.role == "admin":
        return
    if user.role != "desk" or counter not in user.counters:
        raise ApiError(403, "forbidden", f"no desk access to counter {counter!r}")
