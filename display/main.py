"""Assembles the board program: screen, audio, announcer, MQTT feed and the loop; and
the one-off snapshot. Called by display.cli inside its `run` (pygame imported here).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import time
from typing import Any

import pygame

from display.announcer import Announcer
from display.app import BoardApp, save_png
from display.demo import demo_state
from display.feed import INBOX_SIZE, Feed, Inbound
from display.settings import DisplaySettings, parse_size
from hardware.audio import AudioError, ClipVoice, MixerOutput, Output, SilentOutput, build_voices, synthesize_chime
from protocol import clock, topics
from protocol.errors import XephangError
from protocol.speech import vocabulary

log = logging.getLogger(__name__)
DEFAULT_WINDOW = (1366, 768)
DEFAULT_SNAPSHOT = (1920, 1080)


def _demo_items(settings: DisplaySettings) -> list[Inbound]:
    state = demo_state(clock.now(), settings.display.site or "demo")
    payload = state.model_dump_json().encode("utf-8")
    return [Inbound("link", up=True), Inbound("message", topics.board_state(state.site), payload)]


def open_screen(settings: DisplaySettings) -> pygame.Surface:
    """Full screen (KMSDRM without X, or the desktop) or a window."""
    section = settings.display
    size = parse_size(section.size) if section.size else None
    try:
        pygame.display.init()
        # Without a real screen (SDL's dummy or offscreen driver: the demo's headless board,
        # tests) "full screen" is a fixed 1024x768: honour the size asked for instead.
        headless = pygame.display.get_driver() in ("dummy", "offscreen")
        if section.windowed or not section.fullscreen or (headless and size):
            screen = pygame.display.set_mode(size or DEFAULT_WINDOW)
        else:
            screen = pygame.display.set_mode(size or (0, 0), pygame.FULLSCREEN)
            pygame.mouse.set_visible(False)
    except pygame.error as exc:
        raise XephangError(
            f"cannot open the screen with SDL driver {os.environ.get('SDL_VIDEODRIVER') or 'auto'}: {exc}"
        ) from None
    pygame.display.set_caption("xephang")
    pygame.event.set_allowed(None)
    pygame.event.set_allowed([pygame.QUIT, pygame.KEYDOWN])
    log.info("screen %s via %s", screen.get_size(), pygame.display.get_driver())
    return screen


def open_audio(settings: DisplaySettings) -> Output:
    if settings.display.audio_output == "silent":
        return SilentOutput()
    try:
        return MixerOutput()
    except AudioError as exc:
        # The board keeps showing calls without sound; the device status says so.
        log.error("%s: calls will be shown but not heard", exc)
        return SilentOutput()


def build_announcer(settings: DisplaySettings, output: Output) -> Announcer:
    section = settings.display
    voices = build_voices(section.voice, section.clips_dir, section.speaking_voice, section.espeak_speed_wpm)
    return Announcer(
        output, voices, synthesize_chime() if section.chime else None,
        template=section.sentence, variant=section.variant, repeat=section.repeat,
    )


def warn_missing_glyphs(settings: DisplaySettings) -> None:
    from display.text import missing_glyphs

    for path in (settings.display.font, settings.display.font_bold):
        missing = missing_glyphs(path)
        if missing:
            log.warning("font %s lacks %d Vietnamese letters (%s): they will show as boxes",
                        path, len(missing), "".join(missing[:20]))


def run_board(settings: DisplaySettings, demo: bool = False) -> int:
    section = settings.display
    warn_missing_glyphs(settings)
    screen = open_screen(settings)
    output = open_audio(settings)
    announcer = build_announcer(settings, output)
    inbox: queue.Queue[Inbound] = queue.Queue(maxsize=INBOX_SIZE)
    feed = None
    details: dict[str, Any] = {
        "screen": "x".join(map(str, screen.get_size())),
        "audio": output.name,
        "voice": announcer.voices[0].name if announcer.voices else "chime",
    }
    if demo:
        for item in _demo_items(settings):
            inbox.put(item)
    else:
        feed = Feed(section.site or "", section.device, settings.broker, inbox, details=details).start()
    app = BoardApp(settings, screen, inbox, announcer)
    signal.signal(signal.SIGTERM, lambda *_: setattr(app, "running", False))
    try:
        app.run()
    finally:
        if feed is not None:
            feed.stop()
        announcer.close()
        output.close()
        pygame.quit()
    return 0


def write_snapshot(settings: DisplaySettings, demo: bool = False, wait_s: float = 3.0) -> int:
    """Render what the board would show now into display.snapshot, then exit."""
    section = settings.display
    if section.snapshot is None:
        raise XephangError("no snapshot file given (--snapshot FILE.png)")
    size = parse_size(section.size) if section.size else DEFAULT_SNAPSHOT
    surface = pygame.Surface(size)
    inbox: queue.Queue[Inbound] = queue.Queue()
    app = BoardApp(settings, surface, inbox, present=lambda rects: None)
    feed = None
    if demo:
        for item in _demo_items(settings):
            inbox.put(item)
    else:
        feed = Feed(section.site or "", section.device, settings.broker, inbox, presence=False, client_suffix="-snapshot").start()
    deadline = time.monotonic() + (0 if demo else wait_s)
    try:
        app.step()
        while app.model.state_at is None and time.monotonic() < deadline:
            app.step(0.1)
    finally:
        if feed is not None:
            feed.stop()
    try:
        save_png(surface, section.snapshot)
    except (OSError, pygame.error) as exc:
        raise XephangError(f"cannot write snapshot {section.snapshot}: {exc}") from None
    if app.model.state_at is None and not demo:
        raise XephangError(
            f"no board state from the broker within {wait_s:g} s; wrote the offline board to {section.snapshot}"
        )
    print(section.snapshot)
    return 0


def check_clips(settings: DisplaySettings) -> int:
    """Print which words of this site's calls have no recorded clip yet."""
    section = settings.display
    if section.clips_dir is None:
        raise XephangError("display.clips_dir is not set")
    try:
        voice = ClipVoice(section.clips_dir)
    except AudioError as exc:
        raise XephangError(str(exc)) from None
    site = settings.site(section.site or "")
    letters = "".join(s.letter for s in site.services if s.letter) if site else ""
    words = vocabulary(section.sentence, section.variant, letters)
    missing = voice.missing(words)
    for word in missing:
        print(f"missing: {section.clips_dir / (word + '.wav')}")
    print(f"{len(words) - len(missing)} of {len(words)} words have a clip in {section.clips_dir}")
    return 1 if missing else 0
