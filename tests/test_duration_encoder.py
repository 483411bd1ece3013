"""The duration encoder: exact round trips on the real chorales, and totality."""

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
from polyframe.errors import UserFacingError
from polyframe.registries import ENCODERS
from polyframe_plugins.encoders.duration import (FIRST_DURATION_ID,
                                                 FIRST_PITCH_ID, REST_ID,
                                                 DurationEncoder)

Fraction = fractions.Fraction
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def encoder(bach):
    """An encoder fitted on every kept chorale, so every piece is exact."""
    fitted = DurationEncoder()
    fitted.fit(bach.pieces)
    return fitted


def _notes(sequence):
    return sorted((n.instrument, n.pitch, n.start_time, n.end_time)
                  for n in sequence.notes)


def _assert_same_notes(original, decoded):
    expected, actual = _notes(original), _notes(decoded)
    assert len(expected) == len(actual)
    for want, got in zip(expected, actual):
        assert want[:2] == got[:2]
        assert abs(want[2] - got[2]) < TOLERANCE
        assert abs(want[3] - got[3]) < TOLERANCE


def _piece(notes, qpm=120.0):
    """Returns a NoteSequence of `(voice, pitch, start, end)` in quarters."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=qpm)
    for voice, pitch, start, end in notes:
        sequence.notes.add(instrument=voice, pitch=pitch, velocity=80,
                           start_time=start * 60 / qpm,
                           end_time=end * 60 / qpm)
    return sequence


def test_registered():
    assert ENCODERS.get("duration") is DurationEncoder


def test_every_chorale_round_trips_exactly(bach, encoder):
    for piece in bach.pieces:
        events = encoder.encode(piece)
        assert events.dtype == np.int32
        assert events.shape[1:] == (4, 2)
        decoded = encoder.decode(events)
        _assert_same_notes(piece, decoded)
        assert abs(decoded.total_time - piece.total_time) < TOLERANCE
        order = [(n.start_time, n.instrument) for n in decoded.notes]
        assert order == sorted(order)
        assert all(n.velocity == 80 for n in decoded.notes)
        assert [t.qpm for t in decoded.tempos] == [120.0]
    assert encoder.num_unseen_durations == 0


def test_decode_at_another_tempo_scales_time(bach, encoder):
    piece = bach.pieces[0]
    decoded = encoder.decode(encoder.encode(piece), qpm=60.0)
    assert abs(decoded.total_time - 2 * piece.total_time) < TOLERANCE
    assert decoded.tempos[0].qpm == 60.0


def test_note_starts_and_event_start_times_agree_with_the_notes(
        bach, encoder):
    for piece in bach.pieces[:40]:
        events = encoder.encode(piece)
        starts = encoder.note_starts(events)
        times = encoder.event_start_times(events)
        assert starts.shape == events.shape[:2]
        assert starts.sum() == len(piece.notes)
        assert len(times) == len(events) + 1
        assert np.all(np.diff(times) > 0)
        assert abs(times[-1] - piece.total_time) < TOLERANCE
        onsets = {(n.instrument, round(n.start_time, 6)) for n in piece.notes}
        marked = {(voice, round(times[event], 6))
                  for event, voice in zip(*np.nonzero(starts))}
        assert marked == onsets
        segment_starts = events[..., 0] != 2  # Not HOLD: something starts.
        assert segment_starts.any(axis=1).all()


def test_tempo_changes_are_followed(encoder):
    piece = _piece([(v, 60 + v, 0, 4) for v in range(4)])
    # Quarter notes at 60 qpm for 2 s, then at 240 qpm.
    piece.tempos[0].qpm = 60
    piece.tempos.add(time=2.0, qpm=240)
    for note in piece.notes:
        note.end_time = 2.5
    events = encoder.encode(piece)
    quarters = TempoMap(piece).to_quarters(piece.notes[0].end_time)
    assert quarters == 4
    assert encoder.durations[events[0, 0, 1] - FIRST_DURATION_ID] == 4


def test_unseen_durations_map_to_the_nearest_in_log_space(bach, encoder):
    held_out = Fraction(3, 4)
    held_out_id = encoder.durations.index(held_out) + FIRST_DURATION_ID
    with_it, without = [], []
    for piece in bach.pieces:
        has_it = (encoder.encode(piece)[..., 1] == held_out_id).any()
        (with_it if has_it else without).append(piece)
    assert with_it and without
    partial = DurationEncoder()
    partial.fit(without)
    assert held_out not in partial.durations
    below = max(d for d in partial.durations if d < held_out)
    above = min(d for d in partial.durations if d > held_out)
    nearest = min((below, above),
                  key=lambda d: abs(math.log(d) - math.log(held_out)))
    assert nearest == 1  # log(1/(3/4)) < log((3/4)/(1/2))

    piece = with_it[0]
    expected = encoder.encode(piece)
    events = partial.encode(piece)
    replaced = expected[..., 1] == held_out_id
    assert partial.num_unseen_durations == replaced.sum()
    assert partial.unseen_durations == {held_out: replaced.sum()}
    assert set(events[replaced][:, 1]) == {
        partial.durations.index(nearest) + FIRST_DURATION_ID}
    assert (events[..., 0] == expected[..., 0]).all()
    partial.decode(events)  # Lossy, but it decodes.


def test_state_round_trips_through_json(encoder, bach):
    state = json.loads(json.dumps(encoder.get_state()))
    assert "3/4" in state["durations"] and "1/1" in state["durations"]
    restored = DurationEncoder(min_pitch=40, max_pitch=50)
    restored.set_state(state)
    assert restored.fields == encoder.fields
    assert restored.durations == encoder.durations
    piece = bach.pieces[1]
    np.testing.assert_array_equal(restored.encode(piece),
                                  encoder.encode(piece))
    assert restored.get_state() == encoder.get_state()


def test_fields_and_describe(encoder):
    pitch, duration = encoder.token_fields
    assert (pitch.name, pitch.vocab_size) == ("pitch", 3 + 108 - 21 + 1)
    assert (duration.name, duration.vocab_size) == (
        "duration", 2 + len(encoder.durations))
    assert list(encoder.durations) == sorted(encoder.durations)
    # END is one more id in every field, the last.
    assert [f.vocab_size for f in encoder.fields] == [92, duration.vocab_size
                                                      + 1]
    assert encoder.end_ids == (91, duration.vocab_size)
    assert "pitch=92" in encoder.describe()


def test_end_marker_is_saved_and_absent_from_older_states(encoder):
    state = encoder.get_state()
    assert state["end_marker"] is True
    older = {k: v for k, v in state.items() if k != "end_marker"}
    restored = type(encoder)()
    restored.set_state(older)
    assert restored.end_ids is None
    assert [f.vocab_size for f in restored.fields] == [
        f.vocab_size for f in encoder.token_fields]
    # END decodes as nothing: an END row at the end changes no note.
    piece = encoder.encode(_piece([(0, 72, 0, 1), (1, 60, 0, 2)]))
    with_end = np.concatenate([piece, encoder.end_row()[None]])
    assert encoder.decode(with_end).notes == encoder.decode(piece).notes


def test_voices_moving_at_different_times_keep_exact_timing(encoder):
    notes = [(0, 72, 0, 1), (0, 74, 1, 1.5), (0, 76, 1.5, 3),
             (1, 67, 0, 3),
             (2, 60, 0.5, 2),  # Starts after a rest, ends before the others.
             (3, 48, 0, 0.75), (3, 50, 0.75, 1), (3, 52, 1, 3)]
    piece = _piece(notes)
    events = encoder.encode(piece)
    times = encoder.event_start_times(events) * 2  # In quarters.
    np.testing.assert_allclose(times, [0, 0.5, 0.75, 1, 1.5, 2, 3])
    assert events[0, 2, 0] == REST_ID
    assert events[5, 2, 0] == REST_ID  # The tenor's closing rest.
    _assert_same_notes(piece, encoder.decode(events))
    assert encoder.num_unseen_durations == 0


def test_unrepresentable_pieces_are_unusable(encoder):
    with pytest.raises(UnusableSequenceError, match="outside"):
        encoder.encode(_piece([(0, 110, 0, 1)]))
    with pytest.raises(UnusableSequenceError, match="two notes at once"):
        encoder.encode(_piece([(1, 60, 0, 2), (1, 62, 1, 3)]))
    with pytest.raises(UnusableSequenceError, match="voice"):
        encoder.encode(_piece([(4, 60, 0, 1)]))
    with pytest.raises(UnusableSequenceError, match="no notes"):
        encoder.encode(_piece([]))
    with pytest.raises(RuntimeError, match="fit"):
        DurationEncoder().encode(_piece([(0, 60, 0, 1)]))
    with pytest.raises(UserFacingError, match="training split"):
        DurationEncoder().fit([_piece([(0, 110, 0, 1)])])


def test_decode_rules_for_model_output(encoder):
    quarter = encoder.durations.index(1) + FIRST_DURATION_ID
    eighth = encoder.durations.index(Fraction(1, 2)) + FIRST_DURATION_ID
    c4, e4 = FIRST_PITCH_ID + 60 - 21, FIRST_PITCH_ID + 64 - 21
    events = np.full((3, 4, 2), [2, 1])  # HOLD everywhere.
    events[0, 0] = [c4, quarter]  # Soprano: a quarter, cut short by...
    events[1, 0] = [e4, eighth]  # ...a new note half a quarter later.
    events[0, 1] = [e4, eighth]  # Alto: held past its end, then a rest.
    events[2, 1] = [REST_ID, quarter]
    events[0, 2] = [e4, 0]  # Tenor: START as duration: no time of its own.
    # Time advances by the smallest remaining time: 1/2 after event 0 and
    # 1/2 after event 1; after event 2 no voice has time left except the
    # alto's rest.
    times = encoder.event_start_times(events) * 2  # In quarters.
    np.testing.assert_allclose(times, [0, 0.5, 1, 2])
    decoded = _notes(encoder.decode(events))
    assert [note[:2] for note in decoded] == [(0, 60), (0, 64), (1, 64),
                                              (2, 64)]
    np.testing.assert_allclose([note[2:] for note in decoded],
                               np.array([[0, 0.5], [0.5, 2], [0, 1], [0, 2]]) /
                               2)

    events[2, 1] = [2, 1]  # Nobody has time left: the smallest duration.
    smallest = float(encoder.durations[0])
    np.testing.assert_allclose(encoder.event_start_times(events) * 2,
                               [0, 0.5, 1, 1 + smallest])


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(data=st.data())
def test_decode_accepts_any_ids(encoder, data):
    num_events = data.draw(st.integers(0, 24))
    high = max(f.vocab_size for f in encoder.fields) + 3
    events = data.draw(hnp.arrays(np.int64, (num_events, 4, 2),
                                  elements=st.integers(-3, high)))
    qpm = data.draw(st.sampled_from([60.0, 120.0, 97.5]))
    decoded = encoder.decode(events, qpm=qpm)
    # Decoding stops at the first END event.
    kept = encoder.until_end(events)
    assert len(kept) == next((row for row in range(num_events)
                              if events[row, 0, 0] == encoder.end_ids[0]),
                             num_events)
    times = encoder.event_start_times(kept, qpm=qpm)
    assert len(times) == len(kept) + 1 and times[0] == 0
    assert np.all(np.diff(times) > 0)
    assert decoded.total_time == pytest.approx(times[-1])
    assert len(decoded.notes) <= encoder.note_starts(kept).sum()
    for note in decoded.notes:
        assert 0 <= note.instrument < 4
        assert 21 <= note.pitch <= 108
        assert 0 <= note.start_time < note.end_time <= times[-1] + 1e-9


DURATIONS = [Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3),
             Fraction(3, 4), Fraction(1), Fraction(5, 12), Fraction(3, 2),
             Fraction(2), Fraction(3)]


@st.composite
def voiced_pieces(draw):
    """1-4 monophonic voices of notes and gaps with tuplet-friendly lengths,
    at a random tempo."""
    notes = []
    for voice in range(draw(st.integers(1, 4))):
        position = draw(st.sampled_from([Fraction(0)] + DURATIONS[:3]))
        for _ in range(draw(st.integers(1, 8))):
            length = draw(st.sampled_from(DURATIONS))
            notes.append((voice, draw(st.integers(21, 108)), position,
                          position + length))
            position += length + draw(st.sampled_from(
                [Fraction(0)] * 3 + DURATIONS[:4]))
    return notes, draw(st.sampled_from([60.0, 96.0, 120.0, 137.0]))


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(voiced_pieces())
def test_random_voiced_pieces_round_trip_exactly(example):
    notes, qpm = example
    sequence = _piece(notes, qpm=qpm)
    fitted = DurationEncoder()
    fitted.fit([sequence])
    events = fitted.encode(sequence)
    decoded = fitted.decode(events, qpm=qpm)
    _assert_same_notes(sequence, decoded)
    assert fitted.note_starts(events).sum() == len(notes)
    assert fitted.num_unseen_durations == 0
