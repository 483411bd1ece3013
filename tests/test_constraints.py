"""The constraint chain inside the real compiled loop, on the real duration
encoder: START never drawn, END as a whole event that stops a sample, given
voices forced from the running event time, voice ranges kept."""

import fractions
import functools

import numpy as np
import pytest
import tensorflow as tf
from note_seq.protobuf import music_pb2

from polyframe import given_plan, plugin_loading, registries
from polyframe.encoding import START_ID
from polyframe.errors import UserFacingError
from polyframe.generation import Generator
from polyframe_plugins.constraints import basic
from polyframe_plugins.encoders.event_stream import STEP_END_ID, EventStreamEncoder
from polyframe_plugins.encoders.duration import (DURATION_HOLD_ID,
                                                 PITCH_HOLD_ID)

plugin_loading.load_plugins()
Fraction = fractions.Fraction


@pytest.fixture(scope="module")
def encoder():
    encoder = registries.ENCODERS.get("duration")()
    encoder.set_state({"min_pitch": 36, "max_pitch": 84, "end_marker": True,
                       "durations": ["1/2", "1", "3/2", "2"]})
    return encoder


@pytest.fixture(scope="module")
def model(encoder):
    tf.random.set_seed(1)
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=8)
    head = functools.partial(registries.HEADS.get("autoregressive"),
                             hidden_size=8)
    return registries.MODELS.get("event_rnn")(
        encoder.fields, encoder.num_voices, cell, head,
        default_embedding_size=4)


def generate(model, encoder, constraints, max_events=12, batch=3, seed=0):
    sampler = registries.SAMPLERS.get("temperature")(temperature=1.0)
    generator = Generator(model, sampler, constraints, encoder.clock(),
                          encoder.end_ids[0])
    primers = np.zeros((batch, 1, 4, 2), np.int32)
    return generator(primers, max_events, seed)


def melody(*notes):
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=120)
    for pitch, start, end in notes:
        sequence.notes.add(pitch=pitch, start_time=start / 2,
                           end_time=end / 2, velocity=80, instrument=0)
    return sequence


def test_start_is_never_drawn_with_the_rule_and_is_without(model, encoder):
    ruled = generate(model, encoder, [basic.ForbidStart(encoder)],
                     max_events=30)
    assert (ruled.events != START_ID).all()
    # An untrained model gives START some probability: without the rule it
    # comes up, so the rule is what keeps it out.
    free = generate(model, encoder, [], max_events=30)
    assert (free.events == START_ID).any()


def test_end_is_a_whole_event_and_stops_the_sample(model, encoder):
    chain = [basic.ForbidStart(encoder), basic.EndRule(encoder)]
    result = generate(model, encoder, chain, max_events=60, batch=8)
    end = np.asarray(encoder.end_ids)
    for index in range(8):
        events = result.events[index]
        rows = np.flatnonzero((events[:, 0, 0] == end[0]))
        if result.ended[index]:
            first = rows[0]
            assert first == result.lengths[index]
            assert (events[first] == end).all()  # every token of it
        else:
            assert result.lengths[index] == 60 and not len(rows)
        # Before the end, no voice drew END in any field.
        body = result.piece(index)
        assert not (body == end).any()
    assert result.ended.any()


def test_given_voice_is_forced_and_the_piece_ends_with_it(model, encoder):
    sequence = melody((72, 0, 1), (74, 1, 2), (76, 2, 4), (72, 5, 6))
    plan = given_plan.plan_given_voices(encoder, sequence, (0,), 7,
                                        force_end=True)
    clock = encoder.clock()
    assert plan.end_tick == clock.to_ticks(7)
    chain = [basic.ForbidStart(encoder), basic.EndRule(encoder),
             basic.GivenVoices(encoder, plan)]
    result = generate(model, encoder, chain, max_events=40)
    assert result.ended.all()
    for index in range(3):
        decoded = encoder.decode(result.piece(index), qpm=60.0)
        soprano = [(n.pitch, n.start_time, n.end_time)
                   for n in decoded.notes if n.instrument == 0]
        assert soprano == [(72, 0, 1), (74, 1, 2), (76, 2, 4), (72, 5, 6)]
        assert decoded.total_time == 7.0  # The final rest is kept.
    # The loop stopped when every sample had ended, not at max_events.
    assert result.events.shape[1] == max(result.lengths) + 1


def test_between_given_notes_the_voice_holds(encoder):
    plan = given_plan.plan_given_voices(
        encoder, melody((60, 0, 2), (62, 2, 3)), (0,), 3, force_end=False)
    np.testing.assert_array_equal(plan.continuation,
                                  [PITCH_HOLD_ID, DURATION_HOLD_ID])
    assert list(plan.ticks) == [0, encoder.clock().to_ticks(2)]


def test_a_duration_without_a_token_names_the_note(encoder):
    with pytest.raises(UserFacingError) as raised:
        given_plan.plan_given_voices(
            encoder, melody((60, 0, 1), (62, 1, 1.75)), (0,), 1.75,
            force_end=True)
    assert "melody note 2" in str(raised.value)
    assert "D4 at quarter 1" in str(raised.value)


def test_voice_range_keeps_each_voice_in_its_range(model, encoder):
    ranges = ((0, (60, 72)), (1, (55, 67)), (2, (48, 60)), (3, (40, 52)))
    chain = [basic.ForbidStart(encoder), basic.EndRule(encoder),
             basic.VoiceRange(encoder, ranges)]
    result = generate(model, encoder, chain, max_events=40, batch=4)
    for index in range(4):
        decoded = encoder.decode(result.piece(index))
        for note in decoded.notes:
            low, high = dict(ranges)[note.instrument]
            assert low <= note.pitch <= high
    free = generate(model, encoder, [basic.ForbidStart(encoder)],
                    max_events=40, batch=4)
    outside = [n for i in range(4)
               for n in encoder.decode(free.piece(i)).notes
               if not dict(ranges)[n.instrument][0] <= n.pitch <=
               dict(ranges)[n.instrument][1]]
    assert outside  # Without the constraint an untrained model strays.


def test_voice_range_rejects_a_range_outside_midi(encoder):
    with pytest.raises(ValueError, match=r"constraints\.voice_range\.ranges\[0\] high "
                       r"must be a whole number >= 50 and <= 127, got 130\."):
        basic.VoiceRange(encoder, ((0, (50, 130)),))


@pytest.mark.parametrize("odds", [1.0, 4.0])
def test_end_comes_at_the_models_rate_even_at_a_low_temperature(model,
                                                                 encoder,
                                                                 odds):
    rows = 2000
    primers = np.zeros((rows, 1, 4, 2), np.int32)
    state = model.start(tf.constant(primers[:1]), {}, 1)
    logits = model.voice_logits(state, tf.zeros([1, 4, 2], tf.int32), 0)[0]
    logits = basic.ForbidStart(encoder)(logits, None)
    p_model = float(tf.nn.softmax(logits)[0, encoder.end_ids[0]])
    assert 0.001 < p_model < 0.2
    p_end = odds * p_model / (1.0 - p_model + odds * p_model)
    cold = registries.SAMPLERS.get("temperature")(temperature=0.05)
    chain = [basic.ForbidStart(encoder), basic.EndRule(encoder),
             basic.EndAtModelRate(encoder, odds=odds)]
    generator = Generator(model, cold, chain, encoder.clock(),
                          encoder.end_ids[0])
    ended = generator(primers, 1, 3).ended.mean()
    # Every row decides END on its own with the model's probability (its
    # odds scaled by `odds`), whatever the temperature: a binomial share,
    # within 4 sigma.
    sigma = (p_end * (1 - p_end) / rows) ** 0.5
    assert abs(ended - p_end) < 4 * sigma
    if odds != 1.0:  # The scaled rate is told apart from the model's own.
        assert abs(ended - p_model) > 4 * sigma


def test_no_piece_ends_before_min_quarters(model, encoder):
    # Odds so high that END comes at the first event the minimum allows.
    chain = [basic.ForbidStart(encoder), basic.EndRule(encoder),
             basic.EndAtModelRate(encoder, odds=1e9, min_quarters=3)]
    result = generate(model, encoder, chain, max_events=40, batch=4)
    assert result.ended.all()
    for index in range(4):
        starts = encoder.event_start_times(result.piece(index), qpm=60.0)
        # The last start is END's: the first event at or after 3 quarters.
        assert starts[-1] >= 3 and starts[-2] < 3, starts
    unlimited = generate(model, encoder, chain[:2] + [
        basic.EndAtModelRate(encoder, odds=1e9)], max_events=40, batch=4)
    assert unlimited.ended.all() and not unlimited.lengths.any()


class ClocklessStream(EventStreamEncoder):
    """An encoder with END but no clock (a third-party encoder may keep no
    time)."""

    def clock(self):
        return None


def test_min_quarters_needs_an_encoder_that_keeps_time():
    with pytest.raises(UserFacingError, match=r"constraints\.end_at_model_rate: "
                       r"min_quarters needs an encoder that keeps time"):
        basic.EndAtModelRate(ClocklessStream(), min_quarters=4)


def test_a_note_stream_ends_no_sooner_than_min_quarters():
    encoder = EventStreamEncoder(steps_per_quarter=2, min_pitch=60,
                                 max_pitch=64)
    tf.random.set_seed(2)
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=8)
    head = functools.partial(registries.HEADS.get("autoregressive"),
                             hidden_size=8)
    model = registries.MODELS.get("event_rnn")(
        encoder.fields, encoder.num_voices, cell, head,
        default_embedding_size=4)
    sampler = registries.SAMPLERS.get("temperature")(temperature=1.0)
    # Odds so high that END comes at the first token the minimum allows.
    chain = [basic.ForbidStart(encoder),
             basic.EndAtModelRate(encoder, odds=1e9, min_quarters=3)]
    generator = Generator(model, sampler, chain, encoder.clock(),
                          encoder.end_ids[0])
    result = generator(np.zeros((4, 1, 1, 1), np.int32), 200, 5)
    assert result.ended.all()
    for index in range(4):
        tokens = result.piece(index)
        starts = encoder.event_start_times(tokens, qpm=60.0)
        # END is the first token after the sixth step end (3 quarters).
        assert starts[-1] == 3.0, starts
        assert (tokens[..., 0] == STEP_END_ID).sum() == 6
