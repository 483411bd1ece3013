"""Metre, key and melody of validation pieces, as a run saves them."""

import fractions

from note_seq.protobuf import music_pb2

from polyframe import piece_info

Fraction = fractions.Fraction


def sequence_with(*signatures, key=None):
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=120)
    for time, numerator, denominator in signatures:
        sequence.time_signatures.add(time=time, numerator=numerator,
                                     denominator=denominator)
    if key is not None:
        sequence.key_signatures.add(time=0, key=key[0], mode=key[1])
    sequence.notes.add(pitch=72, start_time=0.0, end_time=0.5, instrument=0)
    sequence.notes.add(pitch=60, start_time=0.0, end_time=0.5, instrument=1)
    sequence.notes.add(pitch=74, start_time=0.5, end_time=2.5, instrument=0)
    sequence.total_time = 2.5
    return sequence


def test_a_pickup_bar_written_as_its_own_signature_is_read_back():
    # A one-quarter pickup: 1/4 at 0, then 4/4 from quarter 1 (0.5 s), as
    # the MusicXML reader writes the chorales; the bass part's 4/4 at 0 too.
    sequence = sequence_with((0.0, 4, 4), (0.0, 1, 4), (0.5, 4, 4),
                             (19.25, 3, 4))
    assert piece_info.metre_of(sequence) == ((4, 4), Fraction(1))


def test_without_a_pickup_the_first_signature_holds():
    assert piece_info.metre_of(sequence_with((0.0, 3, 4))) == (
        (3, 4), Fraction(0))


def test_a_saved_melody_comes_back_as_given_music():
    minor = music_pb2.NoteSequence.KeySignature.MINOR
    sequence = sequence_with((0.0, 1, 4), (0.5, 4, 4), key=(9, minor))
    saved = piece_info.melody_of(sequence)
    assert saved["notes"] == [[72, "0", "1"], [74, "1", "5"]]
    assert saved["key_fifths"] == 0  # A minor
    given = piece_info.given_from_saved("bwv0", saved)
    assert given.voices == (0,)
    assert given.time_signature == (4, 4)
    assert given.pickup_quarters == 1
    assert given.end_quarters == 5
    assert [(n.pitch, n.start_time, n.end_time)
            for n in given.sequence.notes] == [(72, 0.0, 0.5), (74, 0.5, 2.5)]


def test_key_signatures_become_fifths():
    minor = music_pb2.NoteSequence.KeySignature.MINOR
    major = music_pb2.NoteSequence.KeySignature.MAJOR
    assert piece_info.fifths_of(7, major) == 1  # G major
    assert piece_info.fifths_of(5, major) == -1  # F major
    assert piece_info.fifths_of(2, minor) == -1  # D minor
    assert piece_info.fifths_of(6, major) == 6  # F# major
