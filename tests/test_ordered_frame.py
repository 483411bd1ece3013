"""The ordered-frame head: a proper distribution over piano-roll frames."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from polyframe import plugin_loading, registries
from polyframe.encoding import START_ID
from polyframe.generation import Generator
from polyframe_plugins.constraints.basic import ForbidStart
from polyframe_plugins.models.event_rnn import EventRNN

from frames import (EVERY_FRAME, PITCH, VOICES, canonical,
                    frame_probabilities)

plugin_loading.load_plugins()


def make_model(head_name, **head_settings):
    tf.random.set_seed(1)
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=8)
    head = functools.partial(registries.HEADS.get(head_name), hidden_size=8,
                             **head_settings)
    return EventRNN((PITCH,), VOICES, cell, head, default_embedding_size=4)


# After START, and (scored by interval from it) after a frame of two pitches.
@pytest.mark.parametrize("head_settings, before", [
    ({}, ()), (dict(melodic_span=1, harmonic_span=2), ([4, 2, 1],))])
def test_frames_and_end_have_probabilities_that_sum_to_one(head_settings,
                                                           before):
    model = make_model("ordered_frame", **head_settings)
    probabilities = frame_probabilities(model, EVERY_FRAME, before)
    is_canonical = np.array([canonical(f) for f in EVERY_FRAME])
    # The sets of at most 3 of 3 pitches (8), and END.
    assert is_canonical.sum() == 9
    assert probabilities[is_canonical].sum() == pytest.approx(1.0, abs=1e-5)
    assert probabilities[~is_canonical].max() == 0.0
    assert probabilities[is_canonical].min() > 0.0


def test_the_plain_autoregressive_head_wastes_probability_on_other_tuples():
    probabilities = frame_probabilities(make_model("autoregressive"),
                                        EVERY_FRAME)
    is_canonical = np.array([canonical(f) for f in EVERY_FRAME])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert probabilities[is_canonical].sum() < 0.5


def test_generation_draws_only_canonical_frames():
    model = make_model("ordered_frame")
    sampler = registries.SAMPLERS.get("temperature")(temperature=1.0)
    generate = Generator(model, sampler, [ForbidStart(None)])
    primers = np.full((64, 1, VOICES, 1), START_ID, np.int32)
    frames = generate(primers, max_events=6, seed=3).events[..., 0]
    frames = frames.reshape(-1, VOICES)
    assert len(frames) == 64 * 6
    assert all(canonical(frame) for frame in frames)
    assert len({tuple(frame) for frame in frames}) >= 8
