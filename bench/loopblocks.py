"""The longest stretches in which a server's event loop did not wait in its selector,
from a py-spy speedscope profile taken with --threads --idle (bench/booking.py and
bench/dispatch.py write one with BENCH_PYSPY=<file>).

The main thread runs the asyncio loop: a sample whose innermost frame is the selector's
`select` is the loop waiting for work; any other sample is the loop busy (running a
callback, or waiting for the interpreter lock inside one). Consecutive busy samples form
one block; for each of the longest blocks this prints its length and the frames seen
most often in it, and, beside it, what the other threads were doing at the same time.

    python -m bench.loopblocks profile.json [how many]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def _threads(document: dict) -> tuple[list[dict], list[dict]]:
    return document["profiles"], document["shared"]["frames"]


def _is_idle(stack: list[int], frames: list[dict]) -> bool:
    if not stack:
        return True
    leaf = frames[stack[-1]]
    return leaf["name"].split(".")[-1] in ("select", "poll")


def _label(frame: dict) -> str:
    file = frame.get("file", "")
    short = "/".join(Path(file).parts[-2:]) if file else "?"
    return f"{frame['name']} ({short}:{frame.get('line', '?')})"


def _ours(stack: list[int], frames: list[dict]) -> str:
    """The innermost frame of the project's own code (server/, protocol/), else the leaf."""
    for index in reversed(stack):
        file = frames[index].get("file", "")
        if "/server/" in file or "/protocol/" in file:
            return _label(frames[index])
    return _label(frames[stack[-1]]) if stack else "-"


def blocks(path: str, top: int = 8) -> list[tuple[float, Counter, dict[str, Counter]]]:
    document = json.loads(Path(path).read_text())
    profiles, frames = _threads(document)
    main = next(p for p in profiles if "MainThread" in p["name"] or "main" in p["name"].lower())
    period = 1.0 / 200
    runs: list[tuple[int, int]] = []
    start = None
    for index, stack in enumerate(main["samples"] + [[]]):
        busy = not _is_idle(stack, frames)
        if busy and start is None:
            start = index
        elif not busy and start is not None:
            runs.append((start, index))
            start = None
    runs.sort(key=lambda r: r[1] - r[0], reverse=True)
    out = []
    for begin, end in runs[:top]:
        mine = Counter(_ours(main["samples"][i], frames) for i in range(begin, end))
        others: dict[str, Counter] = {}
        for profile in profiles:
            if profile is main or len(profile["samples"]) < end:
                continue
            seen = Counter(_ours(profile["samples"][i], frames) for i in range(begin, end)
                           if not _is_idle(profile["samples"][i], frames))
            if seen:
                others[profile["name"]] = seen
        out.append(((end - begin) * period, mine, others))
    busy_total = sum(end - begin for begin, end in runs)
    print(f"main thread: {len(main['samples'])} samples, busy in {busy_total} "
          f"({100 * busy_total / max(1, len(main['samples'])):.1f} %), {len(runs)} blocks")
    return out


def main() -> int:
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    for seconds, mine, others in blocks(sys.argv[1], top):
        print(f"\n== event loop busy {seconds * 1000:.0f} ms (sampled every 5 ms)")
        for label, count in mine.most_common(6):
            print(f"   loop  {count:4d}  {label}")
        for name, seen in others.items():
            for label, count in seen.most_common(3):
                print(f"   {name[-30:]:>30}  {count:4d}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
