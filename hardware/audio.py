"""Audio output seam for the display board: sounds, voices and where they are played.

- `Pcm`: 16-bit signed mono samples at one rate; joined and padded in our own code.
- `synthesize_chime()`: the call chime, made from sine waves here (no sound files).
- Voices turn a call sentence into a `Pcm`: `ClipVoice` joins recorded clips from a
  folder (`<word>.wav`, or whole phrases such as `mời công dân.wav`), `EspeakVoice`
  runs espeak-ng (offline) in a subprocess and reads the WAV it writes to stdout.
  `build_voices()` returns them in the order to try, chosen by configuration; with
  none available the board plays the chime only.
- Outputs play a `Pcm` and return when it has been played: `MixerOutput`
  (pygame.mixer; the SDL driver is chosen by the environment, e.g. SDL_AUDIODRIVER=disk
  in tests) and `SilentOutput` (a board without speakers, selected by config).

pygame is imported only inside `MixerOutput`; nothing here imports display code.
"""

from __future__ import annotations

import array
import io
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import unicodedata
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

RATE = 22050  # espeak-ng's own rate, so its output needs no resampling
PAUSE_TOKEN = ","
VoiceKind = Literal["clips", "espeak", "chime"]


class AudioError(Exception):
    """A sound could not be made or played; the message is one readable line."""


@dataclass(frozen=True)
class Pcm:
    """Signed 16-bit little-endian mono samples."""

    data: bytes
    rate: int = RATE

    @property
    def duration_s(self) -> float:
        return len(self.data) / 2 / self.rate

    @classmethod
    def silence(cls, seconds: float, rate: int = RATE) -> Pcm:
        return cls(bytes(2 * int(seconds * rate)), rate)

    def __add__(self, other: Pcm) -> Pcm:
        if other.rate != self.rate:
            raise AudioError(f"cannot join {self.rate} Hz and {other.rate} Hz sound")
        return Pcm(self.data + other.data, self.rate)


def _samples(values: array.array[int]) -> bytes:
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def synthesize_chime(rate: int = RATE, volume: float = 0.5) -> Pcm:
    """A two-note "ding-dong" (E6 then C6) with bell-like overtones and decay."""
    notes = [(1318.5, 0.0), (1046.5, 0.45)]
    length_s = 1.4
    total = int(length_s * rate)
    out = [0.0] * total
    for freq, start_s in notes:
        first = int(start_s * rate)
        for i in range(first, total):
            t = (i - first) / rate
            envelope = math.exp(-3.2 * t) * min(1.0, t / 0.005)
            out[i] += envelope * (
                math.sin(2 * math.pi * freq * t)
                + 0.35 * math.sin(2 * math.pi * 2 * freq * t)
                + 0.12 * math.sin(2 * math.pi * 3.01 * freq * t)
            )
    peak = max(abs(v) for v in out) or 1.0
    scale = 32767 * volume / peak
    return Pcm(_samples(array.array("h", (int(v * scale) for v in out))), rate)


def _to_mono16(frames: bytes, width: int, channels: int) -> array.array[int]:
    if width == 2:
        values = array.array("h")
        values.frombytes(frames)
        if sys.byteorder != "little":
            values.byteswap()
    elif width == 1:
        values = array.array("h", ((b - 128) << 8 for b in frames))
    else:
        raise AudioError(f"unsupported sample width {width * 8} bits (use 16-bit PCM)")
    if channels > 1:
        values = array.array(
            "h", (sum(values[i : i + channels]) // channels for i in range(0, len(values), channels))
        )
    return values


def _resample(values: array.array[int], source_rate: int, rate: int) -> array.array[int]:
    if source_rate == rate or not values:
        return values
    count = max(1, int(len(values) * rate / source_rate))
    step = source_rate / rate
    last = len(values) - 1
    out = array.array("h", bytes(2 * count))
    for i in range(count):
        position = i * step
        left = int(position)
        right = min(left + 1, last)
        frac = position - left
        out[i] = int(values[min(left, last)] * (1 - frac) + values[right] * frac)
    return out


def read_wav(source: Path | bytes, rate: int = RATE) -> Pcm:
    """Read a PCM WAV (file or bytes) as mono 16-bit at `rate`."""
    name = str(source) if isinstance(source, Path) else "WAV data"
    try:
        handle = wave.open(str(source) if isinstance(source, Path) else io.BytesIO(source), "rb")
        with handle:
            frames = handle.readframes(handle.getnframes())
            values = _to_mono16(frames, handle.getsampwidth(), handle.getnchannels())
            values = _resample(values, handle.getframerate(), rate)
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"{name}: not a readable PCM WAV ({exc})") from None
    return Pcm(_samples(values), rate)


def write_wav(path: Path, pcm: Pcm) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(pcm.rate)
        handle.writeframes(pcm.data)


class Voice(Protocol):
    name: str

    def speak(self, sentence: str, words: list[str]) -> Pcm:
        """The sentence as sound; raises AudioError when this voice cannot say it."""
        ...


class ClipVoice:
    """Recorded clips joined in order: the longest phrase clip that matches wins.

    Files are `<words>.wav` with lower-case Vietnamese words in NFC separated by single
    spaces (`mời.wav`, `quầy.wav`, `mời công dân có số thứ tự.wav`); a "," in a
    sentence is a short pause.
    """

    name = "clips"

    def __init__(self, folder: Path, gap_s: float = 0.04, pause_s: float = 0.18, rate: int = RATE):
        self.folder = Path(folder)
        self.gap_s = gap_s
        self.pause_s = pause_s
        self.rate = rate
        self.clips = self._index()
        self.longest = max((len(key.split(" ")) for key in self.clips), default=0)
        self._cache: dict[str, Pcm] = {}

    def _index(self) -> dict[str, Path]:
        if not self.folder.is_dir():
            raise AudioError(f"clips folder not found: {self.folder}")
        clips = {}
        for path in sorted(self.folder.glob("*.wav")):
            key = " ".join(unicodedata.normalize("NFC", path.stem).lower().split())
            clips[key] = path
        return clips

    def missing(self, words: list[str]) -> list[str]:
        """Words that no clip covers (empty when the sentence can be said)."""
        return [w for w, key in self._plan(words) if key is None and w != PAUSE_TOKEN]

    def _plan(self, words: list[str]) -> list[tuple[str, str | None]]:
        plan: list[tuple[str, str | None]] = []
        i = 0
        while i < len(words):
            for size in range(min(self.longest, len(words) - i), 0, -1):
                key = " ".join(words[i : i + size])
                if key in self.clips:
                    plan.append((key, key))
                    i += size
                    break
            else:
                plan.append((words[i], None))
                i += 1
        return plan

    def _clip(self, key: str) -> Pcm:
        if key not in self._cache:
            self._cache[key] = read_wav(self.clips[key], self.rate)
        return self._cache[key]

    def speak(self, sentence: str, words: list[str]) -> Pcm:
        missing = self.missing(words)
        if missing:
            raise AudioError(f"no clip for: {', '.join(dict.fromkeys(missing))}")
        out = Pcm(b"", self.rate)
        for word, key in self._plan(words):
            if word == PAUSE_TOKEN:
                out = out + Pcm.silence(self.pause_s, self.rate)
            elif key is not None:
                out = out + self._clip(key) + Pcm.silence(self.gap_s, self.rate)
        return out


class EspeakVoice:
    """espeak-ng (Debian package espeak-ng), offline; numbers already in words."""

    name = "espeak"

    def __init__(self, voice: str = "vi", speed_wpm: int = 140, binary: str | None = None, rate: int = RATE):
        found = binary or shutil.which("espeak-ng")
        if not found:
            raise AudioError("espeak-ng not found (apt install espeak-ng)")
        self.binary = found
        self.voice = voice
        self.speed_wpm = speed_wpm
        self.rate = rate

    def speak(self, sentence: str, words: list[str]) -> Pcm:
        command = [self.binary, "-v", self.voice, "-s", str(self.speed_wpm), "--stdout", "--", sentence]
        try:
            done = subprocess.run(command, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AudioError(f"espeak-ng failed: {exc}") from None
        if done.returncode != 0 or not done.stdout:
            detail = done.stderr.decode("utf-8", "replace").strip()[:120]
            raise AudioError(f"espeak-ng exited {done.returncode}: {detail}")
        return read_wav(done.stdout, self.rate)


def build_voices(
    kind: VoiceKind, clips_dir: Path | None, espeak_voice: str = "vi", speed_wpm: int = 140
) -> list[Voice]:
    """Voices to try in order: clips then espeak-ng for "clips", espeak-ng for "espeak",
    none for "chime". A voice that is not available is logged and left out."""
    voices: list[Voice] = []
    if kind == "clips":
        if clips_dir is None:
            log.warning("voice 'clips' chosen but no clips_dir set")
        else:
            try:
                voices.append(ClipVoice(clips_dir))
            except AudioError as exc:
                log.warning("recorded clips unavailable: %s", exc)
    if kind in ("clips", "espeak"):
        try:
            voices.append(EspeakVoice(espeak_voice, speed_wpm))
        except AudioError as exc:
            log.warning("espeak-ng unavailable: %s", exc)
    if not voices:
        log.warning("no voice available: calls are announced with the chime only")
    return voices


class Output(Protocol):
    name: str

    def play(self, pcm: Pcm) -> None:
        """Play and return once the sound has been played."""
        ...

    def suspend(self) -> None:
        """Release the device while nothing plays (the next play reopens it)."""
        ...

    def close(self) -> None: ...


class SilentOutput:
    """A board without speakers: plays nothing, at once. Chosen by config."""

    name = "silent"

    def __init__(self) -> None:
        self.played: list[float] = []

    def play(self, pcm: Pcm) -> None:
        self.played.append(pcm.duration_s)

    def suspend(self) -> None:
        return None

    def close(self) -> None:
        return None


# pygame.mixer is process-global and not thread-safe: SDL crashes when two threads
# open or close it at once. Every init, quit and start of a sound holds this lock.
_MIXER_LOCK = threading.RLock()


class MixerOutput:
    """pygame.mixer on its own channel; SDL converts our mono 22 kHz to the device."""

    name = "mixer"

    def __init__(self, rate: int = RATE, sleep: Callable[[float], None] = time.sleep, buffer: int = 2048):
        import pygame  # imported here: only a board with sound needs it

        self._pygame = pygame
        self._sleep = sleep
        self.rate = rate
        self.buffer = buffer
        self._opened = False
        self._open()  # fail at start, with a clear message, when there is no device
        self.suspend()  # then let it go until the first call

    def _open(self) -> None:
        pygame = self._pygame
        with _MIXER_LOCK:
            try:
                pygame.mixer.init(frequency=self.rate, size=-16, channels=1, buffer=self.buffer, allowedchanges=0)
            except pygame.error as exc:
                raise AudioError(
                    f"no audio device ({exc}); driver {os.environ.get('SDL_AUDIODRIVER', 'default')}"
                ) from None
            self.channel = pygame.mixer.Channel(0)
            self._opened = True

    def play(self, pcm: Pcm) -> None:
        if pcm.rate != self.rate:
            raise AudioError(f"sound at {pcm.rate} Hz, mixer at {self.rate} Hz")
        if not pcm.data:
            return
        with _MIXER_LOCK:
            if not self._opened or not self._pygame.mixer.get_init():
                self._open()
            sound = self._pygame.mixer.Sound(buffer=pcm.data)
            self.channel.play(sound)
        deadline = time.monotonic() + pcm.duration_s + 2.0
        while self.channel.get_busy() and time.monotonic() < deadline:
            self._sleep(0.02)

    def suspend(self) -> None:
        # An open SDL audio device mixes silence all day: a measurable share of a Pi's CPU.
        self.close()

    def close(self) -> None:
        # Only the output that opened the (process-wide) mixer may shut it.
        with _MIXER_LOCK:
            if self._opened and self._pygame.mixer.get_init():
                self.channel.stop()
                self._pygame.mixer.quit()
            self._opened = False
