"""The ensemble model: a token-by-token mixture of independently initialised
members, trained on the mean of their own losses."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from polyframe import checks, plugin_loading, registries
from polyframe.encoding import START_ID
from polyframe_plugins.models.ensemble import Ensemble
from polyframe_plugins.models.event_rnn import EventRNN

from frames import (EVERY_FRAME, PITCH, VOICES, canonical,
                    frame_probabilities)

plugin_loading.load_plugins()


def member_factory(head_name="autoregressive"):
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=8)
    head = functools.partial(registries.HEADS.get(head_name), hidden_size=8)
    return functools.partial(EventRNN, cell=cell, head=head,
                             default_embedding_size=4)


def make_ensemble(size=3, head_name="autoregressive"):
    tf.random.set_seed(5)
    return Ensemble((PITCH,), VOICES, member_factory(head_name), size=size)


def random_batch(seed=0, batch=2, steps=5):
    rng = np.random.default_rng(seed)
    events = rng.integers(1, 6, size=(batch, steps + 1, VOICES, 1))
    events[:, 0] = START_ID
    return {"events": tf.constant(events, tf.int32),
            "mask": tf.ones((batch, steps)), "end": tf.zeros((batch, steps)),
            "notes": tf.ones((batch, steps, VOICES))}


def member_probabilities(ensemble, batch):
    """`[members, B, T, V, vocab]`, each member's softmax with START barred."""
    probabilities = []
    for member in ensemble.members:
        (logits,) = member.logits(batch)
        logits = logits.numpy().astype(np.float64)
        logits[..., START_ID] = -np.inf
        logits -= logits.max(axis=-1, keepdims=True)
        exp = np.exp(logits)
        probabilities.append(exp / exp.sum(axis=-1, keepdims=True))
    return np.stack(probabilities)


def test_is_registered_as_a_model():
    assert registries.MODELS.get("ensemble") is Ensemble


def test_members_start_from_different_weights():
    ensemble = make_ensemble(size=2)
    first, second = (m.trainable_variables for m in ensemble.members)
    assert len(first) == len(second) > 0
    # Biases start at constants; every embedding and kernel is drawn.
    random = [(a, b) for a, b in zip(first, second)
              if "kernel" in a.name or "embedding" in a.name]
    assert len(random) == 7
    for a, b in random:
        assert a.shape == b.shape
        assert not np.allclose(a.numpy(), b.numpy())


def test_the_mixture_is_the_mean_of_the_members_probabilities():
    ensemble = make_ensemble(size=3)
    batch = random_batch()
    (mixed,) = ensemble.logits(batch)
    expected = member_probabilities(ensemble, batch).mean(axis=0)
    np.testing.assert_allclose(np.exp(mixed.numpy()), expected, atol=1e-6)


def test_evaluation_scores_the_mixture_and_training_the_members():
    ensemble = make_ensemble(size=3)
    batch = random_batch(seed=1)
    targets = batch["events"].numpy()[:, 1:, :, 0]
    probabilities = member_probabilities(ensemble, batch)
    picked = np.take_along_axis(probabilities, targets[None, ..., None],
                                axis=-1)[..., 0]  # [members, B, T, V]
    (evaluation,) = ensemble.token_losses(batch, training=False)
    np.testing.assert_allclose(evaluation.numpy(),
                               -np.log(picked.mean(axis=0)), atol=1e-5)
    (training,) = ensemble.token_losses(batch, training=True)
    np.testing.assert_allclose(training.numpy(),
                               (-np.log(picked)).mean(axis=0), atol=1e-5)
    # The log of a mean is at least the mean of the logs.
    assert evaluation.numpy().sum() < training.numpy().sum()


def test_training_reaches_every_member():
    ensemble = make_ensemble(size=2)
    batch = random_batch(seed=2)
    with tf.GradientTape() as tape:
        loss = ensemble.nll_sums(batch, training=True)["loss"]
    gradients = tape.gradient(loss, ensemble.trainable_variables)
    assert len(ensemble.trainable_variables) == sum(
        len(m.trainable_variables) for m in ensemble.members)
    assert all(g is not None and
               np.abs(tf.convert_to_tensor(g).numpy()).sum() > 0
               for g in gradients)
    assert ensemble.num_parameters() == sum(m.num_parameters()
                                            for m in ensemble.members)


def test_a_single_member_ensemble_is_that_member():
    ensemble = make_ensemble(size=1)
    batch = random_batch(seed=3)
    (alone,) = ensemble.members[0].token_losses(batch)
    (mixed,) = ensemble.token_losses(batch)
    np.testing.assert_allclose(mixed.numpy(), alone.numpy(), atol=1e-5)


@pytest.mark.parametrize("primer_rows", [1, 3])
def test_cached_generation_equals_teacher_forcing(primer_rows):
    ensemble = make_ensemble(size=2)
    batch = random_batch(seed=4, steps=6)
    events = batch["events"]
    (teacher,) = ensemble.logits(batch)
    state = ensemble.start(events[:, :primer_rows], {}, 8)
    for row in range(primer_rows, events.shape[1]):
        for voice in range(VOICES):
            (logits,) = ensemble.voice_logits(state, events[:, row], voice)
            np.testing.assert_allclose(logits.numpy(),
                                       teacher[:, row - 1, voice].numpy(),
                                       atol=1e-5)
        state = ensemble.advance(state, events[:, row], {})


def test_a_mixture_of_ordered_frames_is_a_distribution_over_frames():
    ensemble = make_ensemble(size=3, head_name="ordered_frame")
    probabilities = frame_probabilities(ensemble, EVERY_FRAME)
    is_canonical = np.array([canonical(f) for f in EVERY_FRAME])
    assert probabilities[is_canonical].sum() == pytest.approx(1.0, abs=1e-5)
    assert probabilities[~is_canonical].max() == 0.0


@pytest.mark.parametrize("size", [0, 2.0, "two", True])
def test_a_bad_size_names_itself(size):
    with pytest.raises(checks.ConfigurationError,
                       match=r"models\.ensemble\.size must be a whole "
                             r"number >= 1"):
        Ensemble((PITCH,), VOICES, member_factory(), size=size)


def test_a_member_must_be_a_model_factory():
    with pytest.raises(checks.ConfigurationError,
                       match=r"models\.ensemble\.member must be a model "
                             r"factory"):
        Ensemble((PITCH,), VOICES, "event_rnn")
    with pytest.raises(checks.ConfigurationError,
                       match=r"models\.ensemble\.member must build a "
                             r"SequenceModel, got dict"):
        Ensemble((PITCH,), VOICES, lambda **kwargs: dict(kwargs))
