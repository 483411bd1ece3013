"""Tests of reading a melody or primer the user gives (polyframe.music_input).

Every file is real: MIDI written with pretty_midi (and mido where the end of
a track is moved), MusicXML written with music21. Positions are compared as
exact Fractions of a quarter note after the round trip through seconds
(`TempoMap.to_quarters`), which is how every caller reads them.
"""

from fractions import Fraction

import mido
import music21
import pretty_midi
import pytest

from polyframe.data.timing import TempoMap
from polyframe.errors import UserFacingError
from polyframe.music_input import (GivenMusic, parse_voice_name, read_melody,
                                   read_primer)

F = Fraction


def notes_of(given: GivenMusic):
    """Returns `(voice, pitch, onset, duration)` of every note, in quarters."""
    tempo_map = TempoMap(given.sequence)
    result = []
    for note in given.sequence.notes:
        start = tempo_map.to_quarters(note.start_time)
        result.append((note.instrument, note.pitch, start,
                       tempo_map.to_quarters(note.end_time) - start))
    return sorted(result, key=lambda n: (n[2], n[0]))


def error_of(call, *args, **kwargs) -> str:
    """Returns the message of the UserFacingError `call` raises; one line."""
    with pytest.raises(UserFacingError) as raised:
        call(*args, **kwargs)
    message = str(raised.value)
    assert "\n" not in message and "\r" not in message
    return message


# MIDI files.


def write_midi(path, tracks, qpm=120.0, time_signature=None, key_number=None,
               end_quarters=None):
    """Writes a MIDI file.

    Args:
        tracks: `(name, [(pitch, onset, duration), ...] in quarters)`; a name
            starting with "drums" makes a drum track.
        end_quarters: Where the tracks end (a final rest), else right after
            the last event.
    """
    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=qpm)
    seconds = 60.0 / qpm
    for name, notes in tracks:
        instrument = pretty_midi.Instrument(
            program=0, name=name, is_drum=name.startswith("drums"))
        instrument.notes = [
            pretty_midi.Note(velocity=90, pitch=pitch,
                             start=float(onset) * seconds,
                             end=float(onset + length) * seconds)
            for pitch, onset, length in notes]
        midi.instruments.append(instrument)
    if time_signature:
        midi.time_signature_changes.append(
            pretty_midi.TimeSignature(*time_signature, 0.0))
    if key_number is not None:
        midi.key_signature_changes.append(
            pretty_midi.KeySignature(key_number, 0.0))
    midi.write(str(path))
    if end_quarters is not None:
        _move_track_ends(path, int(end_quarters * 480))
    return str(path)


def _move_track_ends(path, end_tick):
    """Puts every track's end_of_track at `end_tick`, as a sequencer that
    keeps the final bar's rest does."""
    midi = mido.MidiFile(str(path))
    for track in midi.tracks:
        tick = sum(message.time for message in track[:-1])
        track[-1] = mido.MetaMessage("end_of_track", time=end_tick - tick)
    midi.save(str(path))


MELODY = [(67, F(0), F(1)), (69, F(1), F(1, 2)), (71, F(3, 2), F(1, 3)),
          (72, F(11, 6), F(2, 3)), (74, F(5, 2), F(3, 2))]
LOW_LINE = [(48, F(0), F(2)), (43, F(2), F(2))]


def test_midi_melody_is_the_highest_track_with_exact_quarters(tmp_path):
    path = write_midi(tmp_path / "melody.mid",
                      [("Cello", LOW_LINE), ("Flute", MELODY),
                       ("drums", [(81, F(0), F(1))])],
                      qpm=90, time_signature=(3, 4), key_number=10)
    given = read_melody(path, voice=1)
    assert notes_of(given) == [(1, p, s, d) for p, s, d in MELODY]
    assert given.voices == (1,)
    assert given.sequence.tempos[0].qpm == pytest.approx(90, rel=1e-5)
    assert given.time_signature == (3, 4)
    assert (given.key_fifths, given.key_mode) == (-2, "major")  # Bb major
    assert given.sequence.time_signatures[0].numerator == 3
    assert given.sequence.key_signatures[0].key == 10
    assert given.pickup_quarters == 0
    assert given.end_quarters == 4  # pretty_midi's extra end tick not counted
    assert given.description == "melody.mid (track 'Flute', 5 notes)"


def test_midi_final_rest_counts_in_the_length(tmp_path):
    path = write_midi(tmp_path / "rest.mid", [("Flute", MELODY)],
                      end_quarters=6)
    given = read_melody(path)
    assert given.end_quarters == 6
    assert TempoMap(given.sequence).to_quarters(given.sequence.total_time) == 6
    assert (given.time_signature, given.key_fifths, given.key_mode) == (
        (4, 4), None, None)


def test_midi_melody_part_by_name_or_number(tmp_path):
    path = write_midi(tmp_path / "two.mid",
                      [("Cello", LOW_LINE), ("Flute", MELODY)])
    assert [n[1] for n in notes_of(read_melody(path, part="cello"))] == [
        48, 43]
    assert [n[1] for n in notes_of(read_melody(path, part=" FLUTE "))] == [
        p for p, _, _ in MELODY]
    assert [n[1] for n in notes_of(read_melody(path, part="1"))] == [48, 43]
    message = error_of(read_melody, path, part="Oboe")
    assert "has no track named 'Oboe'" in message
    assert "1 'Cello', 2 'Flute'" in message
    assert "--melody_part" in message


def test_midi_chord_in_the_melody_names_position_and_pitches(tmp_path):
    path = write_midi(tmp_path / "chords.mid", [(
        "Piano", [(60, F(0), F(1)), (64, F(1), F(2)), (67, F(2), F(1))])])
    message = error_of(read_melody, path)
    assert "track 'Piano' has 2 notes sounding at once at quarter 2" in message
    assert "E4 (64), G4 (67)" in message
    assert "pick a single line with --melody_part" in message


# MusicXML files.


def write_score(path, parts, time_signature="3/4", key=None, pickup=None,
                bpm=None, fmt="musicxml"):
    """Writes a score with music21.

    Args:
        parts: `(name, measures)`; a measure a list of `(pitch, quarters)`,
            pitch a name ("G4"), a list of names (a chord), "R" (a rest), or
            a name ending in "~" (tied to the next note).
        pickup: The length of the first measure when it is a pickup.
    """
    score = music21.stream.Score()
    bar = music21.meter.TimeSignature(time_signature).barDuration.quarterLength
    for name, measures in parts:
        part = music21.stream.Part()
        part.partName = name
        for number, contents in enumerate(measures, 0 if pickup else 1):
            measure = music21.stream.Measure(number=number)
            if number == (0 if pickup else 1):
                if bpm:
                    measure.append(music21.tempo.MetronomeMark(number=bpm))
                measure.append(music21.meter.TimeSignature(time_signature))
                if key:
                    measure.append(music21.key.Key(key))
                if pickup:
                    measure.paddingLeft = bar - pickup
            for pitch, length in contents:
                measure.append(_element(pitch, length))
            part.append(measure)
        score.insert(0, part)
    score.write(fmt, fp=str(path))
    return str(path)


def _element(pitch, length):
    if pitch == "R":
        return music21.note.Rest(quarterLength=length)
    if isinstance(pitch, list):
        return music21.chord.Chord(pitch, quarterLength=length)
    note = music21.note.Note(pitch.rstrip("~"), quarterLength=length)
    if pitch.endswith("~"):
        note.tie = music21.tie.Tie("start")
    return note


SOPRANO = ("Soprano", [[("D5", 1)],
                       [("G4", 2), ("A4~", 1)],
                       [("A4", 1), ("B-4", F(2, 3)), ("C5", F(1, 3)),
                        ("R", 1)]])
ALTO = ("Alto", [[("B4", 1)], [("D4", 3)], [("D4", 2), ("R", 1)]])


def test_musicxml_pickup_ties_tuplets_key_tempo_and_final_rest(tmp_path):
    path = write_score(tmp_path / "hymn.musicxml", [ALTO, SOPRANO], key="g",
                       pickup=1, bpm=90)
    given = read_melody(path, part="soprano")
    assert notes_of(given) == [
        (0, 74, F(0), F(1)), (0, 67, F(1), F(2)), (0, 69, F(3), F(2)),
        (0, 70, F(5), F(2, 3)), (0, 72, F(17, 3), F(1, 3))]
    assert given.pickup_quarters == 1
    assert given.end_quarters == 7  # the last bar's rest included
    assert given.time_signature == (3, 4)
    assert (given.key_fifths, given.key_mode) == (-2, "minor")
    assert given.sequence.tempos[0].qpm == 90
    assert given.sequence.key_signatures[0].key == 7  # G
    assert given.description == "hymn.musicxml (part 'Soprano', 5 notes)"


def test_musicxml_melody_is_the_first_part_unless_named(tmp_path):
    path = write_score(tmp_path / "hymn.xml", [ALTO, SOPRANO])
    assert [n[1] for n in notes_of(read_melody(path))] == [71, 62, 62]
    given = read_melody(path, part="Soprano")
    assert [n[1] for n in notes_of(given)] == [74, 67, 69, 70, 72]
    assert given.pickup_quarters == 0
    assert given.sequence.tempos[0].qpm == 120
    message = error_of(read_melody, path, part="Tenor")
    assert "has no part named 'Tenor'; its parts are 1 'Alto', 2 'Soprano'" \
        in message


def test_compressed_musicxml(tmp_path):
    path = write_score(tmp_path / "hymn.mxl", [SOPRANO], fmt="mxl")
    assert [n[1] for n in notes_of(read_melody(path))] == [74, 67, 69, 70, 72]


def test_musicxml_chord_in_the_melody(tmp_path):
    path = write_score(tmp_path / "chord.xml", [(
        "Piano", [[("C4", 1), (["E4", "G4"], 2)]])])
    message = error_of(read_melody, path)
    assert "part 'Piano' has 2 notes sounding at once at quarter 1" in message
    assert "E4 (64), G4 (67)" in message and "--melody_part" in message


# Inline text.


def test_inline_notes_accidentals_fractions_and_rests():
    given = read_melody(
        "R:1/2 C4:1 F#4:0.5 Bb3:3/2 Cb4:1/3 E#3:1/3 F##4:1/3 Dbb4:1.5 "
        "c5:1 R:1", voice=2)
    assert notes_of(given) == [
        (2, 60, F(1, 2), F(1)), (2, 66, F(3, 2), F(1, 2)),
        (2, 58, F(2), F(3, 2)), (2, 59, F(7, 2), F(1, 3)),
        (2, 53, F(23, 6), F(1, 3)), (2, 67, F(25, 6), F(1, 3)),
        (2, 60, F(9, 2), F(3, 2)), (2, 72, F(6), F(1))]
    assert given.end_quarters == 8
    assert TempoMap(given.sequence).to_quarters(given.sequence.total_time) == 8
    assert given.sequence.tempos[0].qpm == 120
    assert (given.time_signature, given.pickup_quarters) == ((4, 4), 0)
    assert (given.key_fifths, given.key_mode) == (None, None)
    assert not given.sequence.time_signatures  # 4/4 assumed, not written
    assert given.voices == (2,)
    assert given.description == "inline melody (8 notes)"


def test_inline_barlines_and_time_signature():
    given = read_melody("3/4 | G4:2 A4:1 | B4:3 |")
    assert (given.time_signature, given.pickup_quarters,
            given.end_quarters) == ((3, 4), 0, 6)
    assert given.sequence.time_signatures[0].numerator == 3
    pickup = read_melody("4/4 G4:1 | C5:2 D5:2 || E5:2 R:1")
    assert (pickup.time_signature, pickup.pickup_quarters,
            pickup.end_quarters) == ((4, 4), 1, 8)
    assert read_melody("G4:1 | C5:4").pickup_quarters == 1  # 4/4 assumed


@pytest.mark.parametrize("text, phrase", [
    ("3/4 | G4:2 | A4:2 | B4:3",
     "bar 2 (A4:2) lasts 2 quarters, but a 3/4 bar lasts 3"),
    ("3/4 G4:4 | A4:3", "bar 1 (G4:4) lasts 4 quarters, but a 3/4 bar"),
    ("G4:1 | A4:4 | B4:5", "bar 3 (B4:5) lasts 5 quarters, but a 4/4 bar"),
])
def test_inline_bar_that_does_not_fit(text, phrase):
    message = error_of(read_melody, text)
    assert phrase in message and "fix its durations" in message


@pytest.mark.parametrize("text, phrase", [
    ("G4:1 A4 B4:1", "token 2 'A4' at quarter 1: expected NOTE:QUARTERS, "
                     "e.g. G4:1 or R:1/2"),
    ("G4:1 3/4", "token 2 '3/4' at quarter 1: expected NOTE:QUARTERS"),
    ("G4:1 H4:1", "token 2 'H4:1' at quarter 1: unknown note name 'H4'"),
    ("G:1", "unknown note name 'G'"),
    ("G4:0", "token 1 'G4:0' at quarter 0: duration 0 is not positive"),
    ("G4:-1/2", "duration -1/2 is not positive"),
    ("G4:fast", "bad duration 'fast'"),
    ("G4:1/0", "bad duration '1/0'"),
    ("C4:1 G#9:1", "token 2 'G#9:1' at quarter 1: G#9 is MIDI pitch 128, "
                   "outside 0..127"),
    ("Cb-1:1", "Cb-1 is MIDI pitch -1, outside 0..127"),
    ("3/5 G4:1", "bad time signature '3/5'"),
    ("R:1 R:2", "inline melody has no notes"),
    ("", "inline melody has no notes"),
])
def test_inline_errors(text, phrase):
    assert phrase in error_of(read_melody, text)


# Primers.


def test_primer_parts_by_name_in_any_order(tmp_path):
    bass = ("Bass", [[("G2", 3)]])
    tenor = ("Tenor 1", [[("D3", 3)]])
    violin = ("Violin", [[("G5", 3)]])
    soprano = ("soprano", [[("B4", 2), ("A4", 1)]])
    path = write_score(tmp_path / "primer.xml", [bass, violin, tenor,
                                                 soprano])
    given = read_primer(path)
    assert given.voices == (0, 2, 3)
    assert notes_of(given) == [(0, 71, 0, 2), (2, 50, 0, 3), (3, 43, 0, 3),
                               (0, 69, 2, 1)]
    assert given.end_quarters == 3
    assert {info.instrument: info.name for info in
            given.sequence.instrument_infos} == {0: "soprano", 2: "Tenor 1",
                                                 3: "Bass"}
    assert "left out Violin" in given.description


def test_primer_tracks_by_letter_and_by_pitch(tmp_path):
    lettered = write_midi(tmp_path / "satb.mid", [
        ("B", [(43, F(0), F(2))]), ("S", [(67, F(0), F(2))])])
    assert notes_of(read_primer(lettered)) == [(0, 67, 0, 2), (3, 43, 0, 2)]
    unnamed = write_midi(tmp_path / "trio.mid", [
        ("Left hand", [(48, F(0), F(2))]), ("Right hand", [(72, F(0), F(2))]),
        ("Middle", [(60, F(0), F(1)), (62, F(1), F(1))])])
    given = read_primer(unnamed)
    assert given.voices == (0, 1, 2)
    assert [(n[0], n[1]) for n in notes_of(given)] == [
        (0, 72), (1, 60), (2, 48), (1, 62)]
    assert given.description.startswith(
        "trio.mid (soprano 'Right hand', alto 'Middle', tenor 'Left hand'")


def test_inline_primer_is_the_first_voice():
    given = read_primer("4/4 E5:1 | D5:2 C5:2")
    assert given.voices == (0,) and given.pickup_quarters == 1
    assert given.description == "inline primer (soprano; 3 notes)"


def test_primer_errors(tmp_path):
    five = write_midi(tmp_path / "five.mid", [
        (f"Line {i}", [(60 + 2 * i, F(0), F(1))]) for i in range(5)])
    message = error_of(read_primer, five)
    assert "has 5 tracks with notes, but the model has 4 voices" in message
    assert "remove the lowest 'Line 0'" in message
    two = write_score(tmp_path / "two.xml", [("Soprano 1", [[("C5", 3)]]),
                                            ("Soprano 2", [[("D5", 3)]])])
    assert "2 parts for the soprano ('Soprano 1', 'Soprano 2')" in error_of(
        read_primer, two)
    chords = write_score(tmp_path / "chords.xml", [
        ("Soprano", [[("C5", 3)]]), ("Alto", [[(["E4", "G4"], 3)]])])
    message = error_of(read_primer, chords)
    assert "the alto of" in message and "(part 'Alto') has 2 notes sounding " \
        "at once at quarter 0: E4 (64), G4 (67)" in message


# Files that cannot be used.


def test_file_errors(tmp_path):
    assert "file not found: " in error_of(
        read_melody, str(tmp_path / "missing.mid"))
    (tmp_path / "text.mid").write_text("not midi")
    assert "is not a MIDI file (it starts with b'not '" in error_of(
        read_melody, str(tmp_path / "text.mid"))
    good = write_midi(tmp_path / "good.mid", [("Flute", MELODY)])
    data = open(good, "rb").read()
    (tmp_path / "cut.mid").write_bytes(data[:len(data) // 2])
    assert "corrupt or truncated MIDI" in error_of(
        read_melody, str(tmp_path / "cut.mid"))
    (tmp_path / "broken.xml").write_text("<score-partwise><part")
    assert "broken MusicXML" in error_of(read_melody,
                                         str(tmp_path / "broken.xml"))
    (tmp_path / "notes.txt").write_text("G4:1")
    assert "is a .txt file; give a MIDI" in error_of(
        read_melody, str(tmp_path / "notes.txt"))
    drums = write_midi(tmp_path / "drums.mid", [("drums", [(36, F(0), F(1))])])
    assert "holds no notes (drum tracks are not used)" in error_of(
        read_melody, drums)
    rests = write_score(tmp_path / "rests.xml", [("Flute", [[("R", 3)]])])
    assert "part 'Flute' has no notes" in error_of(read_melody, rests)


def test_parse_voice_name():
    assert [parse_voice_name(name) for name in (
        "soprano", "Alto", " TENOR ", "b", "S", "0", "3")] == [0, 1, 2, 3, 0,
                                                               0, 3]
    assert parse_voice_name("Melody", ("Melody", "Bass")) == 0
    message = error_of(parse_voice_name, "baritone")
    assert message == ("unknown voice 'baritone'; choose one of soprano, "
                       "alto, tenor, bass (or its first letter, or its "
                       "number 0-3).")
