"""Fonts and text fitting for the board (pygame.freetype).

`Fonts` loads the regular and bold faces once; `fit()` finds the largest size at which
a text fits a box (one line, then two lines, then shortened with "…"), so long
Vietnamese names never overflow. `missing_glyphs()` checks a font covers every
Vietnamese letter. All text is NFC-normalised before it is measured or drawn.

Imports pygame; imported only by the renderer and by tests that run SDL's dummy driver.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pygame
import pygame.freetype

from protocol.text import nfc

ELLIPSIS = "…"

# Every Vietnamese letter with its diacritics (lower case; upper case is derived).
_VOWELS = "aăâeêioôơuưy"
_TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
VIETNAMESE_LETTERS = sorted(
    {unicodedata.normalize("NFC", v + t) for v in _VOWELS for t in _TONES}
    | set("bcdđghklmnpqrstvx")
)
VIETNAMESE_ALL = "".join(VIETNAMESE_LETTERS) + "".join(ch.upper() for ch in VIETNAMESE_LETTERS)



def missing_glyphs(path: Path, text: str = VIETNAMESE_ALL) -> list[str]:
    """Characters of `text` the font at `path` has no glyph for."""
    if not pygame.freetype.get_init():
        pygame.freetype.init()
    font = pygame.freetype.Font(str(path), 24)
    metrics = font.get_metrics(nfc(text))
    return [ch for ch, metric in zip(nfc(text), metrics) if metric is None]


@dataclass(frozen=True)
class Fitted:
    lines: tuple[str, ...]
    size: int
    bold: bool


class Fonts:
    """The board's two faces and a cache of fitted sizes and rendered surfaces."""

    def __init__(self, regular: Path, bold: Path):
        if not pygame.freetype.get_init():
            pygame.freetype.init()
        self.faces = {}
        for is_bold, path in ((False, regular), (True, bold)):
            if not Path(path).is_file():
                raise FileNotFoundError(f"font not found: {path} (apt install fonts-dejavu-core)")
            face = pygame.freetype.Font(str(path), 24)
            face.pad = True
            face.origin = False
            self.faces[is_bold] = face
        self.fit = lru_cache(maxsize=512)(self._fit)
        self.render = lru_cache(maxsize=256)(self._render)
        self.width = lru_cache(maxsize=4096)(self._width)

    def _width(self, text: str, size: int, bold: bool = False) -> int:
        return self.faces[bold].get_rect(text, size=size).width if text else 0

    def line_height(self, size: int, bold: bool = False) -> int:
        return int(self.faces[bold].get_sized_height(size))

    def _largest(self, text: str, width: int, height: int, low: int, high: int, bold: bool) -> int | None:
        """Largest size in [low, high] whose one line fits; None if even `low` does not.

        Width grows in proportion to size, so one measurement at a reference size gives
        a close guess; a few steps down make it exact (few glyph loads at new sizes).
        """
        def fits(size: int) -> bool:
            return self.width(text, size, bold) <= width and self.line_height(size, bold) <= height

        reference = 64
        guess_w = width * reference / max(1, self.width(text, reference, bold))
        guess_h = height * reference / max(1, self.line_height(reference, bold))
        size = max(low, min(high, int(min(guess_w, guess_h))))
        while size > low and not fits(size):
            size -= 1
        if size < high and fits(size + 1):
            size += 1  # rounding can leave one size on the table
        return size if fits(size) else None

    def _fit(
        self, text: str, width: int, height: int, max_size: int, min_size: int = 12,
        bold: bool = False, lines: int = 1, eager: bool = False,
    ) -> Fitted:
        text = nfc(" ".join(text.split()))
        max_size = max(min_size, max_size)
        one = self._largest(text, width, height, min_size, max_size, bold)
        words = text.split(" ")
        # `eager`: take two lines whenever they allow a bigger size (a column of names
        # that should all share one size); otherwise only when clearly bigger.
        gain = 1.0 if eager else 1.15
        if lines >= 2 and len(words) > 1 and (one is None or one < max_size * (0.999 if eager else 0.8)):
            # Two lines cut where the longer half is shortest; kept only if clearly bigger.
            def cost(cut: int) -> float:
                widest = max(self.width(" ".join(words[:cut]), min_size, bold), self.width(" ".join(words[cut:]), min_size, bold))
                # Prefer to break at a comma, before "(", or after a dash, when it costs little.
                natural = words[cut - 1][-1] in ",;:" or words[cut - 1] in "-–" or words[cut][0] == "("
                return widest * (0.85 if natural else 1.0)

            best_cut = min(range(1, len(words)), key=cost)
            first, second = " ".join(words[:best_cut]), " ".join(words[best_cut:])
            longer = max(first, second, key=lambda part: self.width(part, min_size, bold))
            two = self._largest(longer, width, height // 2, min_size, max_size, bold)
            if two is not None and (one is None or two > one * gain):
                return Fitted((first, second), two, bold)
        if one is not None or not text:
            return Fitted((text,), one or max_size, bold)
        return Fitted((self._shorten(text, width, min_size, bold),), min_size, bold)

    def _shorten(self, text: str, width: int, size: int, bold: bool) -> str:
        low, high = 0, len(text)
        while low < high:
            mid = (low + high + 1) // 2
            if self.width(text[:mid].rstrip() + ELLIPSIS, size, bold) <= width:
                low = mid
            else:
                high = mid - 1
        return text[:low].rstrip() + ELLIPSIS

    def _render(self, text: str, size: int, bold: bool, color: tuple[int, int, int]) -> pygame.Surface:
        surface, _ = self.faces[bold].render(nfc(text), fgcolor=color, size=size)
        if pygame.display.get_surface() is not None:
            # In the screen's pixel format a blit is a fast copy (about 40x faster here).
            surface = surface.convert_alpha()
        return surface

    def draw(
        self, target: pygame.Surface, fitted: Fitted, rect: pygame.Rect,
        color: tuple[int, int, int], align: str = "left",
    ) -> None:
        """Draw fitted lines inside `rect`, vertically centred."""
        step = self.line_height(fitted.size, fitted.bold)
        top = rect.top + (rect.height - step * len(fitted.lines)) // 2
        for index, line in enumerate(fitted.lines):
            surface = self.render(line, fitted.size, fitted.bold, color)
            box = surface.get_rect()
            box.centery = top + step * index + step // 2
            if align == "center":
                box.centerx = rect.centerx
            elif align == "right":
                box.right = rect.right
            else:
                box.left = rect.left
            target.blit(surface, box)
