"""What the counter display says, from the board state: pure, no I/O, no clock reads.

An 8-dot-high LED matrix shows a few ASCII characters, so the text is short:
"3 A012" (counter 3 calls or serves A012), "3 ---" (open, nobody at it),
"3 NGHI" (paused: "nghỉ"), "3 DONG" (closed: "đóng"), and "3 ..." when the board state is
missing or older than the stale limit, or the link is down: the screen never keeps
showing a number it cannot vouch for. Imports protocol only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from protocol.state import BoardState

State = Literal["serving", "open", "paused", "closed", "offline"]
WORDS = {"open": "---", "paused": "NGHI", "closed": "DONG", "offline": "..."}


@dataclass(frozen=True)
class CounterView:
    state: State
    text: str  # ASCII, what the matrix shows


def counter_view(board: BoardState | None, counter_id: str, counter_number: int, now: datetime,
                 stale_after_s: float, connected: bool) -> CounterView:
    prefix = str(counter_number)
    if board is None or not connected or (now - board.ts).total_seconds() > stale_after_s:
        return CounterView("offline", f"{prefix} {WORDS['offline']}")
    entry = next((c for c in board.counters if c.id == counter_id), None)
    if entry is None or entry.state == "closed":
        return CounterView("closed", f"{prefix} {WORDS['closed']}")
    if entry.state == "paused":
        return CounterView("paused", f"{prefix} {WORDS['paused']}")
    if entry.ticket_number:
        return CounterView("serving", f"{prefix} {entry.ticket_number}")
    return CounterView("open", f"{prefix} {WORDS['open']}")
