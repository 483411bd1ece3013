"""The grid encoder: round trips on grid-aligned music (random and the real
chorales), the quantization policy, totality of decoding, and its state."""

import fractions
import json
import math

import hypothesis
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.timing import TempoMap
from polyframe.registries import ENCODERS
from polyframe_plugins.encoders.grid import (DROPPED, FIRST_PITCH_ID, HELD_ID,
                                             MERGED, MOVED, REST_ID, STRUCK_ID,
                                             GridEncoder)

Fraction = fractions.Fraction


def _piece(notes, qpm=120.0, total_quarters=None):
    """Returns a NoteSequence of `(voice, pitch, start, end)` in quarters."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=qpm)
    for voice, pitch, start, end in notes:
        sequence.notes.add(instrument=voice, pitch=pitch, velocity=80,
                           start_time=float(start) * 60 / qpm,
                           end_time=float(end) * 60 / qpm)
    ends = [end for _, _, _, end in notes]
    sequence.total_time = float(
        max(ends + [total_quarters or 0])) * 60 / qpm
    return sequence


def _quarter_notes(sequence):
    """`(voice, pitch, start, end)` in exact quarters, sorted."""
    tempo_map = TempoMap(sequence)
    return sorted((n.instrument, n.pitch, tempo_map.to_quarters(n.start_time),
                   tempo_map.to_quarters(n.end_time)) for n in sequence.notes)


def _merged(notes):
    """The notes a grid without articulation keeps: touching notes of equal
    pitch in one voice become one."""
    result = []
    for voice, pitch, start, end in sorted(notes):
        last = result[-1] if result else None
        if last and last[:2] == (voice, pitch) and last[3] == start:
            result[-1] = (voice, pitch, last[2], end)
        else:
            result.append((voice, pitch, start, end))
    return result


def _round_half_up(quarters, steps_per_quarter):
    return math.floor(quarters * steps_per_quarter + Fraction(1, 2))


def test_registered():
    assert ENCODERS.get("grid") is GridEncoder


def test_fields():
    assert [(f.name, f.vocab_size) for f in GridEncoder().token_fields] == [
        ("pitch", 90)]
    held = GridEncoder(min_pitch=36, max_pitch=84, held_field=True)
    assert [(f.name, f.vocab_size) for f in held.token_fields] == [
        ("pitch", 51), ("articulation", 3)]
    # END is the last id of every field.
    assert [(f.name, f.vocab_size) for f in held.fields] == [
        ("pitch", 52), ("articulation", 4)]
    assert held.end_ids == (51, 3)
    assert GridEncoder(end_marker=False).end_ids is None


def test_encode_writes_pitch_rest_and_articulation():
    piece = _piece([(0, 60, 0, Fraction(1, 2)), (0, 60, Fraction(1, 2), 1),
                    (1, 48, Fraction(1, 4), 1)], total_quarters=Fraction(5, 4))
    events = GridEncoder(num_voices=2, held_field=True).encode(piece)
    c4, c3 = FIRST_PITCH_ID + 60 - 21, FIRST_PITCH_ID + 48 - 21
    np.testing.assert_array_equal(events[:, 0, 0],
                                  [c4, c4, c4, c4, REST_ID])
    np.testing.assert_array_equal(events[:, 0, 1], [
        STRUCK_ID, HELD_ID, STRUCK_ID, HELD_ID, HELD_ID])
    np.testing.assert_array_equal(events[:, 1, 0],
                                  [REST_ID, c3, c3, c3, REST_ID])
    np.testing.assert_array_equal(events[:, 1, 1], [
        HELD_ID, STRUCK_ID, HELD_ID, HELD_ID, HELD_ID])


@st.composite
def grid_pieces(draw):
    """Monophonic voices whose onsets and durations are whole grid steps."""
    steps_per_quarter = draw(st.sampled_from([1, 2, 3, 4, 8]))
    num_voices = draw(st.integers(1, 4))
    notes = []
    for voice in range(num_voices):
        cursor = 0
        for gap, length, pitch in draw(st.lists(
                st.tuples(st.integers(0, 3), st.integers(1, 9),
                          st.integers(21, 108)), max_size=12)):
            start = cursor + gap
            notes.append((voice, pitch,
                          Fraction(start, steps_per_quarter),
                          Fraction(start + length, steps_per_quarter)))
            cursor = start + length
    hypothesis.assume(notes)
    trailing = Fraction(draw(st.integers(0, 3)), steps_per_quarter)
    qpm = draw(st.sampled_from([60.0, 97.0, 120.0]))
    end = max(n[3] for n in notes) + trailing
    return (steps_per_quarter, num_voices, qpm, end,
            _piece(notes, qpm, total_quarters=end))


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(grid_pieces())
def test_grid_aligned_pieces_round_trip(example):
    steps_per_quarter, num_voices, qpm, end, piece = example
    original = _quarter_notes(piece)
    for held_field, expected in ((True, original), (False,
                                                    _merged(original))):
        encoder = GridEncoder(num_voices=num_voices,
                              steps_per_quarter=steps_per_quarter,
                              held_field=held_field)
        events = encoder.encode(piece)
        assert len(events) == end * steps_per_quarter
        decoded = encoder.decode(events, qpm=qpm)
        assert _quarter_notes(decoded) == expected
        assert decoded.total_time == pytest.approx(piece.total_time)
        np.testing.assert_array_equal(encoder.encode(decoded), events)
        assert int(encoder.note_starts(events).sum()) == len(expected)
        assert not encoder.adjustments[MOVED]
        assert not encoder.adjustments[DROPPED]


def test_chorales_round_trip_or_follow_the_quantization_policy(bach):
    exact = GridEncoder(held_field=True)
    merged = GridEncoder()
    on_grid = off_grid = 0
    moved = dropped = 0
    for piece in bach.pieces:
        original = _quarter_notes(piece)
        if all((q * 4).denominator == 1 for note in original
               for q in note[2:]):
            on_grid += 1
            expected = original
        else:
            off_grid += 1
            expected = []
            for voice, pitch, start, end in original:
                first, last = (_round_half_up(start, 4),
                               _round_half_up(end, 4))
                moved += (first != start * 4 or last != end * 4)
                if last > first:
                    expected.append((voice, pitch, Fraction(first, 4),
                                     Fraction(last, 4)))
                else:
                    dropped += 1
        assert _quarter_notes(exact.decode(exact.encode(piece))) == expected, (
            piece.id)
        assert _quarter_notes(merged.decode(merged.encode(piece))) == (
            _merged(expected)), piece.id
    # A few chorales hold 32nd notes (1/8 quarter), off a 16th grid.
    assert on_grid >= 390 and off_grid >= 1
    assert dropped >= 1
    assert exact.adjustments[MOVED] == moved
    assert exact.adjustments[DROPPED] == dropped
    assert merged.adjustments[MERGED] > 0 and not exact.adjustments[MERGED]


def test_sub_grid_notes_are_rounded_and_empty_ones_dropped():
    # A dotted 16th and a 32nd, a 16th-note triplet, and a lone 32nd.
    piece = _piece([(0, 60, 0, Fraction(3, 8)),
                    (0, 62, Fraction(3, 8), Fraction(1, 2)),
                    (0, 64, 1, Fraction(7, 6)),
                    (0, 65, Fraction(7, 6), Fraction(8, 6)),
                    (0, 67, Fraction(8, 6), Fraction(3, 2)),
                    (1, 48, 0, Fraction(1, 8))])
    encoder = GridEncoder(num_voices=2, held_field=True)
    decoded = encoder.decode(encoder.encode(piece))
    assert _quarter_notes(decoded) == [
        (0, 60, 0, Fraction(1, 2)),
        (0, 64, 1, Fraction(5, 4)),
        (0, 67, Fraction(5, 4), Fraction(3, 2)),
        (1, 48, 0, Fraction(1, 4))]
    # The 32nd after the dot and the triplet's middle note.
    assert encoder.adjustments[DROPPED] == 2
    assert encoder.adjustments[MOVED] == 6
    assert "2 notes shorter than a step dropped" in encoder.describe()


@pytest.mark.parametrize("notes, reason", [
    ([], "no notes"),
    ([(0, 60, 0, Fraction(1, 16))], "no note of the piece lasts a grid step"),
    ([(0, 20, 0, 1)], "outside the encoder's range"),
    ([(4, 60, 0, 1)], r"voice \(instrument\) 4"),
    ([(0, 60, 0, 1), (0, 62, Fraction(1, 2), 2)], "two notes at once"),
])
def test_unusable_pieces(notes, reason):
    with pytest.raises(UnusableSequenceError, match=reason):
        GridEncoder().encode(_piece(notes))


def test_note_starts_and_decoding_of_repeats():
    c4 = FIRST_PITCH_ID + 60 - 21
    d4 = c4 + 2
    pitch = np.array([c4, c4, REST_ID, c4, d4, d4, 0, 500])
    plain = GridEncoder(num_voices=1)
    events = pitch[:, None, None]
    np.testing.assert_array_equal(
        plain.note_starts(events)[:, 0],
        [True, False, False, True, True, False, False, False])
    assert [(n.pitch, n.start_time, n.end_time)
            for n in plain.decode(events, qpm=60).notes] == [
                (60, 0.0, 0.5), (60, 0.75, 1.0), (62, 1.0, 1.5)]

    held = GridEncoder(num_voices=1, held_field=True)
    articulation = np.array([STRUCK_ID, STRUCK_ID, HELD_ID, HELD_ID, 0,
                             STRUCK_ID, STRUCK_ID, 7])
    events = np.stack([pitch, articulation], axis=-1)[:, None, :]
    np.testing.assert_array_equal(
        held.note_starts(events)[:, 0],
        [True, True, False, True, True, True, False, False])
    assert [(n.pitch, n.start_time, n.end_time)
            for n in held.decode(events, qpm=60).notes] == [
                (60, 0.0, 0.25), (60, 0.25, 0.5), (60, 0.75, 1.0),
                (62, 1.0, 1.25), (62, 1.25, 1.5)]
    # Batched arrays are accepted as well.
    assert held.note_starts(np.stack([events, events])).shape == (2, 8, 1)


def test_event_start_times_are_steps():
    encoder = GridEncoder(steps_per_quarter=2)
    events = np.ones((5, 4, 1), np.int32)
    np.testing.assert_allclose(encoder.event_start_times(events, qpm=60),
                               [0, 0.5, 1, 1.5, 2, 2.5])


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(
    held_field=st.booleans(),
    ids=hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2,
                                               max_side=40),
                   elements=st.integers(-5, 120)))
def test_any_ids_decode_into_monophonic_voices(held_field, ids):
    encoder = GridEncoder(num_voices=3, held_field=held_field)
    num_fields = len(encoder.fields)
    num_steps = ids.size // (3 * num_fields)
    events = ids.reshape(-1)[:num_steps * 3 * num_fields].reshape(
        num_steps, 3, num_fields)
    decoded = encoder.decode(events, qpm=90.0)
    events = encoder.until_end(events)  # Decoding stops at END.
    num_steps = len(events)
    step = 60.0 / 90.0 / 4
    assert decoded.total_time == pytest.approx(num_steps * step)
    assert len(decoded.notes) == int(encoder.note_starts(events).sum())
    for voice in range(3):
        notes = sorted((n.start_time, n.end_time)
                       for n in decoded.notes if n.instrument == voice)
        for start, end in notes:
            assert 0 <= start < end <= decoded.total_time + 1e-9
        for (_, end), (start, _) in zip(notes, notes[1:]):
            assert end <= start + 1e-9
    assert all(21 <= n.pitch <= 108 for n in decoded.notes)
    assert len(encoder.event_start_times(events)) == num_steps + 1
    if decoded.notes:
        # What decoding made is on the grid, so it encodes back to itself.
        again = encoder.encode(decoded)
        assert encoder.decode(again, qpm=90.0) == decoded


def test_decode_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="expected"):
        GridEncoder().decode(np.ones((3, 4, 2), np.int32))


def test_state_round_trips_through_json():
    trained = GridEncoder(num_voices=3, steps_per_quarter=2, min_pitch=36,
                          max_pitch=84, held_field=True)
    restored = GridEncoder()
    restored.set_state(json.loads(json.dumps(trained.get_state())))
    assert restored.get_state() == trained.get_state()
    assert restored.fields == trained.fields
    assert restored.num_voices == 3
    piece = _piece([(0, 60, 0, 1), (2, 48, Fraction(1, 2), 2)])
    np.testing.assert_array_equal(restored.encode(piece),
                                  trained.encode(piece))
    with pytest.raises(ValueError, match="lacks"):
        restored.set_state({"num_voices": 4})
    with pytest.raises(ValueError, match=r"encoders\.grid\.max_pitch must be a whole "
                       r"number >= 90 and <= 127, got 84\."):
        restored.set_state(dict(trained.get_state(), min_pitch=90))


def test_voices_are_parts_is_kept_with_the_state():
    slots = GridEncoder(voices_are_parts=False)
    assert slots.get_state()["voices_are_parts"] is False
    restored = GridEncoder()
    restored.set_state(slots.get_state())
    assert not restored.voices_are_parts
    # A state saved before the setting existed keeps the configured value.
    older = {k: v for k, v in slots.get_state().items()
             if k != "voices_are_parts"}
    configured = GridEncoder(voices_are_parts=False)
    configured.set_state(older)
    assert not configured.voices_are_parts
    assert not GridEncoder(num_voices=1).voices_are_parts
