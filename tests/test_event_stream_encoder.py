"""The event-stream encoder: any grid-aligned polyphony round-trips."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st
from note_seq.protobuf import music_pb2

from polyframe import plugin_loading, registries
from polyframe.data.corpus import UnusableSequenceError

plugin_loading.load_plugins()
STEP = 0.125  # a 16th note at 120 qpm


def make_encoder(**kwargs):
    return registries.ENCODERS.get("event_stream")(**kwargs)


def sequence_of(notes, total_steps=0):
    sequence = music_pb2.NoteSequence(ticks_per_quarter=220)
    sequence.tempos.add(qpm=120)
    for start, end, pitch, voice in notes:
        sequence.notes.add(pitch=pitch, start_time=start * STEP,
                           end_time=end * STEP, instrument=voice, velocity=80)
    sequence.total_time = max([total_steps] + [n[1] for n in notes]) * STEP
    return sequence


def note_set(sequence):
    return sorted((round(n.start_time / STEP), round(n.end_time / STEP),
                   n.pitch) for n in sequence.notes)


@st.composite
def polyphony(draw):
    """Grid notes with any overlaps between pitches, none within a pitch."""
    notes = []
    for pitch in draw(st.sets(st.integers(21, 108), min_size=1, max_size=6)):
        position = draw(st.integers(0, 4))
        for _ in range(draw(st.integers(1, 4))):
            length = draw(st.integers(1, 6))
            notes.append((position, position + length, pitch,
                          draw(st.integers(0, 3))))
            position += length + draw(st.integers(0, 3))
    return notes


@settings(max_examples=150, deadline=None)
@given(notes=polyphony(), trailing=st.integers(0, 5))
def test_round_trip_keeps_every_note_and_the_length(notes, trailing):
    encoder = make_encoder()
    last = max(n[1] for n in notes)
    sequence = sequence_of(notes, total_steps=last + trailing)
    events = encoder.encode(sequence)
    decoded = encoder.decode(events)
    assert note_set(decoded) == note_set(sequence)
    assert decoded.total_time == pytest.approx(sequence.total_time)
    assert {n.instrument for n in decoded.notes} == {0}
    assert encoder.note_starts(events).sum() == len(notes)
    times = encoder.event_start_times(events)
    assert len(times) == len(events) + 1
    assert times[-1] == pytest.approx(sequence.total_time)


def test_repeated_note_is_struck_again_and_overlaps_merge():
    encoder = make_encoder()
    repeated = sequence_of([(0, 2, 60, 0), (2, 4, 60, 0)])
    assert note_set(encoder.decode(encoder.encode(repeated))) == [
        (0, 2, 60), (2, 4, 60)]
    overlapping = sequence_of([(0, 3, 60, 0), (2, 5, 60, 1)])
    assert note_set(encoder.decode(encoder.encode(overlapping))) == [
        (0, 5, 60)]
    assert encoder.adjustments["overlapping notes of one pitch merged"] == 1


def test_tokens_follow_the_documented_layout():
    encoder = make_encoder(min_pitch=60, max_pitch=61)
    events = encoder.encode(sequence_of([(0, 2, 61, 0), (1, 2, 60, 1)]))
    # 0 START, 1 END, 2 STEP_END, 3-4 NEW 60-61, 5-6 CONTINUED 60-61.
    assert events.reshape(-1).tolist() == [4, 2, 6, 3, 2, 1]


def test_end_inside_a_step_finishes_that_step():
    encoder = make_encoder(min_pitch=60, max_pitch=61)
    # Step 0 sounds 60 and 61; step 1 names only 60 before END, so 61 ends
    # with step 0 and 60 sounds through step 1.
    events = np.array([4, 3, 2, 5, 1], np.int32).reshape(-1, 1, 1)
    decoded = encoder.decode(events)
    assert note_set(decoded) == [(0, 1, 61), (0, 2, 60)]
    assert decoded.total_time == pytest.approx(2 * STEP)
    # END right after a step end adds no step.
    events = np.array([4, 3, 2, 1], np.int32).reshape(-1, 1, 1)
    assert note_set(encoder.decode(events)) == [(0, 1, 60), (0, 1, 61)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 180), max_size=60))
def test_any_ids_decode_to_valid_notes(ids):
    encoder = make_encoder()
    decoded = encoder.decode(np.asarray(ids, np.int32).reshape(-1, 1, 1))
    for note in decoded.notes:
        assert note.end_time > note.start_time >= 0
        assert 21 <= note.pitch <= 108
        assert note.end_time <= decoded.total_time + 1e-9


def test_out_of_range_pitch_is_unusable():
    with pytest.raises(UnusableSequenceError, match="outside"):
        make_encoder().encode(sequence_of([(0, 1, 10, 0)]))


def test_state_round_trip():
    encoder = make_encoder(steps_per_quarter=2, min_pitch=30, max_pitch=90)
    restored = make_encoder()
    restored.set_state(encoder.get_state())
    assert restored.fields == encoder.fields
    assert restored.steps_per_quarter == 2


@settings(max_examples=40, deadline=None)
@given(notes=polyphony())
def test_the_clock_keeps_the_time_the_decoder_gives(notes):
    encoder = make_encoder()
    events = encoder.encode(sequence_of(notes))
    clock = encoder.clock()
    assert clock.ticks_per_quarter == 4 and not clock.per_voice
    state = clock.initial_state(1)
    ticks = [int(clock.time(state)[0])]
    for event in events:
        state = clock.advance(state, tf.constant(event[None], tf.int32))
        ticks.append(int(clock.time(state)[0]))
    # Seconds at 120 qpm: a tick (a 16th) is STEP seconds.
    np.testing.assert_allclose(np.array(ticks) * STEP,
                               encoder.event_start_times(events))


def test_the_clock_cannot_bound_events_that_take_no_time():
    with pytest.raises(ValueError, match="events may take no time"):
        make_encoder().clock().events_until(8)
