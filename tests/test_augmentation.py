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


def one_epoch(pieces, rng):
    """Every piece of one epoch, in the keys drawn from `rng`."""
    return list(pieces.epoch(rng)())


def decoded_pitches(encoder, events):
    return sorted(n.pitch for n in encoder.decode(events).notes)


def test_each_draw_shifts_whole_pieces_within_the_range(encoder):
    sequences = [piece([72, 65, 57, 48]), piece([79, 70, 60, 44])]
    originals = [encoder.encode(s) for s in sequences]
    pieces = augmentation.TransposedPieces(sequences, originals, encoder, 5)
    seen_shifts = set()
    for seed in range(20):
        for original, drawn in zip(originals,
                                   one_epoch(pieces, np.random.default_rng(seed))):
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
        drawn = one_epoch(pieces, np.random.default_rng(seed))[0]
        assert max(decoded_pitches(encoder, drawn)) <= 80


def test_draws_are_reproducible_from_the_seed(encoder):
    sequences = [piece([72, 65, 57, 48])]
    pieces = augmentation.TransposedPieces(
        sequences, [encoder.encode(sequences[0])], encoder, 5)
    first = one_epoch(pieces, np.random.default_rng([0, 3]))
    again = one_epoch(pieces, np.random.default_rng([0, 3]))
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


@pytest.mark.parametrize("name", ["duration", "grid"])
def test_moving_the_events_equals_encoding_the_transposed_piece(bach, name):
    encoder = registries.ENCODERS.get(name)()
    encoder.fit(bach.corpus.train)
    for sequence in bach.corpus.train[:25]:
        events = encoder.encode(sequence)
        for shift in (-30, -5, -1, 1, 4, 7, 30):
            try:
                expected = encoder.encode(augmentation.transpose(sequence,
                                                                 shift))
            except augmentation.UnusableSequenceError:
                with pytest.raises(augmentation.UnusableSequenceError):
                    encoder.transposed(events, shift)
                continue
            np.testing.assert_array_equal(encoder.transposed(events, shift),
                                          expected)


class ReencodingEncoder(registries.ENCODERS.get("duration")):
    """The duration encoder without its shortcut: transposed pieces are
    encoded again from their NoteSequences."""

    def transposed(self, events, semitones):
        return None


def test_kept_encodings_are_bounded_and_change_nothing(monkeypatch):
    encoder = ReencodingEncoder(min_pitch=40, max_pitch=80)
    encoder.fit([piece([72, 65, 57, 48])])
    sequences = [piece([72, 65, 57, 48]), piece([70, 62, 55, 46])]
    originals = [encoder.encode(s) for s in sequences]
    calls = []
    real_encode = encoder.encode
    monkeypatch.setattr(encoder, "encode",
                        lambda s: (calls.append(1), real_encode(s))[1])
    keeping = augmentation.TransposedPieces(sequences, originals, encoder, 5)
    streaming = augmentation.TransposedPieces(sequences, originals, encoder,
                                              5, max_kept_events=0)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        kept = one_epoch(keeping, rng)
        again = one_epoch(streaming, np.random.default_rng(seed))
        for a, b in zip(kept, again):
            np.testing.assert_array_equal(a, b)
    # Both drew the same 12 keys; the unbounded one encoded each distinct
    # (piece, shift) once, the other every non-zero shift again.
    shifts = [tuple(np.random.default_rng(seed).integers(-5, 6, size=2))
              for seed in range(6)]
    distinct = {(i, s) for draw in shifts for i, s in enumerate(draw) if s}
    repeated = sum(1 for draw in shifts for s in draw if s)
    assert len(calls) == len(distinct) + repeated


def test_an_epoch_iterates_the_same_keys_each_time(encoder):
    sequences = [piece([72, 65, 57, 48]), piece([70, 62, 55, 46])]
    pieces = augmentation.TransposedPieces(
        sequences, [encoder.encode(s) for s in sequences], encoder, 5,
        max_kept_events=0)
    epoch = pieces.epoch(np.random.default_rng(4))
    for first, second in zip(list(epoch()), list(epoch())):
        np.testing.assert_array_equal(first, second)
