"""The melody-conditioned RNN on tiny real tensors: generation agrees with
training, it sees the whole melody but only past events, its melody comes
from the melody notes alone, it learns, and it compiles with XLA.

Batches are built here, not by the pipeline, so these tests pin the model
contract on their own.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

from polyframe import registries
from polyframe.encoding import START_ID, Field
from polyframe.sequence_model import (MELODY, MELODY_PAD, MELODY_REST, TIMES,
                                      SequenceModel)
from polyframe_plugins.cells import lstm  # noqa: F401  (registers cells.lstm)
from polyframe_plugins.heads import autoregressive, independent  # noqa: F401
from polyframe_plugins.models.melody_conditioned_rnn import (
    MelodyConditionedRNN)

# START, REST, MIDI 60..69 in ids 2..11: a head can score intervals.
FIELDS = (Field("pitch", 12, pitches=(-1, -1) + tuple(range(60, 70))),
          Field("duration", 5))
VOICES = 4
TARGETS = 7


def make_model(head_name="autoregressive", head_settings=None, **overrides):
    tf.random.set_seed(0)
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=12)
    head = functools.partial(registries.HEADS.get(head_name), hidden_size=10,
                             **(head_settings or {}))
    if head_name == "autoregressive":
        head = functools.partial(head, embedding_size=3)
    arguments = dict(cell=cell, head=head, num_layers=2,
                     default_embedding_size=3, melody_embedding_size=5,
                     melody_units=6)
    arguments.update(overrides)
    return MelodyConditionedRNN(FIELDS, VOICES, **arguments)


def make_batch(seed=0, batch=2, targets=TARGETS):
    """Random events on a random rhythm, and a melody that covers them.

    The second piece's melody is shorter and padded with `MELODY_PAD`.
    """
    rng = np.random.default_rng(seed)
    events = np.stack([rng.integers(1, f.vocab_size, (batch, targets + 1,
                                                      VOICES))
                       for f in FIELDS], axis=-1).astype(np.int32)
    events[:, 0] = START_ID
    steps = rng.choice([0.5, 1.0], (batch, targets))
    times = np.concatenate([np.zeros((batch, 1)), np.cumsum(steps, 1)[:, :-1]],
                           axis=1).astype(np.float32)
    pitches, timings = [], []
    for b in range(batch):
        onset, notes = 0.0, []
        while onset <= times[b, -1] + 1.0:
            duration = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
            pitch = MELODY_REST if rng.random() < 0.15 else int(
                rng.integers(60, 80))
            notes.append((pitch, onset, duration))
            onset += duration
        pitches.append([n[0] for n in notes])
        timings.append([[n[1], n[2]] for n in notes])
    length = max(len(p) for p in pitches) + (1 if batch > 1 else 0)
    melody_pitch = np.full((batch, length), MELODY_PAD, np.int32)
    melody_timing = np.zeros((batch, length, 2), np.float32)
    for b in range(batch):
        melody_pitch[b, :len(pitches[b])] = pitches[b]
        melody_timing[b, :len(timings[b])] = timings[b]
    return {
        "events": events,
        "mask": np.ones((batch, targets), np.float32),
        "end": np.zeros((batch, targets), np.float32),
        "notes": (events[:, 1:, :, 0] > 2).astype(np.float32),
        "times": times,
        "melody_pitch": melody_pitch,
        "melody_timing": melody_timing,
    }


def tensors(batch):
    return {key: tf.constant(value) for key, value in batch.items()}


def teacher_forced(model, batch):
    return [x.numpy() for x in model.logits(tensors(batch))]


def sounding_note(batch, b, t):
    """Index of the melody note sounding at target `t` of piece `b`."""
    onsets = batch["melody_timing"][b, :, 0]
    real = batch["melody_pitch"][b] != MELODY_PAD
    return int(np.sum((onsets <= batch["times"][b, t]) & real)) - 1


def rollout(model, batch, primer_rows, unknown_batch=False):
    """Logits of every voice of every target from `primer_rows` on, by
    `start` then `advance` in a `tf.while_loop`, the true tokens drawn.

    Args:
        unknown_batch: Hide the batch size from the graph, as the
            generation loop does (only inside a `tf.function`).

    Returns:
        One `[B, steps, V, vocab]` tensor per field.
    """
    if unknown_batch:
        batch = {k: tf.compat.v1.placeholder_with_default(
            v, [None] + v.shape.as_list()[1:]) for k, v in batch.items()}
    events, times = batch["events"], batch["times"]
    context = {"times": times[:, :primer_rows + 1],
               "melody_pitch": batch["melody_pitch"],
               "melody_timing": batch["melody_timing"]}
    state = model.start(events[:, :primer_rows + 1], context,
                        max_new_events=TARGETS)
    steps = times.shape[1] - primer_rows
    arrays = [tf.TensorArray(tf.float32, size=steps) for _ in FIELDS]

    def body(step, state, arrays):
        row = primer_rows + step  # The target predicted by `state`.
        target = tf.gather(events, row + 1, axis=1)
        per_voice = [model.voice_logits(state, target, voice)
                     for voice in range(VOICES)]
        arrays = [array.write(step, tf.stack([v[f] for v in per_voice], 1))
                  for f, array in enumerate(arrays)]
        next_time = tf.gather(times, tf.minimum(row + 1, times.shape[1] - 1),
                              axis=1)
        state = model.advance(state, target, {"time": next_time})
        return step + 1, state, arrays

    _, _, arrays = tf.while_loop(lambda step, *_: step < steps, body,
                                 (tf.constant(0), state, arrays),
                                 maximum_iterations=steps)
    return [tf.transpose(a.stack(), [1, 0, 2, 3]) for a in arrays]


def test_is_a_sequence_model_that_asks_for_times_and_melody():
    model = make_model()
    assert isinstance(model, SequenceModel)
    assert set(model.features) == {TIMES, MELODY}
    assert model.melody_voice == 0
    assert make_model(melody_voice=2).melody_voice == 2
    assert registries.MODELS.get("melody_conditioned_rnn") is (
        MelodyConditionedRNN)


# The lookahead window alone, and beside the recurrent pass.
WINDOW_ONLY = dict(melody_units=0, melody_lookahead=3, lookahead_units=7)
WINDOW_AND_PASS = dict(melody_lookahead=2, lookahead_units=7)


@pytest.mark.parametrize("primer_rows, overrides", [
    (0, {}), (3, dict(bidirectional=True)), (2, dict(time_features=True)),
    (0, WINDOW_ONLY), (3, dict(WINDOW_AND_PASS, time_features=True)),
    (2, dict(head_settings=dict(melodic_span=2, harmonic_span=3)))])
def test_start_and_advance_match_teacher_forcing(primer_rows, overrides):
    model = make_model(**overrides)
    batch = make_batch(seed=1)
    expected = teacher_forced(model, batch)
    incremental = rollout(model, tensors(batch), primer_rows)
    for full, step_by_step in zip(expected, incremental):
        np.testing.assert_allclose(step_by_step.numpy(),
                                   full[:, primer_rows:], atol=1e-4)


@pytest.mark.parametrize("overrides", [{}, WINDOW_ONLY])
def test_sees_future_melody_notes_but_not_future_events(overrides):
    model = make_model(**overrides)
    batch = make_batch(seed=2)
    t = 2
    before = teacher_forced(model, batch)

    later_note = dict(batch, melody_pitch=batch["melody_pitch"].copy())
    note = sounding_note(batch, 0, t) + 1  # Starts after target t.
    assert batch["melody_timing"][0, note, 0] > batch["times"][0, t]
    later_note["melody_pitch"][0, note] = (
        61 if batch["melody_pitch"][0, note] != 61 else 62)
    after = teacher_forced(model, later_note)
    assert not np.allclose(before[0][0, t], after[0][0, t], atol=1e-6)

    later_events = dict(batch, events=batch["events"].copy())
    later_events["events"][:, t + 2:] = (batch["events"][:, t + 2:] % 3) + 1
    after = teacher_forced(model, later_events)
    for b, a in zip(before, after):
        np.testing.assert_allclose(b[:, :t + 1], a[:, :t + 1], atol=1e-6)
        assert not np.allclose(b[:, t + 2:], a[:, t + 2:])


def test_melody_comes_from_melody_notes_not_from_the_event_column():
    batch = make_batch(seed=3)
    for head_name in ("autoregressive", "independent"):
        model = make_model(head_name)
        before = teacher_forced(model, batch)
        # The melody voice's event column differs everywhere, the melody
        # notes do not: the first target (input START) is predicted alike.
        other_column = dict(batch, events=batch["events"].copy())
        other_column["events"][:, 1:, 0] = (
            batch["events"][:, 1:, 0] % 3) + 1
        after = teacher_forced(model, other_column)
        first_row_voices = slice(0, VOICES if head_name == "independent"
                                 else 1)
        for b, a in zip(before, after):
            np.testing.assert_allclose(b[:, 0, first_row_voices],
                                       a[:, 0, first_row_voices], atol=1e-6)
    # ... and the melody notes do matter, from the first target on.
    no_melody = dict(batch, melody_pitch=np.full_like(batch["melody_pitch"],
                                                      MELODY_PAD))
    other_notes = dict(batch, melody_pitch=np.where(
        batch["melody_pitch"] < MELODY_REST, batch["melody_pitch"] + 3,
        batch["melody_pitch"]))
    for changed in (no_melody, other_notes):
        after = teacher_forced(model, changed)
        assert not np.allclose(before[0][:, 0], after[0][:, 0], atol=1e-6)


@pytest.mark.parametrize("overrides", [{}, dict(bidirectional=True),
                                       WINDOW_ONLY])
def test_trailing_melody_padding_changes_nothing(overrides):
    model = make_model(**overrides)
    batch = make_batch(seed=4)
    padded = dict(batch)
    extra = 5
    padded["melody_pitch"] = np.pad(batch["melody_pitch"], [(0, 0), (0, extra)],
                                    constant_values=MELODY_PAD)
    garbage = np.tile([[[0.0, 3.0]]], (2, extra, 1)).astype(np.float32)
    padded["melody_timing"] = np.concatenate([batch["melody_timing"], garbage],
                                             axis=1)
    for b, a in zip(teacher_forced(model, batch),
                    teacher_forced(model, padded)):
        np.testing.assert_allclose(b, a, atol=1e-6)


def test_a_few_adam_steps_lower_the_loss():
    model = make_model(dropout=0.1)
    batch = tensors(make_batch(seed=5, batch=4))
    optimizer = tf.keras.optimizers.Adam(0.03)
    initial = float(model.nll_sums(batch)["loss"])
    for _ in range(4):
        with tf.GradientTape() as tape:
            loss = model.nll_sums(batch, training=True)["loss"]
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables),
                                      variables))
    sums = model.nll_sums(batch)
    assert float(sums["loss"]) < 0.9 * initial
    assert 0 < float(sums["nll_atb"]) < float(sums["nll"])


@pytest.mark.parametrize("argument, value", [
    ("num_layers", 0), ("dropout", 1.0), ("dropout", -0.1),
    ("default_embedding_size", 0), ("melody_embedding_size", 0),
    ("melody_units", 0), ("melody_units", -1), ("melody_lookahead", -1),
    ("lookahead_units", 0), ("melody_voice", VOICES), ("melody_voice", -1)])
def test_constructor_names_the_bad_argument(argument, value):
    with pytest.raises(ValueError, match=argument):
        make_model(**{argument: value})


def test_a_window_only_model_cannot_be_bidirectional():
    with pytest.raises(ValueError, match="bidirectional = False"):
        make_model(**WINDOW_ONLY, bidirectional=True)


def test_window_sees_exactly_its_notes_and_the_distance_to_the_end():
    """The sounding note's neighbours inside the window change the logits;
    a note beyond it does not, except through the time left to the end."""
    model = make_model(melody_units=0, melody_lookahead=1, lookahead_units=7)
    batch = make_batch(seed=7, batch=1, targets=TARGETS)
    t = 0
    sounding = sounding_note(batch, 0, t)
    before = teacher_forced(model, batch)

    def with_pitch(note, pitch):
        changed = dict(batch, melody_pitch=batch["melody_pitch"].copy())
        changed["melody_pitch"][0, note] = pitch
        return teacher_forced(model, changed)

    def other(note):
        return 77 if batch["melody_pitch"][0, note] != 77 else 78

    inside = with_pitch(sounding + 1, other(sounding + 1))
    assert not np.allclose(before[0][0, t], inside[0][0, t], atol=1e-6)
    outside = with_pitch(sounding + 2, other(sounding + 2))
    np.testing.assert_allclose(before[0][0, t], outside[0][0, t], atol=1e-6)
    # Lengthening the last note moves the melody's end and nothing else.
    longer = dict(batch, melody_timing=batch["melody_timing"].copy())
    last = int(np.sum(batch["melody_pitch"][0] != MELODY_PAD)) - 1
    assert last > sounding + 2
    longer["melody_timing"][0, last, 1] += 4.0
    after = teacher_forced(model, longer)
    assert not np.allclose(before[0][0, t], after[0][0, t], atol=1e-6)


@pytest.mark.parametrize("overrides", [{}, WINDOW_ONLY])
def test_generation_loop_compiles_with_xla_and_matches_eager(overrides):
    model = make_model(**overrides)
    batch = tensors(make_batch(seed=6))
    primer_rows = 2
    eager = rollout(model, batch, primer_rows)
    compiled = tf.function(
        functools.partial(rollout, model, unknown_batch=True),
        jit_compile=True)(batch, primer_rows)
    expected = model.logits(batch)
    for e, c, full in zip(eager, compiled, expected):
        np.testing.assert_allclose(c.numpy(), e.numpy(), atol=1e-4)
        np.testing.assert_allclose(c.numpy(), full.numpy()[:, primer_rows:],
                                   atol=1e-4)


def test_time_features_make_logits_depend_on_where_the_piece_is():
    batch = make_batch(seed=4)
    shifted = dict(batch, times=batch["times"] + 0.5,
                   melody_timing=batch["melody_timing"] + [0.5, 0.0])
    for time_features in (False, True):
        model = make_model(time_features=time_features)
        same = np.allclose(teacher_forced(model, batch)[0],
                           teacher_forced(model, shifted)[0], atol=1e-5)
        # Shifting the whole piece changes nothing unless the model reads
        # absolute position.
        assert same is (not time_features)
