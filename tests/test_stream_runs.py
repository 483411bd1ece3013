"""`@constraints.stream_max_run`: in a note stream, no pitch sounds without a
break for longer than the limit, primer included; and the loop keeps each
constraint's own state (`Constraint.update`)."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_rnn
from polyframe import checks, plugin_loading, registries
from polyframe.constraint import StepContext
from polyframe.generation import Generator
from polyframe_plugins.constraints.stream_runs import StreamMaxRun
from polyframe_plugins.encoders.event_stream import (FIRST_NOTE_ID,
                                                     STEP_END_ID)

plugin_loading.load_plugins()

MIN_PITCH, MAX_PITCH = 48, 72
NUM_PITCHES = MAX_PITCH - MIN_PITCH + 1
C4, E4 = 60, 64


def stream_encoder():
    return registries.ENCODERS.get("event_stream")(
        steps_per_quarter=4, min_pitch=MIN_PITCH, max_pitch=MAX_PITCH)


def new(pitch):
    return FIRST_NOTE_ID + pitch - MIN_PITCH


def held(pitch):
    return new(pitch) + NUM_PITCHES


def forbidden_after(tokens, quarters=1.0):
    """The pitches `stream_max_run` forbids (struck or continued) after the
    stream `tokens`; it checks that both token kinds agree."""
    rule = StreamMaxRun(stream_encoder(), quarters)
    state = rule.initial_state(1)
    for token in tokens:
        state = rule.update(state, tf.constant([[[token]]], tf.int32))
    context = StepContext(voice=0, field=0, step=tf.constant(0),
                          time=tf.constant([0]),
                          drawn=tf.zeros([1, 1, 1], tf.int32), state=state)
    vocab = FIRST_NOTE_ID + 2 * NUM_PITCHES
    logits = rule(tf.zeros([1, vocab]), context).numpy()[0]
    assert (logits[:FIRST_NOTE_ID] == 0).all()
    struck = logits[FIRST_NOTE_ID:FIRST_NOTE_ID + NUM_PITCHES] < -1e8
    continued = logits[FIRST_NOTE_ID + NUM_PITCHES:] < -1e8
    np.testing.assert_array_equal(struck, continued)
    return (np.flatnonzero(struck) + MIN_PITCH).tolist()


def steps(*pitches_per_step):
    """Tokens of whole steps: each argument lists one step's tokens."""
    tokens = []
    for step_tokens in pitches_per_step:
        tokens += list(step_tokens) + [STEP_END_ID]
    return tokens


def test_a_pitch_stops_when_its_next_step_would_pass_the_limit():
    # One quarter is four 16th-note steps.
    three = steps([new(C4)], [held(C4)], [held(C4)])
    assert forbidden_after(three) == []
    four = three + steps([held(C4)])
    assert forbidden_after(four) == [C4]
    # Mid-step the limit is the same: C4 may not be named in step five.
    assert forbidden_after(four + [held(E4)]) == [C4]
    # Struck again in the next step, a pitch goes on sounding.
    assert forbidden_after(steps([new(C4)], [new(C4)], [new(C4)],
                                 [new(C4)])) == [C4]
    # Each pitch has its own run: E4 joined at the second step.
    both = steps([new(C4)], [held(C4), new(E4)], [held(C4), held(E4)],
                 [held(C4), held(E4)], [held(E4)])
    assert forbidden_after(both) == [E4]
    assert forbidden_after(both, quarters=2.0) == []


def test_one_silent_step_starts_a_new_run():
    tokens = steps([new(C4)], [held(C4)], [held(C4)], [held(C4)], [])
    assert forbidden_after(tokens) == []
    assert forbidden_after(tokens + steps([new(C4)], [held(C4)],
                                          [held(C4)], [held(C4)])) == [C4]


def test_it_needs_the_note_stream():
    duration = registries.ENCODERS.get("duration")(num_voices=2)
    with pytest.raises(checks.ConfigurationError,
                       match="constraints.stream_max_run works on the note "
                             "stream.*use @constraints.max_run"):
        StreamMaxRun(duration)
    with pytest.raises(checks.ConfigurationError, match="quarters"):
        StreamMaxRun(stream_encoder(), 0.0)


class Drone:
    """Makes the model all but certain to continue C4 at even events and end
    the step at odd ones: an endless C4 unless a rule stops it."""

    def __call__(self, logits, context):
        vocab = tf.shape(logits)[-1]
        even = tf.equal(context.step % 2, 0)
        token = tf.where(even, held(C4), STEP_END_ID)
        return (logits + tf.one_hot(token, vocab, on_value=100.0) +
                tf.one_hot(STEP_END_ID, vocab, on_value=50.0))




def drone_notes(primer_tokens, rules, num_events):
    """(start, end) in 16th-note steps of each C4 the loop generates after
    `primer_tokens`, with `Drone` and then `rules` in the chain."""
    encoder = stream_encoder()
    generator = Generator(tiny_rnn(encoder),
                          registries.SAMPLERS.get("greedy")(),
                          [Drone()] + rules)
    primer = np.array([0] + primer_tokens, np.int32).reshape(1, -1, 1, 1)
    generated = generator(primer, num_events, seed=0)
    sequence = encoder.decode(generated.piece(0), qpm=120)
    step = 0.125  # seconds per 16th note at 120 quarters a minute
    assert {note.pitch for note in sequence.notes} == {C4}
    return [(round(n.start_time / step), round(n.end_time / step))
            for n in sequence.notes]


def test_the_loop_stops_a_drone_at_the_limit():
    # 26 events are 13 steps of C4.
    assert drone_notes([], [], 26) == [(0, 13)]
    rule = StreamMaxRun(stream_encoder(), quarters=1.0)
    # Four steps of C4; the ninth event cannot continue it, so that step and
    # the next (Drone's step end) are silent, and C4 starts again.
    assert drone_notes([], [rule], 26) == [(0, 4), (6, 10), (12, 15)]


def test_the_primer_counts_towards_the_limit():
    rule = StreamMaxRun(stream_encoder(), quarters=1.0)
    primer = steps([new(C4)], [held(C4)], [held(C4)])
    # Three steps in the primer leave room for one generated step.
    assert drone_notes(primer, [rule], 8) == [(0, 4), (6, 8)]


def test_a_primer_of_any_length_leaves_the_rule_the_same_state():
    encoder = stream_encoder()
    rule = StreamMaxRun(encoder, quarters=1.0)
    generator = Generator(tiny_rnn(encoder),
                          registries.SAMPLERS.get("greedy")(), [rule])
    tokens = [0] + steps([new(C4)], [held(C4), new(E4)], [held(C4)])
    primer = tf.constant(np.array(tokens, np.int32).reshape(1, -1, 1, 1))

    def play(rows):
        clock_state = (tf.zeros([tf.shape(rows)[0]], tf.int32),)
        return generator._play_primer(rows, clock_state)[4][0]

    # The exported signature takes primers of a length the graph does not
    # know, which are played in a graph loop rather than unrolled.
    unknown = tf.function(play, input_signature=[
        tf.TensorSpec([None, None, 1, 1], tf.int32)])(primer)
    for state in (play(primer), unknown):
        step, since, mentioned = (t.numpy()[0] for t in state)
        assert step == 3
        expected = np.full(NUM_PITCHES, -1)
        expected[C4 - MIN_PITCH] = 0  # E4 sounded only in step 1
        np.testing.assert_array_equal(since, expected)
        assert not mentioned.any()
