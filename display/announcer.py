"""Says each call out loud, one after another, on a worker thread.

The render loop calls `announce()` (non-blocking); a single worker takes announcements
in arrival order and plays the chime, then the call sentence `repeat` times, through a
hardware.audio output, so announcements queue and never overlap and a burst of calls
never freezes the screen. Voices are tried in configured order (recorded clips, then
espeak-ng); with none, the chime alone is played. Each finished announcement is
written to `log` (what was said, by which voice), which tests and operators read.

No pygame here (the output may use pygame.mixer; SDL audio is thread-safe for this).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from display.board import Announcement
from hardware.audio import AudioError, Output, Pcm, Voice
from protocol.speech import DEFAULT_TEMPLATE, Variant, call_sentence, sentence_words

log = logging.getLogger(__name__)

MAX_PENDING = 50


@dataclass(frozen=True)
class Said:
    number: str
    counter_number: int
    recall: bool
    sentence: str
    voice: str  # the voice that spoke, or "chime"
    started_s: float
    finished_s: float


class Announcer:
    def __init__(
        self,
        output: Output,
        voices: list[Voice],
        chime: Pcm | None,
        *,
        template: str = DEFAULT_TEMPLATE,
        variant: Variant = "north",
        repeat: int = 2,
        gap_s: float = 0.7,
        clock: Callable[[], float] = time.monotonic,
        suspend_after_s: float = 15.0,
    ):
        self.output = output
        self.voices = voices
        self.chime = chime
        self.template = template
        self.variant = variant
        self.repeat = repeat
        self.gap = Pcm.silence(gap_s)
        self.clock = clock
        self.suspend_after_s = suspend_after_s
        self.log: list[Said] = []
        self.dropped = 0
        self._pending: queue.Queue[Announcement | None] = queue.Queue()
        self._cache: dict[str, tuple[str, Pcm]] = {}
        self._thread = threading.Thread(target=self._work, name="announcer", daemon=True)
        self._thread.start()

    def announce(self, announcement: Announcement) -> None:
        if self._pending.qsize() >= MAX_PENDING:
            # Far behind: skip the oldest waiting call (that citizen has had time to see
            # the board); the newest calls are the ones people are listening for.
            try:
                skipped = self._pending.get_nowait()
                self._pending.task_done()
            except queue.Empty:
                skipped = None
            if skipped is not None:
                self.dropped += 1
                log.warning("too many calls waiting to be announced: skipped %s", skipped.number)
        self._pending.put(announcement)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every queued announcement has been said."""
        deadline = time.monotonic() + timeout_s
        while self._pending.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 2.0) -> None:
        self._pending.put(None)
        self._thread.join(timeout_s)

    def _speech(self, sentence: str) -> tuple[str, Pcm | None]:
        if sentence in self._cache:
            return self._cache[sentence]
        words = sentence_words(sentence)
        for voice in self.voices:
            try:
                result = (voice.name, voice.speak(sentence, words))
            except AudioError as exc:
                log.warning("voice %s cannot say %r: %s", voice.name, sentence, exc)
                continue
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[sentence] = result
            return result
        return "chime", None

    def _say(self, item: Announcement) -> None:
        started_s = self.clock()
        sentence = call_sentence(item.number, item.counter_number, self.template, self.variant)
        voice, speech = self._speech(sentence)
        sound = self.chime + self.gap if self.chime is not None else Pcm(b"")
        if speech is not None:
            for index in range(self.repeat):
                sound = sound + speech + (self.gap if index + 1 < self.repeat else Pcm(b""))
        elif self.chime is None:
            sound = Pcm(b"")
        self.output.play(sound)
        self.log.append(Said(item.number, item.counter_number, item.recall, sentence, voice, started_s, self.clock()))
        log.info("announced %s at counter %d (%s)", item.number, item.counter_number, voice)

    def _work(self) -> None:
        suspended = False
        while True:
            try:
                item = self._pending.get(timeout=None if suspended else self.suspend_after_s)
            except queue.Empty:
                self.output.suspend()  # quiet for a while: let the audio device go
                suspended = True
                continue
            suspended = False
            if item is None:
                self._pending.task_done()
                return
            try:
                self._say(item)
            except (AudioError, OSError, ValueError, RuntimeError) as exc:
                # A broken speaker must not stop the next announcement or the board.
                log.error("could not announce %s: %s", item.number, exc)
            finally:
                self._pending.task_done()
