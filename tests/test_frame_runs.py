"""`@constraints.frame_max_run`: in a grid of frames, no pitch sounds in
consecutive frames for longer than the limit, whichever slot holds it."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_rnn
from polyframe import checks, plugin_loading, registries
from polyframe.constraint import StepContext
from polyframe.generation import Generator
from polyframe_plugins.constraints.frame_runs import FrameMaxRun

plugin_loading.load_plugins()

C4, E4, G4, C5 = 60, 64, 67, 72


def grid_encoder():
    """Quarter-note frames of two slots, as in a piano roll."""
    return registries.ENCODERS.get("grid")(
        num_voices=2, steps_per_quarter=1, min_pitch=48, max_pitch=84,
        voices_are_parts=False)


def blocked_after(frames, quarters=3.0):
    """The pitches the rule forbids after `frames` (pitches per slot, None
    for a rest), checking that it forbids them in every slot alike."""
    encoder = grid_encoder()
    rule = FrameMaxRun(encoder, quarters)
    state = rule.initial_state(1)
    for frame in frames:
        tokens = [encoder.pitch_id(p) if p else 1 for p in frame]  # 1: REST
        state = rule.update(state, tf.constant([[[t] for t in tokens]],
                                               tf.int32))
    vocab = encoder.fields[0].vocab_size
    found = []
    for voice in range(2):
        context = StepContext(voice=voice, field=0, step=tf.constant(0),
                              time=tf.zeros([1], tf.int32),
                              drawn=tf.zeros([1, 2, 1], tf.int32), state=state)
        logits = rule(tf.zeros([1, vocab]), context).numpy()[0]
        found.append(sorted(p for p in range(48, 85)
                            if logits[encoder.pitch_id(p)] < -1e8))
        assert (logits[:2] == 0).all()  # START, REST
    assert found[0] == found[1]
    return found[0]


def test_a_pitch_stops_at_the_limit_whichever_slot_holds_it():
    # G4 on top, then under C5: three frames of G4 without a break.
    frames = [(G4, C4), (C5, G4), (C5, G4)]
    assert blocked_after(frames[:2]) == []
    assert blocked_after(frames) == [G4]
    assert blocked_after(frames, quarters=4.0) == []
    # A silent frame starts a new run; C4 sounded only in the first frame.
    assert blocked_after(frames + [(E4, None)]) == []
    assert blocked_after([(E4, C4)] * 3 + [(E4, None)]) == [E4]


def test_it_needs_frames_and_a_positive_limit():
    stream = registries.ENCODERS.get("event_stream")()
    with pytest.raises(checks.ConfigurationError, match="frame_max_run"):
        FrameMaxRun(stream)
    with pytest.raises(checks.ConfigurationError, match="quarters"):
        FrameMaxRun(grid_encoder(), 0.0)


class Drone:
    """Makes the model all but certain to sound G4 in the top slot and rest
    below: an endless G4 unless a rule stops it."""

    def __init__(self, encoder):
        self._g4 = encoder.pitch_id(G4)

    def __call__(self, logits, context):
        vocab = tf.shape(logits)[-1]
        token = self._g4 if context.voice == 0 else 1
        return logits + tf.one_hot(token, vocab, on_value=100.0)


def test_the_loop_stops_a_drone_at_the_limit_primer_included():
    encoder = grid_encoder()
    rule = FrameMaxRun(encoder, quarters=3.0)
    generator = Generator(tiny_rnn(encoder),
                          registries.SAMPLERS.get("greedy")(),
                          [Drone(encoder), rule])
    g4 = encoder.pitch_id(G4)
    primer = np.array([[0, 0], [g4, 1], [g4, 1]], np.int32).reshape(
        1, 3, 2, 1)
    # The piece without its START row: the two primer frames, then six.
    events = np.asarray(generator(primer, 6, seed=0).piece(0))[:, 0, 0]
    # Two primer frames of G4 leave room for one more; then it must pause.
    assert (events[2:] == g4).tolist() == [True, False, True, True, True,
                                           False]
