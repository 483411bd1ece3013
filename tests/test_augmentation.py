"""Transposition augmentation and key normalisation."""

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from polyframe import plugin_loading, registries
from polyframe.data import augmentation

plugin_loading.load_plugins()


def piece(pitches, key=None, mode=None):
    sequence = music_pb2.NoteSequence(id="p", ticks_per_quarter=220)
    sequence.tempos.add(qpm=120)
    for voice, pitch in enumerate(pitches):
        sequence.notes.add(pitch=pitch, start_time=0.0, end_time=1.0,
                           instrument=voice, velocity=80)
        sequence.notes.add(pitch=pitch - 2, start_time=1.0, end_time=1.5,
                           instrument=voice, velocity=80)
    sequence.total_time = 1.5
    if key is not None:
        sequence.key_signatures.add(time=0, key=key, mode=mode)
    return sequence


@pytest.fixture
def encoder():
    encoder = registries.ENCODERS.get("duration")(min_pitch=40, max_pitch=80)
    encoder.fit([piece([72, 65, 57, 48])])
    return encoder


def decoded_pitches(encoder, events):
    return sorted(n.pitch for n in encoder.decode(events).notes)


def test_each_draw_shifts_whole_pieces_within_the_range(encoder):
    sequences = [piece([72, 65, 57, 48]), piece([79, 70, 60, 44])]
    originals = [encoder.encode(s) for s in sequences]
    pieces = augmentation.TransposedPieces(sequences, originals, encoder, 5)
    seen_shifts = set()
    for seed in range(20):
        for original, drawn in zip(originals,
                                   pieces.draw(np.random.default_rng(seed))):
            before = np.array(decoded_pitches(encoder, original))
            after = np.array(decoded_pitches(encoder, drawn))
            shift = set(after - before)
            assert len(shift) == 1  # every note moved by the same amount
            seen_shifts |= shift
            assert -5 <= min(shift) <= 5
            np.testing.assert_array_equal(original[..., 1], drawn[..., 1])
            assert 40 <= after.min() and after.max() <= 80
    assert len(seen_shifts) > 5


def test_shift_leaving_the_range_keeps_the_original_key(encoder):
    top = piece([80, 70, 60, 50])  # any upward shift leaves [40, 80]
    original = encoder.encode(top)
    pieces = augmentation.TransposedPieces([top], [original], encoder, 3)
    for seed in range(10):
        drawn = pieces.draw(np.random.default_rng(seed))[0]
        assert max(decoded_pitches(encoder, drawn)) <= 80


def test_draws_are_reproducible_from_the_seed(encoder):
    sequences = [piece([72, 65, 57, 48])]
    pieces = augmentation.TransposedPieces(
        sequences, [encoder.encode(sequences[0])], encoder, 5)
    first = pieces.draw(np.random.default_rng([0, 3]))
    again = pieces.draw(np.random.default_rng([0, 3]))
    np.testing.assert_array_equal(first[0], again[0])


@pytest.mark.parametrize("key,mode,shift", [
    (7, music_pb2.NoteSequence.KeySignature.MAJOR, -7 + 12),  # G -> C: +5
    (2, music_pb2.NoteSequence.KeySignature.MINOR, -5),  # D minor -> A minor
    (0, music_pb2.NoteSequence.KeySignature.MAJOR, 0),
])
def test_key_normalisation_moves_to_c_major_or_a_minor(key, mode, shift):
    original = piece([72, 65, 57, 48], key=key, mode=mode)
    normalized = augmentation.key_normalized(original)
    assert [n.pitch - o.pitch for n, o in
            zip(normalized.notes, original.notes)] == [shift] * 8
    assert normalized.key_signatures[0].key == (0 if mode == 0 else 9)


def test_negative_range_is_rejected():
    with pytest.raises(ValueError, match="transpose_semitones"):
        augmentation.Augmentation(transpose_semitones=-1)
