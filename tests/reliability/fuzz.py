"""Malformed MQTT payloads for the fuzz run and the soak: deterministic from a seed, each
one certain to be rejected by the server (so counts can be checked exactly)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator

from protocol import topics

SITE = "test-site"
BAD_VALUES = {
    "v": [2, 0, "1", None, [], {"v": 1}, 1.5],
    "id": ["not-a-uuid", 5, None, "", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"],
    "site": ["Bad Site", "", "nowhere", "x" * 41, 7, None, "TEST-SITE"],
    "source": ["Kiosk 1", "", None, 3, "a/b"],
    "seq": [-1, 2**60, None, "x", [], 1.5e300, -(2**70)],
    "ts": ["yesterday", "2026-01-01T00:00:00", 5, None, "", "2026-13-40T25:61:00+07:00"],
    "data": [None, [], "data", 5, {}],
    "data.ticket_id": ["x", None, 5, [], "1234"],
    "data.number": ["a001", "", "TOO-LONG-NUMBER", None, 5, "Số 1"],
    "data.service": ["unknown-service", "Chứng thực", "", None, 3],
    "data.priority": ["Người cao tuổi", 5, [], "UPPER"],
}


def _valid_issued(rng: random.Random) -> dict:
    return {
        "v": 1, "id": str(uuid.UUID(int=rng.getrandbits(128))), "type": "ticket.issued", "site": SITE,
        "source": "kiosk-1", "seq": rng.randrange(1, 10_000), "ts": "2026-03-02T08:00:00+07:00",
        "data": {"ticket_id": str(uuid.UUID(int=rng.getrandbits(128))), "number": "A001",
                 "service": "chung-thuc", "priority": None},
    }


def _mutated(rng: random.Random) -> bytes:
    body = _valid_issued(rng)
    field = rng.choice(list(BAD_VALUES))
    value = rng.choice(BAD_VALUES[field])
    if field.startswith("data."):
        body["data"][field[5:]] = value
    else:
        body[field] = value
    return json.dumps(body, ensure_ascii=False).encode()


def junk(count: int, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) pairs, every one a message the server must reject."""
    rng = random.Random(seed)
    issued = topics.event(SITE, "ticket.issued")
    kinds = [
        lambda: (issued, rng.randbytes(rng.randrange(0, 200))),
        lambda: (issued, json.dumps(_valid_issued(rng)).encode()[: rng.randrange(0, 150)]),
        lambda: (issued, _mutated(rng)),
        lambda: (issued, _mutated(rng)),
        lambda: (issued, _mutated(rng)),
        lambda: (issued, json.dumps(rng.choice([[1, 2], "text", 42, None, True, 1.5])).encode()),
        lambda: (issued, json.dumps(_valid_issued(rng) | {"type": rng.choice(["ticket.teleported", "", "x"])}).encode()),
        # A valid event on the topic of another type, or of another site.
        lambda: (topics.event(SITE, "ticket.completed"), json.dumps(_valid_issued(rng)).encode()),
        lambda: (topics.event("other-site", "ticket.issued"), json.dumps(_valid_issued(rng)).encode()),
        lambda: (topics.event("unknown-site", "ticket.issued"), json.dumps(_valid_issued(rng) | {"site": "unknown-site"}).encode()),
        # Topics that match the subscription but not the contract.
        lambda: (f"{topics.PREFIX}/{SITE}/events/NOT_A_TYPE", json.dumps(_valid_issued(rng)).encode()),
        lambda: (f"{topics.PREFIX}/{SITE}/events/a/b", b"{}"),
        lambda: (f"{topics.PREFIX}/Bad Site/events/ticket.issued", b"{}"),
        lambda: (issued, b"[" * rng.randrange(1000, 3000)),  # past the parser's recursion limit
        lambda: (issued, b'{"v": 1, "seq": ' + b"9" * rng.randrange(4301, 4400) + b"}"),
        lambda: (issued, b"\xff\xfe\xc3\x28" + rng.randbytes(20)),
        lambda: (issued, b""),
        lambda: (issued, json.dumps(_valid_issued(rng) | {"type": [], "v": 1}).encode()),
        lambda: (issued, "Mời công dân số 1023 đến quầy số 3".encode()),
    ]
    for _ in range(count):
        yield rng.choice(kinds)()
