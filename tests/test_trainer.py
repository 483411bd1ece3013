"""The generic trainer on a tiny model and synthetic pieces: learning, the
best checkpoint kept apart, early stopping, and exact resumption."""

import functools
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from polyframe import plugin_loading, preemption, registries
from polyframe.data import pipeline
from polyframe.distribution import make_strategy
from polyframe.encoding import Field
from polyframe.errors import UserFacingError
from polyframe.model_dir import ModelDir
from polyframe.trainer import Trainer, TrainConfig, _EpochFeed
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
        lambda rng: pipeline.epoch_of(train, 8, FRAMING, rng),
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


@pytest.mark.parametrize("checkpoint_every_epochs", [1, 100])
def test_early_stopping_after_patience_epochs(tmp_path,
                                              checkpoint_every_epochs):
    rng = np.random.default_rng(3)
    noise = [np.stack([rng.integers(1, 8, (16, 4)),
                       rng.integers(1, 4, (16, 4))], -1).astype(np.int32)
             for _ in range(8)]
    settings = dict(max_epochs=60, patience=2, learning_rate=0.05,
                    checkpoint_every_epochs=checkpoint_every_epochs)
    trainer = make_trainer(tmp_path, **settings)
    fit(trainer, noise, noise[:2] + scale_pieces(2))
    stopped_at = int(trainer.epoch)
    assert stopped_at < 60
    assert int(trainer.epochs_without_improvement) == 2
    # A rerun of a finished run trains no further: the early stop saved
    # its state even between two periodic saves.
    again = make_trainer(tmp_path, **settings)
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


def one_batch(pieces, seed=0):
    windows = pipeline.training_windows(pieces, 8, FRAMING,
                                        np.random.default_rng(seed))
    return next(iter(pipeline.to_dataset(windows, 4).take(1)))


def test_a_step_with_a_non_finite_loss_is_not_applied(tmp_path):
    trainer = make_trainer(tmp_path)
    batch = one_batch(scale_pieces(4))
    before = [v.numpy() for v in trainer.model.trainable_variables]
    poisoned = dict(batch, mask=batch["mask"] * np.nan)
    sums = trainer._train_step(poisoned)
    assert float(sums["skipped"]) == 1.0
    assert int(trainer.optimizer.iterations) == 0
    for old, variable in zip(before, trainer.model.trainable_variables):
        np.testing.assert_array_equal(old, variable.numpy())
    sums = trainer._train_step(batch)
    assert float(sums["skipped"]) == 0.0
    assert int(trainer.optimizer.iterations) == 1
    assert any(not np.array_equal(old, v.numpy()) for old, v in
               zip(before, trainer.model.trainable_variables))


def test_training_stops_after_too_many_non_finite_steps_in_a_row(tmp_path):
    train, valid = scale_pieces(12), scale_pieces(3, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=3, max_nonfinite_steps=3)
    fit(trainer, train, valid)  # Three good epochs: a best checkpoint.
    best = trainer.restore_best()
    finite = [v.numpy() for v in trainer.model.trainable_variables]

    class PoisonedWindows(pipeline.EpochWindows):
        def chunks(self, size=256, start=0, limit=None):
            for chunk in super().chunks(size, start, limit):
                yield dict(chunk, mask=chunk["mask"] * np.nan)

    def poisoned_windows(rng):
        return PoisonedWindows(lambda: iter(train),
                               pipeline.piece_shapes(train, FRAMING), 8,
                               FRAMING, rng, shuffle_windows=1000)

    again = make_trainer(tmp_path, max_epochs=6, max_nonfinite_steps=3)
    again.restore_latest()
    step = int(again.step)
    with pytest.raises(UserFacingError, match=(
            rf"training diverged: 3 steps in a row up to step {step + 3} "
            r"had a non-finite loss or gradient and were not applied; the "
            rf"best checkpoint \({os.path.basename(best)}\) keeps finite")):
        again.fit(poisoned_windows,
                  lambda: pipeline.whole_pieces(valid, 8, FRAMING))
    for old, variable in zip(finite, again.model.trainable_variables):
        np.testing.assert_array_equal(old, variable.numpy())


def test_the_time_budget_counts_every_session_of_a_run(tmp_path):
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    first = make_trainer(tmp_path, max_epochs=1)
    fit(first, train, valid)
    assert float(first.trained_seconds) > 0
    # As if the first session had trained for an hour.
    first.trained_seconds.assign(3600.0)
    first._latest.save(checkpoint_number=int(first.step))
    resumed = make_trainer(tmp_path, max_epochs=5, max_train_minutes=30)
    fit(resumed, train, valid)
    assert int(resumed.epoch) == 2  # One more epoch, then the budget is spent.
    fresh = make_trainer(tmp_path / "fresh", max_epochs=2,
                         max_train_minutes=30)
    fit(fresh, train, valid)
    assert int(fresh.epoch) == 2  # The budget alone stops nothing here.


def counted(valid, trainer):
    """Validation batches that note the step at which they are asked for."""
    calls = []

    def batches():
        calls.append(int(trainer.step))
        return pipeline.whole_pieces(valid, 8, FRAMING)

    return batches, calls


def test_validation_every_few_epochs_and_always_after_the_last(tmp_path):
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=7, validate_every_epochs=3,
                           patience=0)
    batches, calls = counted(valid, trainer)
    ends = []
    trainer.fit(lambda rng: ends.append(int(trainer.step)) or
                pipeline.epoch_of(train, 8, FRAMING, rng), batches)
    assert int(trainer.epoch) == 7
    # Epoch k's windows are made when epoch k - 1 has ended.
    assert calls == [ends[3], ends[6], int(trainer.step)]
    best = tf.train.latest_checkpoint(str(tmp_path / "best"))
    assert int(best.rsplit("-", 1)[1]) in calls


def saved_steps(model_dir):
    """Steps of the latest-state checkpoints kept in `model_dir`."""
    state = tf.train.get_checkpoint_state(str(model_dir / "checkpoints"))
    return [int(path.rsplit("-", 1)[1])
            for path in state.all_model_checkpoint_paths]


def test_the_latest_state_is_saved_every_few_epochs_and_at_the_end(
        tmp_path):
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=7, validate_every_epochs=100,
                           checkpoint_every_epochs=3, keep_checkpoints=10,
                           patience=0)
    ends = []
    trainer.fit(lambda rng: ends.append(int(trainer.step)) or
                pipeline.epoch_of(train, 8, FRAMING, rng),
                lambda: pipeline.whole_pieces(valid, 8, FRAMING))
    # Epoch k's windows are made when epoch k - 1 has ended.
    assert saved_steps(tmp_path) == [ends[3], ends[6], int(trainer.step)]


def test_the_latest_state_is_saved_with_every_new_best(tmp_path):
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=6, validate_every_epochs=2,
                           checkpoint_every_epochs=100, keep_checkpoints=10,
                           patience=0)
    bests = []
    trainer.fit(lambda rng: pipeline.epoch_of(train, 8, FRAMING, rng),
                lambda: pipeline.whole_pieces(valid, 8, FRAMING),
                on_best=bests.append)
    assert len(bests) == 3  # The scale is learnt: every validation is best.
    assert saved_steps(tmp_path) == bests


def test_an_epoch_end_saves_its_counters_over_a_save_at_the_same_step(
        tmp_path):
    """A save every step also lands on each epoch's last step, before the
    epoch is counted and validated; the epoch's end must still save."""
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=3, checkpoint_every_steps=1,
                           checkpoint_every_epochs=100, patience=0)
    fit(trainer, train, valid)
    resumed = make_trainer(tmp_path, max_epochs=3)
    assert resumed.restore_latest() == int(trainer.step)
    assert int(resumed.epoch) == 3 and int(resumed.step_in_epoch) == 0
    assert float(resumed.best_valid) == float(trainer.best_valid)


def test_a_stop_signal_during_validation_saves_the_latest_state(tmp_path):
    """A signal that lands after an epoch's last step, while it is being
    validated, saves that step although no periodic save is due and the
    validation is no better (a rate too small to change a weight)."""
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=3, learning_rate=1e-30,
                           checkpoint_every_epochs=100, patience=0)
    calls = []

    def valid_batches():
        calls.append(int(trainer.step))
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return pipeline.whole_pieces(valid, 8, FRAMING)

    with pytest.raises(preemption.Preempted):
        trainer.fit(lambda rng: pipeline.epoch_of(train, 8, FRAMING, rng),
                    valid_batches)
    assert saved_steps(tmp_path) == calls
    assert int(trainer.epochs_without_improvement) == 1


def test_a_spent_budget_still_validates_its_last_epoch(tmp_path):
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=50, validate_every_epochs=10,
                           max_train_minutes=1)
    trainer.trained_seconds.assign(3600.0)
    trainer._latest.save(checkpoint_number=0)
    resumed = make_trainer(tmp_path, max_epochs=50, validate_every_epochs=10,
                           max_train_minutes=1)
    resumed.restore_latest()
    batches, calls = counted(valid, resumed)
    resumed.fit(lambda rng: pipeline.epoch_of(train, 8, FRAMING, rng),
                batches)
    assert int(resumed.epoch) == 1 and len(calls) == 1
    assert tf.train.latest_checkpoint(str(tmp_path / "best"))


def test_each_epoch_reads_its_windows_generator_to_the_end(tmp_path):
    """One pipeline reads every epoch, so each epoch must hand it exactly
    the windows its whole batches take: a window left over would be read
    as the next epoch's first."""
    train, valid = scale_pieces(9), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=3)
    endings, windows_taken, windows_left = [], [], []

    def recorded_epoch(rng):
        epoch = pipeline.epoch_of(train, 8, FRAMING, rng)
        # Whole batches of 4 only: the windows left over are never read.
        windows_taken.append(epoch.num_windows // 4 * 4)
        windows_left.append(epoch.num_windows % 4)
        chunks = epoch.chunks

        def recorded(*args, **kwargs):
            taken = 0
            try:
                for chunk in chunks(*args, **kwargs):
                    taken += len(chunk["mask"])
                    yield chunk
            except GeneratorExit:
                endings.append("left unfinished")
                raise
            endings.append(taken)

        epoch.chunks = recorded
        return epoch

    trainer.fit(recorded_epoch,
                lambda: pipeline.whole_pieces(valid, 8, FRAMING))
    assert endings == windows_taken
    assert any(windows_left)


def test_a_failing_window_generator_stops_the_fit_with_its_error(tmp_path):
    train, valid = scale_pieces(9), scale_pieces(2, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=3)

    class BrokenWindows(pipeline.EpochWindows):
        def chunks(self, size=256, start=0, limit=None):
            raise ValueError("the pieces cannot be cut")
            yield  # pragma: no cover

    def broken_epoch(rng):
        return BrokenWindows(lambda: iter(train),
                             pipeline.piece_shapes(train, FRAMING), 8,
                             FRAMING, rng, shuffle_windows=1000)

    with pytest.raises(tf.errors.OpError, match="the pieces cannot be cut"):
        trainer.fit(broken_epoch,
                    lambda: pipeline.whole_pieces(valid, 8, FRAMING))
    assert int(trainer.step) == 0


def test_the_training_pipeline_is_not_autotuned(tmp_path):
    """Freeing an autotuned iterator waits for its tuning thread, which
    after a long fit left the job idle for over a minute (BENCHMARKS.md,
    "The end of a fit"); the pipeline prefetches a fixed number instead."""
    trainer = make_trainer(tmp_path)
    signature = pipeline.epoch_of(scale_pieces(4), 8, FRAMING,
                                  np.random.default_rng(0)).signature()
    dataset = trainer._training_dataset(
        _EpochFeed(), signature, tf.distribute.InputContext())
    assert dataset.options().autotune.enabled is False
    assert dataset.element_spec["events"].shape[0] == 4
