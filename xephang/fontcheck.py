"""Which characters a TrueType/OpenType font has glyphs for (its `cmap` table).

`xephang doctor` uses it to say plainly that a font cannot show Vietnamese, instead of
a board or a ticket full of empty boxes. Reads cmap formats 4 (BMP) and 12 (full).
Standard library only.
"""

from __future__ import annotations

import struct
import unicodedata
from pathlib import Path

VIETNAMESE_SAMPLE = "Mời công dân có số thứ tự đến quầy Ặ ẳ ữ ỹ Đ đ ơ ư"


def covered(path: Path, text: str) -> set[str]:
    """The characters of `text` (ignoring spaces) that the font has no glyph for."""
    data = Path(path).read_bytes()
    codepoints = _cmap_codepoints(data)
    text = unicodedata.normalize("NFC", text)
    return {ch for ch in text if not ch.isspace() and ord(ch) not in codepoints}


def _cmap_codepoints(data: bytes) -> set[int]:
    if len(data) < 12:
        raise ValueError("not a font file")
    (num_tables,) = struct.unpack_from(">H", data, 4)
    for i in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if tag == b"cmap":
            return _read_cmap(data, offset)
    raise ValueError("the font has no cmap table")


def _read_cmap(data: bytes, base: int) -> set[int]:
    _version, count = struct.unpack_from(">HH", data, base)
    best: tuple[int, int] | None = None  # (format, offset)
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, base + 4 + 8 * i)
        if (platform, encoding) not in ((3, 1), (3, 10), (0, 3), (0, 4)):
            continue
        (fmt,) = struct.unpack_from(">H", data, base + offset)
        if fmt in (4, 12) and (best is None or fmt > best[0]):
            best = (fmt, base + offset)
    if best is None:
        raise ValueError("the font has no Unicode cmap")
    fmt, at = best
    points: set[int] = set()
    if fmt == 12:
        (groups,) = struct.unpack_from(">I", data, at + 12)
        for g in range(groups):
            start, end, _glyph = struct.unpack_from(">III", data, at + 16 + 12 * g)
            points.update(range(start, end + 1))
        return points
    (seg_x2,) = struct.unpack_from(">H", data, at + 6)
    segs = seg_x2 // 2
    ends = struct.unpack_from(f">{segs}H", data, at + 14)
    starts = struct.unpack_from(f">{segs}H", data, at + 16 + seg_x2)
    deltas = struct.unpack_from(f">{segs}h", data, at + 16 + 2 * seg_x2)
    range_at = at + 16 + 3 * seg_x2
    offsets = struct.unpack_from(f">{segs}H", data, range_at)
    for i in range(segs):
        for code in range(starts[i], ends[i] + 1):
            if code == 0xFFFF:
                continue
            if offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                where = range_at + 2 * i + offsets[i] + 2 * (code - starts[i])
                (glyph,) = struct.unpack_from(">H", data, where)
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                points.add(code)
    return points
