"""The generic trainer on a tiny model and synthetic pieces: learning, the
best checkpoint kept apart, early stopping, and exact resumption."""

import functools

import numpy as np
import tensorflow as tf

from polyframe import plugin_loading, registries
from polyframe.data import pipeline
from polyframe.distribution import make_strategy
from polyframe.encoding import Field
from polyframe.model_dir import ModelDir
from polyframe.trainer import Trainer, TrainConfig
from polyframe_plugins.models.event_rnn import EventRNN

plugin_loading.load_plugins()
FIELDS = (Field("pitch", 8), Field("duration", 4))


def note_starts(events):
    return events[..., 0] >= 3


FRAMING = pipeline.Framing(note_starts)


def scale_pieces(count, length=24, seed=0):
    """Voices walking up a scale: easy to learn, so NLL must fall."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(count):
        start = rng.integers(0, 5)
        pitch = 1 + (start + np.arange(length)[:, None] + np.arange(4)) % 7
        duration = np.full((length, 4), 2)
        pieces.append(np.stack([pitch, duration], -1).astype(np.int32))
    return pieces


def make_trainer(model_dir, **overrides):
    settings = dict(batch_size=4, window_length=8, learning_rate=0.01,
                    eval_batch_size=8)
    settings.update(overrides)
    config = TrainConfig(**settings)
    cell = functools.partial(registries.CELLS.get("lstm"), num_units=16)
    head = functools.partial(registries.HEADS.get("autoregressive"),
                             hidden_size=16)
    return Trainer(config, ModelDir(str(model_dir)), make_strategy("cpu"),
                   lambda: EventRNN(FIELDS, 4, cell, head,
                                    default_embedding_size=4))


def fit(trainer, train, valid):
    trainer.restore_latest()
    trainer.fit(
        lambda rng: pipeline.training_windows(train, 8, FRAMING, rng),
        lambda: pipeline.whole_pieces(valid, 8, FRAMING))


def test_learns_and_keeps_the_best_checkpoint_apart(tmp_path):
    train, valid = scale_pieces(12), scale_pieces(3, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=4)
    before = trainer.evaluate(pipeline.whole_pieces(valid, 8, FRAMING))
    fit(trainer, train, valid)
    after = trainer.evaluate(pipeline.whole_pieces(valid, 8, FRAMING))
    assert after["nll_per_event"] < 0.5 * before["nll_per_event"]
    assert after["num_events"] == 3 * 24
    best = tf.train.latest_checkpoint(str(tmp_path / "best"))
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert best and latest and best != latest
    assert trainer.restore_best() == best
    scalars = list((tmp_path / "tensorboard" / "valid").iterdir())
    assert scalars


def test_early_stopping_after_patience_epochs(tmp_path):
    rng = np.random.default_rng(3)
    noise = [np.stack([rng.integers(1, 8, (16, 4)),
                       rng.integers(1, 4, (16, 4))], -1).astype(np.int32)
             for _ in range(8)]
    trainer = make_trainer(tmp_path, max_epochs=60, patience=2,
                           learning_rate=0.05)
    fit(trainer, noise, noise[:2] + scale_pieces(2))
    stopped_at = int(trainer.epoch)
    assert stopped_at < 60
    assert int(trainer.epochs_without_improvement) == 2
    # A rerun of a finished run trains no further.
    again = make_trainer(tmp_path, max_epochs=60, patience=2,
                         learning_rate=0.05)
    fit(again, noise, noise[:2])
    assert int(again.epoch) == stopped_at


def test_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tmp_path):
    train, valid = scale_pieces(10), scale_pieces(2, seed=1)
    straight = make_trainer(tmp_path / "straight", max_epochs=2)
    fit(straight, train, valid)

    first = make_trainer(tmp_path / "resumed", max_epochs=2, max_steps=5)
    fit(first, train, valid)
    assert int(first.step) == 5 and int(first.epoch) == 0  # mid-epoch stop
    second = make_trainer(tmp_path / "resumed", max_epochs=2)
    assert second.restore_latest() == 5
    fit(second, train, valid)

    assert int(second.step) == int(straight.step)
    for a, b in zip(straight.model.trainable_variables,
                    second.model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5,
                                   atol=1e-6)
