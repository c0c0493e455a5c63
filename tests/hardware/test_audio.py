"""Audio seam: the synthesised chime, WAV reading, recorded-clip and espeak-ng voices,
and pygame.mixer playing through SDL's disk driver (bytes really written)."""

from __future__ import annotations

import array
import math
import shutil
from pathlib import Path

import pytest

from hardware.audio import (
    RATE,
    AudioError,
    ClipVoice,
    EspeakVoice,
    MixerOutput,
    Pcm,
    SilentOutput,
    build_voices,
    read_wav,
    synthesize_chime,
    write_wav,
)
from protocol.speech import call_sentence, sentence_words


def samples(pcm: Pcm) -> array.array:
    values = array.array("h")
    values.frombytes(pcm.data)
    return values


def tone(seconds: float, freq: float, rate: int = RATE) -> Pcm:
    count = int(seconds * rate)
    values = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(count)))
    return Pcm(values.tobytes(), rate)


def make_clips(folder: Path, words: list[str], seconds: float = 0.05) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, word in enumerate(words):
        write_wav(folder / f"{word}.wav", tone(seconds, 300 + 40 * index))
    return folder


def test_chime_is_two_notes_loud_and_decaying():
    chime = synthesize_chime()
    values = samples(chime)
    assert 1.3 < chime.duration_s < 1.5
    peak = max(abs(v) for v in values)
    assert 15000 < peak <= 32767
    head = max(abs(v) for v in values[: RATE // 10])
    tail = max(abs(v) for v in values[-RATE // 10 :])
    assert tail < head / 5  # it fades out
    second_note = max(abs(v) for v in values[int(0.45 * RATE) : int(0.5 * RATE)])
    before = max(abs(v) for v in values[int(0.40 * RATE) : int(0.45 * RATE)])
    assert second_note > before  # the second note strikes


def test_read_wav_resamples_and_mixes_down(tmp_path):
    import wave

    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(44100)
        handle.writeframes(array.array("h", [1000, 3000] * 44100).tobytes())
    pcm = read_wav(path)
    assert pcm.rate == RATE and abs(pcm.duration_s - 1.0) < 0.01
    assert set(samples(pcm)) == {2000}
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    with pytest.raises(AudioError, match="bad.wav"):
        read_wav(tmp_path / "bad.wav")


def test_clip_voice_prefers_phrase_clips_and_names_missing_words(tmp_path):
    words = sentence_words(call_sentence("A023", 3))
    single = sorted(set(w for w in words if w != ","))
    folder = make_clips(tmp_path / "clips", single)
    write_wav(folder / "Mời công dân có số thứ tự.wav", tone(0.3, 500))  # a phrase clip, any case
    voice = ClipVoice(folder, gap_s=0.0, pause_s=0.1)
    assert voice.missing(words) == []
    plan = [key for _, key in voice._plan(words)]
    assert plan[0] == "mời công dân có số thứ tự"
    pcm = voice.speak("", words)
    # phrase 0.3 s + 8 single words (a hai mươi ba đến quầy số ba) of 0.05 s + one pause
    assert abs(pcm.duration_s - (0.3 + 8 * 0.05 + 0.1)) < 0.005
    (folder / "ba.wav").unlink()
    voice = ClipVoice(folder)
    assert voice.missing(words) == ["ba", "ba"]
    with pytest.raises(AudioError, match="no clip for: ba"):
        voice.speak("", words)


def test_espeak_voice_says_the_sentence():
    assert shutil.which("espeak-ng"), "espeak-ng must be installed (apt install espeak-ng)"
    sentence = call_sentence("1023", 3)
    pcm = EspeakVoice("vi").speak(sentence, sentence_words(sentence))
    assert pcm.rate == RATE and 2.0 < pcm.duration_s < 12.0
    assert max(abs(v) for v in samples(pcm)) > 3000


def test_espeak_missing_binary_is_a_clear_error():
    with pytest.raises(AudioError, match="espeak-ng"):
        EspeakVoice(binary="/nonexistent/espeak-ng").speak("xin chào", ["xin", "chào"])


def test_build_voices_order_follows_config(tmp_path):
    folder = make_clips(tmp_path / "clips", ["mời"])
    assert [v.name for v in build_voices("clips", folder)] == ["clips", "espeak"]
    assert [v.name for v in build_voices("clips", tmp_path / "missing")] == ["espeak"]
    assert [v.name for v in build_voices("espeak", folder)] == ["espeak"]
    assert build_voices("chime", folder) == []


def test_silent_output_plays_nothing_at_once():
    output = SilentOutput()
    output.play(tone(0.5, 440))
    assert output.played == [0.5]


def test_mixer_output_writes_the_sound_through_sdl_disk_driver(tmp_path, monkeypatch):
    disk = tmp_path / "audio.raw"
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(disk))
    output = MixerOutput()
    try:
        output.play(tone(0.4, 880))
    finally:
        output.close()
    written = array.array("h")
    written.frombytes(disk.read_bytes()[: len(disk.read_bytes()) // 2 * 2])
    loud = sum(1 for v in written if abs(v) > 2000)
    # At least half of the 0.4 s tone's samples above the threshold reached the device.
    assert loud > 0.4 * RATE * 0.5
