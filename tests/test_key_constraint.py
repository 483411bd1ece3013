"""`@constraints.in_key`: pitches outside the key lose exactly `penalty`
nats, the key is given or estimated as the musical statistics estimate it,
and the generation loop keeps it from the primer on."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_rnn
from polyframe import checks, musical_statistics, plugin_loading, registries
from polyframe.constraint import StepContext
from polyframe.generation import Generator
from polyframe.musical_statistics import Key, Note
from polyframe_plugins.constraints.key import InKey
from polyframe_plugins.encoders.event_stream import FIRST_NOTE_ID
from polyframe_plugins.encoders.grid import FIRST_PITCH_ID

plugin_loading.load_plugins()

C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71)
# A primer in G major, its tonic triad stressed.
G_MAJOR_PRIMER = (67, 71, 74, 67, 69, 66, 67, 72, 71, 67, 74, 67, 62, 67)


def grid_encoder(num_voices=1):
    return registries.ENCODERS.get("grid")(num_voices=num_voices,
                                           min_pitch=48, max_pitch=84)


def stream_encoder():
    return registries.ENCODERS.get("event_stream")(
        steps_per_quarter=4, min_pitch=48, max_pitch=84)


def context(state, field=0):
    return StepContext(voice=0, field=field, step=tf.constant(0),
                       time=tf.zeros([1], tf.int32),
                       drawn=tf.zeros([1, 1, 1], tf.int32), state=state)


def state_after(rule, encoder, pitches):
    """The rule's state after one event per pitch (one voice)."""
    state = rule.initial_state(1)
    for pitch in pitches:
        event = tf.constant([[[encoder.pitch_id(pitch)]]], tf.int32)
        state = rule.update(state, event)
    return state


def test_parse_key_reads_tonic_and_mode():
    assert musical_statistics.parse_key("D minor") == Key(2, True)
    assert musical_statistics.parse_key("F# major") == Key(6, False)
    assert musical_statistics.parse_key("Bb minor") == Key(10, True)
    assert musical_statistics.parse_key("cb Major") == Key(11, False)
    for bad in ("H major", "D", "D dorian", "D# minor extra", "Dx minor"):
        with pytest.raises(ValueError, match="names no key"):
            musical_statistics.parse_key(bad)


def test_a_given_key_costs_exactly_the_penalty_outside_it():
    encoder = grid_encoder()
    rule = InKey(encoder, penalty=1.5, key="C major")
    vocab = encoder.fields[0].vocab_size
    logits = rule(tf.zeros([1, vocab]), context(rule.initial_state(1)))
    logits = logits.numpy()[0]
    expected = np.zeros(vocab, np.float32)
    for pitch in range(48, 85):
        if pitch % 12 not in (0, 2, 4, 5, 7, 9, 11):
            expected[encoder.pitch_id(pitch)] = -1.5
    np.testing.assert_array_equal(logits, expected)
    assert (logits[:FIRST_PITCH_ID] == 0).all()  # START, REST: no pitch


def test_no_change_before_min_notes_or_in_another_field():
    encoder = grid_encoder()
    rule = InKey(encoder, penalty=2.0, min_notes=7)
    vocab = encoder.fields[0].vocab_size
    zeros = tf.zeros([1, vocab])
    six = state_after(rule, encoder, C_MAJOR_SCALE[:6])
    np.testing.assert_array_equal(rule(zeros, context(six)), zeros)
    seven = state_after(rule, encoder, C_MAJOR_SCALE)
    assert rule.keys(seven).numpy().tolist() == [0]  # C major
    assert rule(zeros, context(seven)).numpy().min() == -2.0
    np.testing.assert_array_equal(rule(zeros, context(seven, field=1)),
                                  zeros)


def test_the_estimate_is_the_statistics_estimate():
    encoder = grid_encoder()
    rule = InKey(encoder, min_notes=1)
    random = np.random.default_rng(3)
    for _ in range(40):
        pitches = random.integers(48, 85, size=int(random.integers(3, 30)))
        notes = [Note(0, int(p), float(i), i + 1.0)
                 for i, p in enumerate(pitches)]
        expected = musical_statistics.estimate_key(notes)
        index = rule.keys(state_after(rule, encoder, pitches)).numpy()[0]
        assert musical_statistics.KEYS[index] == expected


def test_a_minor_key_keeps_its_raised_sixth_and_seventh():
    encoder = grid_encoder()
    rule = InKey(encoder, penalty=1.0, key="A minor")
    vocab = encoder.fields[0].vocab_size
    logits = rule(tf.zeros([1, vocab]),
                  context(rule.initial_state(1))).numpy()[0]
    outside = sorted({p % 12 for p in range(48, 85)
                      if logits[encoder.pitch_id(p)] < 0})
    assert outside == [1, 3, 10]  # C#, D#/Eb, A#/Bb; F# and G# stay


def test_the_stream_counts_struck_and_continued_notes_alike():
    encoder = stream_encoder()
    pitches = encoder.sounding_pitches()
    assert pitches[FIRST_NOTE_ID] == 48
    assert pitches[FIRST_NOTE_ID + 37] == 48  # 37 pitches, then continued
    assert (pitches[:FIRST_NOTE_ID] == -1).all()
    rule = InKey(encoder, penalty=1.0, min_notes=1)
    state = rule.initial_state(1)
    for pitch in (57, 60, 64, 57, 64, 62, 59, 56):  # A minor, G# included
        for token in (FIRST_NOTE_ID + pitch - 48, FIRST_NOTE_ID + 37 + pitch - 48):
            state = rule.update(state, tf.constant([[[token]]], tf.int32))
    assert musical_statistics.KEYS[rule.keys(state).numpy()[0]] == Key(9, True)
    vocab = encoder.fields[0].vocab_size
    logits = rule(tf.zeros([1, vocab]), context(state)).numpy()[0]
    for offset in (0, 37):
        assert logits[FIRST_NOTE_ID + offset + 61 - 48] == -1.0  # C#
        assert logits[FIRST_NOTE_ID + offset + 56 - 48] == 0.0  # G#


def test_bad_settings_are_refused_with_the_setting_named():
    with pytest.raises(checks.ConfigurationError, match="in_key.key.*D minor"):
        InKey(grid_encoder(), key="D moll")
    with pytest.raises(checks.ConfigurationError, match="penalty"):
        InKey(grid_encoder(), penalty=-1.0)
    with pytest.raises(checks.ConfigurationError, match="min_notes"):
        InKey(grid_encoder(), min_notes=0)


def generated_pitches(rules, primer_pitches=(), num_events=48):
    """Pitches a random draw from an untrained two-voice grid model sounds
    after `primer_pitches` (both voices), with `rules` in the chain."""
    encoder = grid_encoder(num_voices=2)
    generator = Generator(tiny_rnn(encoder),
                          registries.SAMPLERS.get("temperature")(
                              temperature=1.0), rules)
    rows = [[0, 0]] + [[encoder.pitch_id(p)] * 2 for p in primer_pitches]
    primer = np.array(rows, np.int32).reshape(1, -1, 2, 1)
    generated = generator(primer, num_events, seed=5).piece(0)
    tokens = np.asarray(generated)[len(rows):, :, 0].ravel()
    pitches = encoder.sounding_pitches()[tokens]
    return pitches[pitches >= 0].tolist()


def test_the_loop_keeps_a_given_key():
    free = generated_pitches([])
    assert {p % 12 for p in free} - {0, 2, 4, 5, 7, 9, 11}
    rule = InKey(grid_encoder(num_voices=2), penalty=100.0, key="C major")
    kept = generated_pitches([rule])
    assert len(kept) > 40
    assert {p % 12 for p in kept} <= {0, 2, 4, 5, 7, 9, 11}


def test_the_loop_keeps_the_key_of_the_primer():
    g_major = {7, 9, 11, 0, 2, 4, 6}
    free = generated_pitches([], G_MAJOR_PRIMER, num_events=8)
    assert {p % 12 for p in free} - g_major
    rule = InKey(grid_encoder(num_voices=2), penalty=100.0)
    kept = generated_pitches([rule], G_MAJOR_PRIMER, num_events=8)
    assert len(kept) >= 8
    assert {p % 12 for p in kept} <= g_major
