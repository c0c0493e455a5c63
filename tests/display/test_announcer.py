"""Announcements: chime then voice, queued in order, never overlapping, while the
screen keeps drawing. Sound goes through pygame.mixer and SDL's disk audio driver, and
the bytes written to the driver's file are searched for the exact sounds."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from display.announcer import Announcer
from display.board import Announcement
from display.feed import Inbound
from hardware.audio import ClipVoice, EspeakVoice, MixerOutput, Pcm, SilentOutput, synthesize_chime
from protocol.speech import call_sentence, sentence_words
from tests.display.conftest import T0, board_state, call_event, display_settings, event_item, state_item
from tests.hardware.test_audio import make_clips


@pytest.fixture
def disk_audio(tmp_path, monkeypatch):
    path = tmp_path / "sdl-disk-audio.raw"
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(path))
    output = MixerOutput()
    yield output, path
    output.close()


def clip_set(folder: Path, numbers: list[str], counters: list[int]) -> ClipVoice:
    words = set()
    for number in numbers:
        for counter in counters:
            words.update(sentence_words(call_sentence(number, counter)))
    words.discard(",")
    make_clips(folder, sorted(words), seconds=0.02)
    return ClipVoice(folder, gap_s=0.0, pause_s=0.02)


def test_chime_then_voice_twice_reach_the_audio_device(disk_audio, tmp_path):
    output, disk = disk_audio
    voice = clip_set(tmp_path / "clips", ["A023"], [3])
    chime = synthesize_chime()
    announcer = Announcer(output, [voice], chime, repeat=2, gap_s=0.1)
    announcer.announce(Announcement("A023", 3, False, T0))
    assert announcer.wait_idle(15)
    announcer.close()
    output.close()
    played = disk.read_bytes()
    speech = voice.speak("", sentence_words(call_sentence("A023", 3)))
    at_chime = played.find(chime.data[4000:40000])
    first = played.find(speech.data)
    second = played.find(speech.data, first + len(speech.data))
    assert 0 <= at_chime < first < second
    [said] = announcer.log
    assert (said.number, said.voice) == ("A023", "clips")
    assert said.sentence == "Mời công dân có số thứ tự a, hai mươi ba đến quầy số ba"


def test_ten_rapid_calls_are_announced_in_order_while_the_screen_keeps_drawing(disk_audio, tmp_path, make_app, clocks):
    output, disk = disk_audio
    numbers = [f"A{n:03d}" for n in range(1, 11)]
    voice = clip_set(tmp_path / "clips", numbers, [1, 2, 3])
    announcer = Announcer(output, [voice], None, repeat=1, gap_s=0.02)
    app = make_app(display_settings(), announcer=announcer)
    app.inbox.put(Inbound("link", up=True))
    app.inbox.put(state_item(board_state(T0)))
    app.step()
    counters = ["quay-1", "quay-2", "quay-3"]
    for index, number in enumerate(numbers):
        event = call_event(number, counters[index % 3], ts=T0 + timedelta(milliseconds=index), seq=index + 1)
        app.inbox.put(event_item(event))
    started = time.perf_counter()
    app.step()  # takes all ten calls in one iteration
    slowest = time.perf_counter() - started
    assert app.model.newest.number == "A010"
    deadline = time.monotonic() + 30
    while announcer._pending.unfinished_tasks and time.monotonic() < deadline:
        started = time.perf_counter()
        clocks.advance(0.05)
        app.step(0.05)
        slowest = max(slowest, time.perf_counter() - started - 0.05)
    assert announcer.wait_idle(5)
    assert slowest < 0.25  # never waited on the announcements (3+ s of sound in all)
    assert [s.number for s in announcer.log] == numbers
    assert [s.counter_number for s in announcer.log] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    for before, after in zip(announcer.log, announcer.log[1:]):
        assert after.started_s >= before.finished_s  # never overlapping
    output.close()
    played = disk.read_bytes()
    positions = []
    for said in announcer.log:
        speech = voice.speak("", sentence_words(said.sentence))
        positions.append(played.find(speech.data))
    assert -1 not in positions and positions == sorted(positions)
    assert app.model.newest.number == "A010"
    announcer.close()


def test_voice_falls_back_to_espeak_then_to_the_chime_alone(tmp_path):
    voice = clip_set(tmp_path / "clips", ["A001"], [1])  # has no clip for "bảy"
    output = SilentOutput()
    chime = Pcm.silence(0.1)
    announcer = Announcer(output, [voice, EspeakVoice("vi")], chime, repeat=2)
    announcer.announce(Announcement("A001", 1, False, T0))
    announcer.announce(Announcement("A007", 1, True, T0))
    assert announcer.wait_idle(20)
    assert [(s.number, s.voice, s.recall) for s in announcer.log] == [("A001", "clips", False), ("A007", "espeak", True)]
    chime_only = Announcer(output, [], chime)
    chime_only.announce(Announcement("A002", 2, False, T0))
    assert chime_only.wait_idle(5)
    assert chime_only.log[0].voice == "chime"
    assert output.played[-1] == pytest.approx(0.1 + 0.7, abs=0.001)  # chime and the gap after it
    announcer.close()
    chime_only.close()


def test_when_far_behind_the_oldest_waiting_calls_are_skipped(monkeypatch):
    import display.announcer as announcer_module

    monkeypatch.setattr(announcer_module, "MAX_PENDING", 3)

    class HeldOutput(SilentOutput):
        """The speaker is busy with the first call until all six have arrived."""

        def __init__(self):
            super().__init__()
            self.release = threading.Event()

        def play(self, pcm):
            self.release.wait(10)
            super().play(pcm)

    output = HeldOutput()
    announcer = Announcer(output, [], Pcm.silence(0.2), gap_s=0.0)
    for number in ["A001", "A002", "A003", "A004", "A005", "A006"]:
        announcer.announce(Announcement(number, 1, False, T0))
    output.release.set()
    assert announcer.wait_idle(10)
    said = [s.number for s in announcer.log]
    assert said[-3:] == ["A004", "A005", "A006"]
    assert len(said) + announcer.dropped == 6 and announcer.dropped >= 2
    announcer.close()


def test_chime_then_espeak_voice_reach_the_audio_device(disk_audio):
    output, disk = disk_audio
    chime = synthesize_chime()
    announcer = Announcer(output, [EspeakVoice("vi")], chime, repeat=1, gap_s=0.05)
    announcer.announce(Announcement("1023", 2, False, T0))
    assert announcer.wait_idle(30)
    announcer.close()
    output.close()
    played = disk.read_bytes()
    sentence = call_sentence("1023", 2)
    speech = EspeakVoice("vi").speak(sentence, sentence_words(sentence))
    at_chime = played.find(chime.data[4000:40000])
    at_voice = played.find(speech.data[len(speech.data) // 4 : len(speech.data) // 2])
    assert 0 <= at_chime < at_voice
    assert announcer.log[0].voice == "espeak"
    assert announcer.log[0].sentence == "Mời công dân có số thứ tự một nghìn không trăm hai mươi ba đến quầy số hai"
