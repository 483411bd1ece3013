"""Rendering MIDI to WAV with the built-in and the external renderers."""

import os
import shutil
import sys
import wave

import numpy as np
from note_seq.protobuf import music_pb2
import pytest

from polyframe import audio
from polyframe.errors import UserFacingError
from polyframe.midi_output import write_midi

SAMPLE_RATE = 8000  # Low, to keep the tests fast.
LAST_NOTE_END = 2.0


@pytest.fixture
def midi_path(tmp_path):
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=120)
    for index, chord in enumerate(((72, 67, 64, 48), (74, 67, 59, 55))):
        for voice, pitch in enumerate(chord):
            sequence.notes.add(pitch=pitch, velocity=80, instrument=voice,
                               start_time=index * 1.0, end_time=(index + 1) * 1.0)
    path = tmp_path / "piece.mid"
    write_midi(sequence, str(path), primer_end_time=1.0)
    return str(path)


def _read(path):
    with wave.open(path, "rb") as reader:
        frames = reader.readframes(reader.getnframes())
        return (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                np.frombuffer(frames, dtype="<i2"))


def test_builtin_renders_audible_mono_16bit(midi_path, tmp_path):
    wav_path = str(tmp_path / "piece.wav")
    assert audio.render_wav(midi_path, wav_path, SAMPLE_RATE, renderer="builtin") == (
            "builtin")
    channels, width, rate, samples = _read(wav_path)
    assert (channels, width, rate) == (1, 2, SAMPLE_RATE)
    # The piece plus the one-second release tail of the synthesizer.
    assert len(samples) / SAMPLE_RATE == pytest.approx(LAST_NOTE_END + 1, abs=0.01)
    peak = np.abs(samples.astype(np.int32)).max()
    assert 0.5 * 32767 < peak < 32767  # Loud, yet normalised below clipping.
    assert sorted(os.listdir(tmp_path)) == ["piece.mid", "piece.wav"]


def test_builtin_tone_has_harmonics():
    phase = np.linspace(0, 2 * np.pi, 512, endpoint=False)
    spectrum = np.abs(np.fft.rfft(audio._soft_tone(phase)))
    assert spectrum[2] > 0.1 * spectrum[1]  # Not a pure sine.
    assert np.abs(audio._soft_tone(phase)).max() <= 1.0


def test_unknown_renderer_is_a_user_error(midi_path, tmp_path):
    with pytest.raises(UserFacingError, match="choose one of"):
        audio.render_wav(midi_path, str(tmp_path / "x.wav"), renderer="sox")


@pytest.mark.parametrize("renderer", ["fluidsynth", "timidity"])
def test_requested_missing_program_is_a_user_error(midi_path, tmp_path, monkeypatch,
                                                   renderer):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserFacingError, match=f"install .*{renderer}"):
        audio.render_wav(midi_path, str(tmp_path / "x.wav"), renderer=renderer)
    assert not os.path.exists(tmp_path / "x.wav")


def test_auto_without_programs_uses_builtin(midi_path, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert audio.render_wav(midi_path, str(tmp_path / "x.wav"), SAMPLE_RATE) == "builtin"


def _fake_program(directory, name, script):
    directory.mkdir(exist_ok=True)
    program = directory / name
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)


def test_auto_falls_back_past_failing_and_silent_renderers(midi_path, tmp_path,
                                                          monkeypatch, caplog):
    bin_dir = tmp_path / "bin"
    _fake_program(bin_dir, "fluidsynth", "echo broken >&2; exit 3\n")
    # Writes a valid WAV that holds nothing but silence to the -o argument.
    _fake_program(bin_dir, "timidity", (
            'while [ "$1" != "-o" ]; do shift; done\n'
            f'"{sys.executable}" -c "import sys, wave; '
            "w = wave.open(sys.argv[1], 'wb'); w.setnchannels(1); w.setsampwidth(2); "
            "w.setframerate(8000); w.writeframes(bytes(1600)); w.close()\" \"$2\"\n"))
    monkeypatch.setenv("PATH", str(bin_dir))
    wav_path = tmp_path / "x.wav"
    assert audio.render_wav(midi_path, str(wav_path), SAMPLE_RATE) == "builtin"
    assert _read(str(wav_path))[0] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "fluidsynth" in warnings[0] and "broken" in warnings[0]
    assert "timidity" in warnings[1] and "silent" in warnings[1]
    assert sorted(os.listdir(tmp_path)) == ["bin", "piece.mid", "x.wav"]


def test_requested_renderer_that_fails_is_a_user_error(midi_path, tmp_path,
                                                       monkeypatch):
    bin_dir = tmp_path / "bin"
    _fake_program(bin_dir, "fluidsynth", "echo no audio device >&2; exit 1\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    wav_path = tmp_path / "x.wav"
    wav_path.write_bytes(b"old")
    with pytest.raises(UserFacingError, match="no audio device"):
        audio.render_wav(midi_path, str(wav_path), renderer="fluidsynth")
    assert sorted(os.listdir(tmp_path)) == ["bin", "piece.mid", "x.wav"]
    assert wav_path.read_bytes() == b"old"  # Left untouched, no temporary file.


def test_external_renderer_timeout_falls_back(midi_path, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    _fake_program(bin_dir, "fluidsynth", f'exec "{shutil.which("sleep")}" 30\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    assert audio.render_wav(midi_path, str(tmp_path / "x.wav"), SAMPLE_RATE,
                            timeout_s=0.5) == "builtin"


def test_missing_midi_or_soundfont_is_a_user_error(midi_path, tmp_path):
    with pytest.raises(UserFacingError, match="no such MIDI file"):
        audio.render_wav(str(tmp_path / "nope.mid"), str(tmp_path / "x.wav"))
    with pytest.raises(UserFacingError, match="soundfont"):
        audio.render_wav(midi_path, str(tmp_path / "x.wav"),
                         soundfont=str(tmp_path / "nope.sf2"))


@pytest.mark.parametrize("renderer", ["fluidsynth", "timidity"])
def test_installed_external_renderer(midi_path, tmp_path, renderer):
    if shutil.which(renderer) is None:
        pytest.skip(f"the '{renderer}' program is not installed")
    if audio.find_soundfont() is None:
        pytest.skip("no General MIDI soundfont found")
    wav_path = str(tmp_path / "piece.wav")
    assert audio.render_wav(midi_path, wav_path, SAMPLE_RATE, renderer=renderer) == (
            renderer)
    channels, width, rate, samples = _read(wav_path)
    assert (width, rate) == (2, SAMPLE_RATE)
    seconds = len(samples) / channels / SAMPLE_RATE
    assert LAST_NOTE_END - 0.1 < seconds < LAST_NOTE_END + 5  # Plus release.
    assert np.abs(samples.astype(np.int32)).max() > 100
    assert sorted(os.listdir(tmp_path)) == ["piece.mid", "piece.wav"]
