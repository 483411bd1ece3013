"""The categorical samplers: distributions, truncation, determinism, tracing."""

import numpy as np
import pytest
import tensorflow as tf

from polyframe.registries import SAMPLERS
from polyframe_plugins.samplers.categorical import (GreedySampler, NucleusSampler,
                                                     TemperatureSampler, TopKSampler)

DRAWS = 20000
SEED = tf.constant([7, 11], tf.int32)


def _draw_many(sampler, logits_row, draws=DRAWS, seed=SEED):
    """Samples one row of logits `draws` times in one batch; returns id counts."""
    logits = tf.tile(tf.constant([logits_row], tf.float32), [draws, 1])
    ids = sampler(logits, seed).numpy()
    assert ids.shape == (draws,) and ids.dtype == np.int32
    return np.bincount(ids, minlength=len(logits_row))


def _softmax(row):
    row = np.asarray(row, np.float64)
    exp = np.exp(row - row.max())
    return exp / exp.sum()


def test_registered_names():
    assert SAMPLERS.get("temperature") is TemperatureSampler
    assert SAMPLERS.get("top_k") is TopKSampler
    assert SAMPLERS.get("nucleus") is NucleusSampler
    assert SAMPLERS.get("greedy") is GreedySampler
    assert TemperatureSampler().temperature == 0.7


@pytest.mark.parametrize("sampler", [
        TemperatureSampler(0.0), TopKSampler(temperature=0),
        NucleusSampler(temperature=0), GreedySampler()])
def test_zero_temperature_is_argmax(sampler):
    logits = tf.random.stateless_normal([64, 30], seed=[1, 2])
    np.testing.assert_array_equal(sampler(logits, SEED),
                                  tf.argmax(logits, axis=-1, output_type=tf.int32))


def test_temperature_one_matches_softmax():
    row = [2.0, 1.0, 0.5, 0.0, -1.0, -3.0]
    frequencies = _draw_many(TemperatureSampler(1.0), row) / DRAWS
    np.testing.assert_allclose(frequencies, _softmax(row), atol=0.015)


def test_temperature_scales_logits():
    row = [1.0, 0.5, 0.0, -0.5]
    frequencies = _draw_many(TemperatureSampler(0.5), row) / DRAWS
    np.testing.assert_allclose(frequencies, _softmax(np.array(row) / 0.5), atol=0.015)


def test_top_k_stays_in_the_top_k():
    logits = tf.random.stateless_normal([256, 40], seed=[3, 4])
    top = tf.math.top_k(logits, k=5).indices.numpy()
    for step in range(10):
        ids = TopKSampler(k=5)(logits, tf.constant([step, 1])).numpy()
        assert all(i in row for i, row in zip(ids, top))


def test_top_k_renormalises_over_the_kept_ids():
    row = [3.0, 2.0, 1.0, 0.0, -1.0]
    frequencies = _draw_many(TopKSampler(k=3), row) / DRAWS
    expected = np.concatenate([_softmax(row[:3]), [0.0, 0.0]])
    np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_top_k_keeps_exactly_k_when_logits_tie():
    counts = _draw_many(TopKSampler(k=2), [1.0] * 6)
    assert np.count_nonzero(counts) == 2


def test_top_k_larger_than_vocabulary_keeps_everything():
    row = [0.0, 0.0, 0.0]
    counts = _draw_many(TopKSampler(k=50), row, draws=3000)
    assert np.all(counts > 800)


def test_nucleus_keeps_smallest_set_reaching_p():
    probs = np.array([0.05, 0.5, 0.1, 0.3, 0.05])
    row = np.log(probs)
    # Sorted: 0.5, 0.3 (0.8 < 0.85), 0.1 (0.9 >= 0.85): ids 1, 3, 2 are kept.
    counts = _draw_many(NucleusSampler(p=0.85), row)
    assert set(np.flatnonzero(counts)) == {1, 2, 3}
    expected = np.array([0, 0.5, 0.1, 0.3, 0]) / 0.9
    np.testing.assert_allclose(counts / DRAWS, expected, atol=0.015)


def test_nucleus_with_a_dominant_token_is_greedy():
    counts = _draw_many(NucleusSampler(p=0.9), np.log([0.02, 0.95, 0.03]), draws=2000)
    assert counts[1] == 2000


def test_nucleus_p_one_keeps_everything():
    row = [0.5, 0.0, -0.5, -1.0]
    frequencies = _draw_many(NucleusSampler(p=1.0), row) / DRAWS
    np.testing.assert_allclose(frequencies, _softmax(row), atol=0.015)


ALL_SAMPLERS = [TemperatureSampler(), TemperatureSampler(1.0), TopKSampler(),
                NucleusSampler(), GreedySampler()]


@pytest.mark.parametrize("sampler", ALL_SAMPLERS, ids=repr)
def test_same_seed_same_ids(sampler):
    logits = tf.random.stateless_normal([128, 50], seed=[5, 6])
    first = sampler(logits, tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_array_equal(first, sampler(logits, tf.constant([1, 2], tf.int64)))
    if not isinstance(sampler, GreedySampler):
        assert np.any(first != sampler(logits, tf.constant([1, 3], tf.int64)).numpy())


@pytest.mark.parametrize("sampler", ALL_SAMPLERS, ids=repr)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_runs_batched_inside_a_generation_loop(sampler, jit_compile):
    vocab, batch, steps = 12, 4, 6

    @tf.function(jit_compile=jit_compile)
    def generate(table, seed):
        ids = tf.zeros([batch], tf.int32)
        outputs = tf.TensorArray(tf.int32, size=steps)
        for step in tf.range(steps):
            step_seed = tf.random.experimental.stateless_fold_in(seed, step)
            ids = sampler(tf.gather(table, ids), step_seed)
            outputs = outputs.write(step, ids)
        return outputs.stack()

    table = tf.random.stateless_normal([vocab, vocab], seed=[8, 9])
    seed = tf.constant([3, 4], tf.int32)
    ids = generate(table, seed).numpy()
    assert ids.shape == (steps, batch) and ids.dtype == np.int32
    assert ids.min() >= 0 and ids.max() < vocab
    np.testing.assert_array_equal(ids, generate(table, seed))


def test_half_precision_logits():
    logits = tf.cast(tf.random.stateless_normal([8, 20], seed=[1, 1]), tf.float16)
    for sampler in ALL_SAMPLERS:
        assert sampler(logits, SEED).shape == (8,)


@pytest.mark.parametrize("make", [
        lambda: TemperatureSampler(float("nan")),
        lambda: TemperatureSampler("hot"),
        lambda: TemperatureSampler(-1.0),
        lambda: TopKSampler(k=0),
        lambda: TopKSampler(k=2.5),
        lambda: TopKSampler(temperature=float("inf")),
        lambda: NucleusSampler(p=0.0),
        lambda: NucleusSampler(p=1.5),
])
def test_rejects_bad_arguments(make):
    with pytest.raises(ValueError):
        make()
