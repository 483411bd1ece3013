"""The event Transformer against the model contract, on tiny real tensors.

Batches are built here (not by the pipeline) so that the model is tested
alone: `events` `[B, T + 1, V, F]` with START in row 0, `mask`, `end` and
`notes` as documented in `polyframe.sequence_model`.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

from polyframe import registries
from polyframe.encoding import START_ID, Field
from polyframe.sequence_model import without_start
from polyframe_plugins.heads.autoregressive import AutoregressiveHead
from polyframe_plugins.models.event_transformer import (EventTransformer,
                                                         alibi_slopes)

# START, REST, MIDI 60..69 in ids 2..11: a head can score intervals.
FIELDS = (Field("pitch", 12, pitches=(-1, -1) + tuple(range(60, 70))),
          Field("duration", 5))
VOICES = 4


def make_model(head_settings=None, **overrides):
    tf.random.set_seed(0)
    settings = dict(num_layers=2, d_model=16, num_heads=4, ff_size=32,
                    default_embedding_size=4)
    settings.update(overrides)
    head = functools.partial(AutoregressiveHead, hidden_size=16,
                             embedding_size=4, **(head_settings or {}))
    return EventTransformer(FIELDS, VOICES, head, **settings)


def random_events(rng, batch=3, length=8):
    """`[batch, length, V, F]` random tokens, START in row 0."""
    events = np.stack([rng.integers(1, f.vocab_size, (batch, length, VOICES))
                       for f in FIELDS], axis=-1).astype(np.int32)
    events[:, 0] = START_ID
    return events


def make_batch(events, lengths=None):
    """A training batch; `lengths[i]` real targets of row i, END last."""
    batch, rows = events.shape[:2]
    targets = rows - 1
    lengths = [targets] * batch if lengths is None else lengths
    mask = np.zeros([batch, targets], np.float32)
    end = np.zeros([batch, targets], np.float32)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        end[row, length - 1] = 1
    notes = (events[:, 1:, :, 0] >= 3).astype(np.float32)
    return {"events": tf.constant(events), "mask": tf.constant(mask),
            "end": tf.constant(end), "notes": tf.constant(notes)}


def incremental_logits(model, events, primer_rows, max_new_events):
    """Voice logits of every row after the primer, by `start`/`advance`,
    feeding the true tokens as `drawn`; one `[B, steps, V, vocab]` per field."""
    state = model.start(tf.constant(events[:, :primer_rows]), {},
                        max_new_events)
    per_step = []
    for row in range(primer_rows, events.shape[1]):
        event = tf.constant(events[:, row])
        per_step.append([model.voice_logits(state, event, voice)
                         for voice in range(VOICES)])
        state = model.advance(state, event, {})
    return [np.stack([[voices[v][f].numpy() for v in range(VOICES)]
                      for voices in per_step], axis=0).transpose(2, 0, 1, 3)
            for f in range(len(FIELDS))]


def test_is_registered_as_a_model():
    assert registries.MODELS.get("event_transformer") is EventTransformer


def test_logits_of_a_step_ignore_later_events():
    model = make_model()
    events = random_events(np.random.default_rng(0))
    changed = events.copy()
    changed[:, 5:] = (events[:, 5:] % 3) + 1
    before = model.logits(make_batch(events))
    after = model.logits(make_batch(changed))
    for b, a in zip(before, after):
        # Step t reads rows <= t and row t + 1's earlier voices (the head).
        np.testing.assert_allclose(b[:, :4].numpy(), a[:, :4].numpy(),
                                   atol=1e-6)
        assert not np.allclose(b[:, 5:].numpy(), a[:, 5:].numpy())


@pytest.mark.parametrize("primer_rows, head_settings", [
    (1, {}), (4, {}), (3, dict(melodic_span=2, harmonic_span=3))])
def test_cached_generation_equals_teacher_forcing(primer_rows, head_settings):
    model = make_model(head_settings)
    events = random_events(np.random.default_rng(1), length=9)
    forced = model.logits(make_batch(events))
    cached = incremental_logits(model, events, primer_rows,
                                max_new_events=20)
    for f, c in zip(forced, cached):
        np.testing.assert_allclose(c, f.numpy()[:, primer_rows - 1:],
                                   atol=1e-4)


def test_state_shapes_do_not_change_from_step_to_step():
    model = make_model()
    events = random_events(np.random.default_rng(2))
    state = model.start(tf.constant(events[:, :3]), {}, 5)
    assert state["keys"][0].shape == [3, 8, 4, 4]  # [B, 3 + 5, H, d/H]
    after = model.advance(state, tf.constant(events[:, 3]), {})
    tf.nest.map_structure(
        lambda a, b: tf.debugging.assert_equal(tf.shape(a), tf.shape(b)),
        state, after)
    assert int(after["length"]) == 4


def test_alibi_biases_depend_only_on_relative_position():
    model = make_model()
    positions = tf.range(50)
    bias = model._bias(positions, positions).numpy()
    slopes = np.array(alibi_slopes(4), np.float32)
    for q, k in [(0, 0), (10, 3), (49, 42), (49, 0)]:
        np.testing.assert_allclose(bias[:, q, k], -slopes * (q - k))
    np.testing.assert_array_equal(bias[:, 10, 3], bias[:, 40, 33])
    assert (bias[:, 3, 10] < -1e8).all()  # the future is masked
    assert alibi_slopes(8)[:2] == [0.5, 0.25]
    assert len(alibi_slopes(6)) == 6


def test_sequences_longer_than_any_window_work_in_both_paths():
    model = make_model()
    events = random_events(np.random.default_rng(3), batch=2, length=301)
    forced = model.logits(make_batch(events))
    assert forced[0].shape == [2, 300, VOICES, FIELDS[0].vocab_size]
    assert all(np.isfinite(f.numpy()).all() for f in forced)
    cached = incremental_logits(model, events, 295, max_new_events=8)
    for f, c in zip(forced, cached):
        np.testing.assert_allclose(c, f.numpy()[:, 294:], atol=1e-4)


def test_nll_sums_reads_the_documented_batch():
    model = make_model()
    rng = np.random.default_rng(4)
    events = random_events(rng, batch=3, length=10)
    lengths = [9, 6, 3]
    for row, length in enumerate(lengths):
        events[row, length + 1:] = START_ID  # padding after the END row
    batch = make_batch(events, lengths)
    sums = model.nll_sums(batch)
    assert {"loss", "nll", "nll_end", "nll_pitch", "nll_duration", "nll_atb",
            "events", "tokens", "notes", "notes_atb", "ends"} <= set(sums)
    assert float(sums["events"]) == sum(lengths) - 3
    assert float(sums["ends"]) == 3
    # The loss is the masked sum of the token NLLs.
    expected = 0.0
    for index, logits in enumerate(model.logits(batch)):
        log_probs = tf.nn.log_softmax(
            without_start(logits, FIELDS[index].vocab_size)).numpy()
        for row, length in enumerate(lengths):
            for t in range(length):
                for v in range(VOICES):
                    expected -= log_probs[row, t, v,
                                          events[row, t + 1, v, index]]
    np.testing.assert_allclose(float(sums["loss"]), expected, rtol=1e-4)
    # Padding at the end changes nothing before it (the causal mask).
    short = model.logits(make_batch(events[2:3, :4]))
    for s, full in zip(short, model.logits(batch)):
        np.testing.assert_allclose(s.numpy()[0], full.numpy()[2, :3],
                                   atol=1e-5)


def test_a_few_adam_steps_learn_a_repetitive_corpus():
    model = make_model(d_model=32, ff_size=64, dropout=0.0)
    rng = np.random.default_rng(5)
    pattern = random_events(rng, batch=1, length=5)[0, 1:]  # 4 events
    events = np.zeros([8, 25, VOICES, len(FIELDS)], np.int32)
    for row in range(8):
        shift = row % 4
        events[row, 1:] = np.tile(pattern, (7, 1, 1))[shift:shift + 24]
    batch = make_batch(events)
    variables = model.trainable_variables
    # Adam by hand: tracing Keras' optimizer would double the test's time.
    moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v)))
               for v in variables]
    count = tf.Variable(0.0)

    @tf.function
    def train_step(rate=3e-3, beta1=0.9, beta2=0.999):
        with tf.GradientTape() as tape:
            sums = model.nll_sums(batch, training=True)
            loss = sums["loss"] / sums["events"]
        count.assign_add(1.0)
        scale = rate * tf.sqrt(1 - beta2 ** count) / (1 - beta1 ** count)
        for v, g, (m, s) in zip(variables, tape.gradient(loss, variables),
                                moments):
            g = tf.convert_to_tensor(g)  # embeddings give IndexedSlices
            m.assign(beta1 * m + (1 - beta1) * g)
            s.assign(beta2 * s + (1 - beta2) * g * g)
            v.assign_sub(scale * m / (tf.sqrt(s) + 1e-7))

    first = float(model.nll_sums(batch)["loss"])
    for _ in range(40):
        train_step()
    last = float(model.nll_sums(batch)["loss"])
    assert last < 0.3 * first, (first, last)


@pytest.mark.parametrize("argument, value", [
    ("num_layers", 0), ("d_model", 18), ("num_heads", 0), ("ff_size", 0),
    ("dropout", 1.0), ("dropout", -0.1), ("attention_dropout", 1.0)])
def test_bad_arguments_name_themselves(argument, value):
    with pytest.raises(ValueError, match=argument):
        make_model(**{argument: value})


def test_training_mode_applies_dropout():
    model = make_model(dropout=0.5, attention_dropout=0.5)
    batch = make_batch(random_events(np.random.default_rng(6)))
    evaluation = model.logits(batch)[0].numpy()
    np.testing.assert_array_equal(evaluation, model.logits(batch)[0].numpy())
    assert not np.allclose(evaluation,
                           model.logits(batch, training=True)[0].numpy())


def _loop(model, events, primer_rows, max_new_events):
    """`start`, then a `tf.while_loop` of `voice_logits`/`advance` over the
    given events; returns the logits `[steps, B, V, vocab]` per field."""
    steps = events.shape[1] - primer_rows
    state = model.start(events[:, :primer_rows], {}, max_new_events)
    arrays = tuple(tf.TensorArray(tf.float32, size=steps)
                   for _ in FIELDS)

    def body(step, state, arrays):
        event = events[:, primer_rows + step]
        voices = [model.voice_logits(state, event, v) for v in range(VOICES)]
        arrays = tuple(
            array.write(step, tf.stack([voices[v][f] for v in range(VOICES)],
                                       axis=1))
            for f, array in enumerate(arrays))
        return step + 1, model.advance(state, event, {}), arrays

    _, _, arrays = tf.while_loop(lambda step, *_: step < steps, body,
                                 (tf.constant(0), state, arrays))
    return tuple(array.stack() for array in arrays)


def test_the_generation_loop_compiles_with_and_without_xla():
    model = make_model()
    events = tf.constant(random_events(np.random.default_rng(7), length=12))
    forced = [f.numpy().transpose(1, 0, 2, 3)[2:]
              for f in model.logits(make_batch(events.numpy()))]
    eager = _loop(model, events, 3, 16)
    # `polyframe.generation` passes the capacity as a tensor, without XLA.
    graph = tf.function(functools.partial(_loop, model))(
        events, 3, tf.constant(16))
    xla = tf.function(functools.partial(_loop, model), jit_compile=True)(
        events, 3, 16)
    for e, g, x, f in zip(eager, graph, xla, forced):
        np.testing.assert_allclose(e.numpy(), f, atol=1e-4)
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-5)
        np.testing.assert_allclose(x.numpy(), e.numpy(), atol=1e-4)

