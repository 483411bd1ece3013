"""Writing sampled pieces to MIDI: voices, primer contrast, marker, atomicity."""

import os

import mido
from note_seq.protobuf import music_pb2
import pretty_midi
import pytest

from polyframe import midi_output
from polyframe.midi_output import write_midi

QPM = 90.0
BEAT = 60.0 / QPM
# Four chords, one beat each, soprano first; the first two are the primer.
CHORDS = ((72, 67, 64, 48), (74, 67, 59, 55), (76, 67, 60, 48), (74, 65, 59, 55))
PRIMER_END = 2 * BEAT
TIME_TOLERANCE = 0.01  # Ticks round note times.


def _chorale() -> music_pb2.NoteSequence:
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=QPM)
    for index, chord in enumerate(CHORDS):
        for voice, pitch in enumerate(chord):
            sequence.notes.add(pitch=pitch, velocity=80, instrument=voice,
                               start_time=index * BEAT, end_time=(index + 1) * BEAT)
    sequence.total_time = len(CHORDS) * BEAT
    return sequence


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "piece.mid"
    write_midi(_chorale(), str(path), primer_end_time=PRIMER_END)
    return path


def test_one_named_instrument_per_voice(written):
    midi = pretty_midi.PrettyMIDI(str(written))
    assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert {i.program for i in midi.instruments} == {midi_output.CHOIR_AAHS}
    assert not any(i.is_drum for i in midi.instruments)


def test_notes_pitches_and_onsets_survive(written):
    midi = pretty_midi.PrettyMIDI(str(written))
    for voice, instrument in enumerate(midi.instruments):
        assert [n.pitch for n in instrument.notes] == [c[voice] for c in CHORDS]
        for index, note in enumerate(instrument.notes):
            assert note.start == pytest.approx(index * BEAT, abs=TIME_TOLERANCE)
            assert note.end == pytest.approx((index + 1) * BEAT, abs=TIME_TOLERANCE)


def test_tempo_comes_from_the_sequence(written):
    _, tempi = pretty_midi.PrettyMIDI(str(written)).get_tempo_changes()
    assert list(tempi) == [pytest.approx(QPM, abs=0.01)]


def test_primer_notes_are_softer(written):
    midi = pretty_midi.PrettyMIDI(str(written))
    for instrument in midi.instruments:
        velocities = [n.velocity for n in instrument.notes]
        assert velocities == [midi_output.DEFAULT_PRIMER_VELOCITY] * 2 + [
                midi_output.DEFAULT_VELOCITY] * 2
    assert midi_output.DEFAULT_PRIMER_VELOCITY < midi_output.DEFAULT_VELOCITY


def test_primer_end_text_and_marker(written):
    texts = pretty_midi.PrettyMIDI(str(written)).text_events
    assert [t.text for t in texts] == [midi_output.PRIMER_END_TEXT]
    assert texts[0].time == pytest.approx(PRIMER_END, abs=TIME_TOLERANCE)

    midi_file = mido.MidiFile(str(written))
    tick, markers = 0, []
    for message in midi_file.tracks[0]:
        tick += message.time
        if message.type == "marker":
            markers.append((tick, message.text))
    expected_tick = round(PRIMER_END / BEAT * midi_file.ticks_per_beat)
    assert markers == [(expected_tick, midi_output.PRIMER_END_TEXT)]
    assert midi_file.tracks[0][-1].type == "end_of_track"


def test_without_primer_all_notes_are_generated(tmp_path):
    path = tmp_path / "piece.mid"
    write_midi(_chorale(), str(path))
    midi = pretty_midi.PrettyMIDI(str(path))
    assert {n.velocity for i in midi.instruments for n in i.notes} == {
            midi_output.DEFAULT_VELOCITY}
    assert not midi.text_events
    assert not any(m.type == "marker" for m in mido.MidiFile(str(path)).tracks[0])


def test_extra_voices_and_program_choice(tmp_path):
    sequence = _chorale()
    sequence.notes.add(pitch=60, velocity=80, instrument=5, start_time=0, end_time=1)
    path = tmp_path / "piece.mid"
    write_midi(sequence, str(path), voice_names=("S", "A"),
               program=midi_output.CHURCH_ORGAN)
    midi = pretty_midi.PrettyMIDI(str(path))
    assert [i.name for i in midi.instruments] == [
            "S", "A", "Voice 3", "Voice 4", "Voice 6"]
    assert {i.program for i in midi.instruments} == {midi_output.CHURCH_ORGAN}


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out" / "piece.mid"
    write_midi(_chorale(), str(path), primer_end_time=PRIMER_END)
    write_midi(_chorale(), str(path), primer_end_time=PRIMER_END)  # Overwrites.
    assert os.listdir(path.parent) == ["piece.mid"]


@pytest.mark.parametrize("kwargs", [
        {"program": 128}, {"velocity": 0}, {"primer_velocity": 200},
        {"primer_end_time": -1.0}])
def test_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_midi(_chorale(), str(tmp_path / "piece.mid"), **kwargs)
    assert not os.listdir(tmp_path)
