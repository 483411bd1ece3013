"""Heads that score pitches by interval (`melodic_span`, `harmonic_span`)."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from polyframe import checks, plugin_loading, registries
from polyframe.encoding import START_ID, Field
from polyframe_plugins.encoders.event_stream import EventStreamEncoder
from polyframe_plugins.encoders.grid import GridEncoder
from polyframe_plugins.heads.autoregressive import AutoregressiveHead
from polyframe_plugins.models.event_rnn import EventRNN

from helpers import assert_greedy_is_teacher_forced_argmax

plugin_loading.load_plugins()
# START, REST, MIDI 60..68, END: ids 2..10 are pitches a semitone apart.
PITCHES = (-1, -1) + tuple(range(60, 69)) + (-1,)
FIELDS = (Field("pitch", len(PITCHES), pitches=PITCHES), Field("duration", 4))
VOICES = 3


def make_head(**spans):
    tf.random.set_seed(0)
    return AutoregressiveHead(FIELDS, VOICES, state_size=5, input_size=4,
                              hidden_size=8, embedding_size=3, **spans)


def constant_scores(layer, scores):
    """Makes `layer` score every move `scores[voice]` whatever it reads."""
    layer.kernel.assign(tf.zeros_like(layer.kernel))
    layer.bias.assign(tf.constant(scores, tf.float32))


def expected_bias(scores, reference):
    """What the interval scores add: `[..., vocab]` for reference ids
    `[..., V]`, written out token by token."""
    span = (scores.shape[-1] - 1) // 2
    out = np.zeros(reference.shape + (len(PITCHES),), np.float32)
    for index in np.ndindex(reference.shape):
        voice = index[-1]
        origin = PITCHES[reference[index]]
        for token, pitch in enumerate(PITCHES):
            if origin >= 0 and pitch >= 0 and abs(pitch - origin) <= span:
                out[index + (token,)] = scores[voice, pitch - origin + span]
    return out


def random_inputs(seed, batch=2, time=5):
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(batch, time, 5)).astype(np.float32)
    inputs = rng.normal(size=(batch, time, 4)).astype(np.float32)
    targets = np.stack(
        [rng.integers(1, f.vocab_size, (batch, time, VOICES)) for f in FIELDS],
        axis=-1).astype(np.int32)
    previous = rng.integers(0, len(PITCHES), (batch, time, VOICES)).astype(
        np.int32)
    return states, inputs, targets, previous


@pytest.mark.parametrize("kind", ["melodic", "harmonic"])
def test_each_pitch_gets_the_score_of_its_interval_and_no_other_token(kind):
    span = 2
    head = make_head(**{f"{kind}_span": span})
    scores = np.arange(VOICES * (2 * span + 1), dtype=np.float32).reshape(
        VOICES, -1) + 1.0
    states, inputs, targets, previous = random_inputs(seed=0)

    def pitch_logits():
        return head.logits(states, inputs, targets, previous=previous)[0]

    layer = getattr(head, kind)
    constant_scores(layer, np.zeros_like(scores))
    plain = pitch_logits().numpy()
    constant_scores(layer, scores)
    scored = pitch_logits().numpy()
    if kind == "melodic":
        reference = previous
    else:  # the voice above in the same event; voice 0 has none (START)
        reference = np.concatenate([np.full_like(targets[..., :1, 0],
                                                 START_ID),
                                    targets[..., :-1, 0]], axis=-1)
    np.testing.assert_allclose(scored - plain,
                               expected_bias(scores, reference), atol=1e-5)
    other = head.logits(states, inputs, targets, previous=previous)[1]
    constant_scores(layer, np.zeros_like(scores))
    np.testing.assert_array_equal(
        other.numpy(),
        head.logits(states, inputs, targets, previous=previous)[1].numpy())


def test_one_voice_logits_equal_the_teacher_forced_ones():
    head = make_head(melodic_span=3, harmonic_span=4)
    states, inputs, targets, previous = random_inputs(seed=1, time=1)
    forced = head.logits(states, inputs, targets, previous=previous)
    for voice in range(VOICES):
        stepped = head.voice_logits(states[:, 0], inputs[:, 0], targets[:, 0],
                                    voice, previous=previous[:, 0])
        for field in range(len(FIELDS)):
            np.testing.assert_allclose(stepped[field].numpy(),
                                       forced[field].numpy()[:, 0, voice],
                                       atol=1e-5)


def make_rnn(**spans):
    tf.random.set_seed(0)
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=12)
    head = functools.partial(AutoregressiveHead, hidden_size=10,
                             embedding_size=3, **spans)
    return EventRNN(FIELDS, VOICES, cell, head, num_layers=2,
                    default_embedding_size=4, held_counts=3)


def test_the_rnn_passes_each_steps_input_event_to_the_head():
    model = make_rnn(melodic_span=3)
    rng = np.random.default_rng(2)
    events = np.stack([rng.integers(2, f.vocab_size - 1, (2, 6, VOICES))
                       for f in FIELDS], axis=-1).astype(np.int32)
    events[:, 0] = START_ID
    layer = model.head.melodic
    constant_scores(layer, np.zeros([VOICES, 7]))
    plain = model.logits({"events": tf.constant(events)})[0].numpy()
    scores = rng.normal(size=(VOICES, 7)).astype(np.float32)
    constant_scores(layer, scores)
    scored = model.logits({"events": tf.constant(events)})[0].numpy()
    np.testing.assert_allclose(scored - plain,
                               expected_bias(scores, events[:, :-1, :, 0]),
                               atol=1e-5)


def test_greedy_generation_with_interval_scores_matches_teacher_forcing():
    rng = np.random.default_rng(3)
    primers = np.stack([rng.integers(2, f.vocab_size - 1, (2, 3, VOICES))
                        for f in FIELDS], axis=-1).astype(np.int32)
    primers[:, 0] = START_ID
    assert_greedy_is_teacher_forced_argmax(
        make_rnn(melodic_span=3, harmonic_span=4), primers, 6)


def test_a_field_without_pitches_is_refused_in_one_line():
    fields = (Field("event", 12),)
    with pytest.raises(checks.ConfigurationError,
                       match="heads.autoregressive.melodic_span and "
                             "harmonic_span score intervals .* 'event' "
                             "sounds none"):
        AutoregressiveHead(fields, 1, 4, 4, melodic_span=2)


def test_one_voice_has_no_voice_before_it_to_count_from():
    with pytest.raises(checks.ConfigurationError,
                       match="harmonic_span .* one voice: set it to 0"):
        AutoregressiveHead(FIELDS, 1, 4, 4, harmonic_span=2)


def test_a_model_that_passes_no_previous_event_is_told_so():
    head = make_head(melodic_span=2)
    states, inputs, targets, _ = random_inputs(seed=4)
    with pytest.raises(checks.ConfigurationError,
                       match="melodic_span needs the previous event"):
        head.logits(states, inputs, targets)


def test_the_grid_encoder_names_the_pitch_of_every_pitch_id():
    encoder = GridEncoder(num_voices=2, min_pitch=60, max_pitch=62)
    pitch = encoder.fields[0]
    # START, REST, 60, 61, 62, END.
    assert pitch.pitches == (-1, -1, 60, 61, 62, -1)
    assert encoder.fields[0].vocab_size == len(pitch.pitches)


def test_the_note_stream_names_one_pitch_for_a_struck_and_a_held_note():
    (event,) = EventStreamEncoder(min_pitch=60, max_pitch=61).fields
    # START, END, STEP_END, then 60 and 61 struck, then 60 and 61 held on.
    assert event.pitches == (-1, -1, -1, 60, 61, 60, 61)
    assert event.vocab_size == len(event.pitches)
