"""The event RNN, its heads and the generation loop, on small real tensors."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from polyframe import layers, plugin_loading, registries
from polyframe.data import pipeline
from polyframe.encoding import START_ID, Field
from polyframe.sequence_model import without_start
from polyframe.generation import Generator
from polyframe_plugins.constraints.basic import ForbidStart
from polyframe_plugins.models.event_rnn import EventRNN

from helpers import assert_greedy_is_teacher_forced_argmax

plugin_loading.load_plugins()
FIELDS = (Field("pitch", 12), Field("duration", 5))
VOICES = 4


def make_model(head_name, cell_name="lstm", time_features=False,
               held_counts=0, prior_tokens=False, **cell_settings):
    tf.random.set_seed(0)
    cell = functools.partial(registries.CELLS.get(cell_name), num_units=16,
                             **cell_settings)
    head = functools.partial(registries.HEADS.get(head_name), hidden_size=16)
    return EventRNN(FIELDS, VOICES, cell, head, num_layers=2,
                    default_embedding_size=4, time_features=time_features,
                    held_counts=held_counts, prior_tokens=prior_tokens)


def random_events(rng, batch=3, length=6):
    events = np.stack([rng.integers(1, f.vocab_size, (batch, length, VOICES))
                       for f in FIELDS], axis=-1).astype(np.int32)
    events[:, 0] = START_ID
    return events


def test_autoregressive_voice_sees_only_earlier_voices_of_its_event():
    model = make_model("autoregressive")
    rng = np.random.default_rng(0)
    events = random_events(rng)
    changed = events.copy()
    changed[:, -1, 1] = (events[:, -1, 1] % 4) + 1  # alto of the last event
    before = [x.numpy() for x in model.logits({'events': tf.constant(events)})]
    after = [x.numpy() for x in model.logits({'events': tf.constant(changed)})]
    for b, a in zip(before, after):
        np.testing.assert_allclose(b[:, :-1], a[:, :-1])  # earlier steps
        np.testing.assert_allclose(b[:, -1, :2], a[:, -1, :2])  # S, A
        assert not np.allclose(b[:, -1, 2:], a[:, -1, 2:])  # T, B see it


def test_independent_head_ignores_the_predicted_event():
    model = make_model("independent")
    rng = np.random.default_rng(1)
    events = random_events(rng)
    changed = events.copy()
    changed[:, -1] = (events[:, -1] % 4) + 1
    for b, a in zip(model.logits({'events': tf.constant(events)}),
                    model.logits({'events': tf.constant(changed)})):
        np.testing.assert_allclose(b.numpy(), a.numpy())


@pytest.mark.parametrize("head_name", ["autoregressive", "independent"])
def test_start_gets_no_probability_in_the_loss(head_name):
    model = make_model(head_name)
    events = random_events(np.random.default_rng(2))
    batch = {"events": tf.constant(events)}
    raw = model.logits(batch)
    for field, logits, losses in zip(FIELDS, raw, model.token_losses(batch)):
        logits = logits.numpy()
        kept = np.delete(logits, START_ID, axis=-1)  # START is not a target.
        log_norm = np.log(np.exp(kept).sum(-1))
        targets = events[:, 1:, :, FIELDS.index(field)]
        picked = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
        np.testing.assert_allclose(losses.numpy(), log_norm - picked,
                                   rtol=1e-5)


def test_nll_sums_match_a_direct_computation():
    model = make_model("autoregressive")
    rng = np.random.default_rng(3)
    pieces = [random_events(rng, batch=1, length=9)[0, 1:] for _ in range(3)]
    def note_starts(events):
        return events[..., 0] >= 3

    batch = next(pipeline.whole_pieces(pieces, 8,
                                       pipeline.Framing(note_starts)))
    sums = model.nll_sums({k: tf.constant(v) for k, v in batch.items()})
    logits = [without_start(x, f.vocab_size) for x, f in zip(
        model.logits({"events": tf.constant(batch["events"])}), FIELDS)]
    targets = batch["events"][:, 1:]
    expected = 0.0
    for index, field_logits in enumerate(logits):
        log_probs = tf.nn.log_softmax(field_logits).numpy()
        picked = np.take_along_axis(log_probs, targets[..., index, None],
                                    -1)[..., 0]
        expected -= (picked * batch["mask"][..., None]).sum()
    assert float(sums["nll"]) == pytest.approx(expected, rel=1e-5)
    assert float(sums["events"]) == 24
    assert float(sums["tokens"]) == 24 * VOICES * len(FIELDS)
    assert float(sums["notes"]) == sum(note_starts(p).sum() for p in pieces)
    first_event = 0.0
    for index, field_logits in enumerate(logits):
        log_probs = tf.nn.log_softmax(field_logits[:, 0]).numpy()
        first_event -= np.take_along_axis(
            log_probs, targets[:, 0, :, index, None], -1).sum()
    assert float(sums["nll_first"]) == pytest.approx(first_event, rel=1e-5)
    assert float(sums["firsts"]) == 3
    # A window cut from inside a piece holds no piece's first event.
    inside = {k: tf.constant(v[:, 2:]) for k, v in batch.items()}
    assert float(model.nll_sums(inside)["firsts"]) == 0.0


def generator(model, sampler):
    return Generator(model, sampler, [ForbidStart(None)])


@pytest.mark.parametrize("head_name", ["autoregressive", "independent"])
def test_generation_keeps_primer_is_seeded_and_never_draws_start(head_name):
    model = make_model(head_name)
    sampler = registries.SAMPLERS.get("temperature")(temperature=1.0)
    generate = generator(model, sampler)
    rng = np.random.default_rng(4)
    primers = random_events(rng, batch=2, length=4)
    first = generate(primers, max_events=7, seed=11)
    assert first.events.shape == (2, 3 + 7, VOICES, len(FIELDS))
    np.testing.assert_array_equal(first.lengths, [7, 7])
    assert not first.ended.any()  # No END in this vocabulary.
    np.testing.assert_array_equal(first.events[:, :3], primers[:, 1:])
    assert (first.events != START_ID).all()
    np.testing.assert_array_equal(first.events,
                                  generate(primers, 7, seed=11).events)
    assert not np.array_equal(first.events,
                              generate(primers, 7, seed=12).events)


def test_generation_from_nothing_but_start():
    model = make_model("autoregressive", cell_name="gru")
    generate = generator(model, registries.SAMPLERS.get("greedy")())
    primers = np.zeros((2, 1, VOICES, len(FIELDS)), np.int32)
    events = generate(primers, max_events=5, seed=0).events
    assert events.shape == (2, 5, VOICES, len(FIELDS))
    np.testing.assert_array_equal(events[0], events[1])  # greedy, same input


def test_greedy_generation_matches_teacher_forced_argmax():
    assert_greedy_is_teacher_forced_argmax(
        make_model("autoregressive"),
        random_events(np.random.default_rng(5), batch=1, length=3), 4)


@pytest.mark.parametrize("head_name", ["autoregressive", "independent"])
def test_each_sample_depends_on_the_seed_and_its_index_only(head_name):
    model = make_model(head_name)
    generate = generator(model, registries.SAMPLERS.get("temperature")(
        temperature=1.0))
    primers = np.repeat(random_events(np.random.default_rng(6), 1, 3), 4, 0)
    four = generate(primers, max_events=6, seed=3).events
    two = generate(primers[:2], max_events=6, seed=3).events
    np.testing.assert_array_equal(two, four[:2])
    assert not np.array_equal(four[0], four[1])  # Rows draw differently.


def test_time_features_are_exact_phases_and_saturating_progress():
    features = layers.time_features(tf.constant([0.0, 1.0, 1000.0])).numpy()
    assert layers.NUM_TIME_FEATURES == features.shape[1] == 10
    # sin and cos of the phase in 1, 2 and 4 quarters, then time / 16, 32,
    # 64 and 128 quarters, at most 1.
    np.testing.assert_allclose(features[0], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
                               atol=1e-6)
    np.testing.assert_allclose(
        features[1], [0, 0, 1, 1, -1, 0, 1 / 16, 1 / 32, 1 / 64, 1 / 128],
        atol=1e-6)
    np.testing.assert_allclose(features[2, 6:], [1, 1, 1, 1])


def test_time_features_make_the_rnn_read_event_times():
    events = tf.constant(random_events(np.random.default_rng(2)))
    times = np.arange(5, dtype=np.float32)[None].repeat(3, axis=0)
    timed = make_model("autoregressive", time_features=True)
    assert timed.features == ("times",)
    assert make_model("autoregressive").features == ()
    at_start = timed.logits({"events": events, "times": tf.constant(times)})
    shifted = timed.logits({"events": events,
                            "times": tf.constant(times + 0.5)})
    assert not np.allclose(at_start[0].numpy(), shifted[0].numpy())


def test_training_steps_reach_the_cells_weight_dropout():
    """With no other dropout, training logits change from call to call only
    through the LSTM's weight dropout, which `run_stack` must switch on."""
    events = tf.constant(random_events(np.random.default_rng(4)))

    def twice(model, training):
        return [model.logits({"events": events}, training=training)[0].numpy()
                for _ in range(2)]

    dropped = make_model("autoregressive", weight_dropout=0.5)
    first, second = twice(dropped, training=True)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(*twice(dropped, training=False))
    np.testing.assert_array_equal(*twice(make_model("autoregressive"),
                                         training=True))


def test_greedy_generation_with_times_matches_teacher_forcing():
    # Without an encoder clock the loop counts events: the successor of
    # row t starts at t.
    model = make_model("autoregressive", time_features=True)
    generate = generator(model, registries.SAMPLERS.get("greedy")())
    primers = random_events(np.random.default_rng(5), batch=1, length=3)
    events = generate(primers, max_events=4, seed=0).events
    full = np.concatenate([primers[:, :1], events], axis=1)
    times = np.arange(full.shape[1] - 1, dtype=np.float32)[None]
    logits = model.logits({"events": tf.constant(full),
                           "times": tf.constant(times)})
    for index, (field, field_logits) in enumerate(zip(FIELDS, logits)):
        predicted = tf.argmax(without_start(field_logits, field.vocab_size),
                              -1).numpy()
        np.testing.assert_array_equal(predicted[:, 2:], events[:, 2:, :, index])


def test_held_counts_count_repeats_per_voice():
    tokens = tf.constant([[[1, 5], [2, 5], [2, 5], [2, 6], [3, 6]]])
    np.testing.assert_array_equal(
        layers.held_counts(tokens).numpy()[0].T,
        [[0, 0, 1, 2, 0], [0, 1, 2, 0, 1]])


def test_the_rnn_reads_each_voices_held_count_one_hot_and_capped():
    model = make_model("autoregressive", held_counts=2)
    assert model.input_size == make_model("autoregressive").input_size + (
        VOICES * 3)
    events = random_events(np.random.default_rng(1), batch=1, length=5)
    events[0, 1:, 0, 0] = 7  # soprano: START, then 7 four times
    events[0, 1:, 1, 0] = [3, 4, 3, 4]  # alto: never the same twice
    inputs = model._inputs(tf.constant(events), None,
                           model._history(tf.constant(events)))
    held = inputs.numpy()[0, :, -VOICES * 3:].reshape(5, VOICES, 3)
    np.testing.assert_array_equal(held[:, 0].argmax(-1), [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(held[:, 1].argmax(-1), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(held.sum(-1), np.ones((5, VOICES)))


def test_greedy_generation_with_held_counts_matches_teacher_forcing():
    primers = random_events(np.random.default_rng(5), batch=2, length=4)
    primers[:, 1:, 0] = primers[:, 1:2, 0]  # the primer's voices repeat
    assert_greedy_is_teacher_forced_argmax(
        make_model("autoregressive", held_counts=3), primers, 8)


def test_prior_tokens_are_what_each_voice_had_before_its_current_run():
    tokens = tf.constant([[[1, 5], [2, 5], [2, 5], [2, 6], [3, 6]]])
    np.testing.assert_array_equal(
        layers.prior_tokens(tokens).numpy()[0].T,
        [[START_ID, 1, 1, 1, 2], [START_ID, START_ID, START_ID, 5, 5]])


def test_the_rnn_reads_each_voices_prior_token_embedded():
    model = make_model("autoregressive", prior_tokens=True)
    width = model.prior_embedding.output_size
    assert model.input_size == make_model("autoregressive").input_size + width
    events = random_events(np.random.default_rng(1), batch=1, length=5)
    events[0, 1:, 0, 0] = [3, 3, 8, 8]  # soprano: 3, then 8 from row 3
    inputs = model._inputs(tf.constant(events), None,
                           model._history(tf.constant(events)))
    read = inputs.numpy()[0, :, -width:]
    expected = model.prior_embedding(tf.constant(
        layers.prior_tokens(events[None, 0, :, :, 0])[0, ..., None]))
    np.testing.assert_array_equal(read, expected.numpy())
    soprano = model.prior_embedding.tables[0].numpy()[:FIELDS[0].vocab_size]
    np.testing.assert_array_equal(read[3, :soprano.shape[1]], soprano[3])


def test_greedy_generation_with_prior_tokens_matches_teacher_forcing():
    primers = random_events(np.random.default_rng(6), batch=2, length=4)
    primers[:, 2:, 0] = primers[:, 1:2, 0]  # the primer's voices repeat
    assert_greedy_is_teacher_forced_argmax(
        make_model("autoregressive", held_counts=3, prior_tokens=True),
        primers, 8)
