"""The learning-rate schedule, the weight average that is validated and kept
as best, and the training time accounted by part: exact values on the
schedule and the average, and each wired into the real trainer."""

import json

import numpy as np
import pytest
import tensorflow as tf

from polyframe import time_profile
from polyframe.data import pipeline
from polyframe.checks import ConfigurationError
from polyframe.learning_rate import WarmupCosine
from polyframe.trainer import TrainConfig
from polyframe.weight_average import WeightAverage
from test_trainer import FRAMING, fit, make_trainer, one_batch, scale_pieces


@pytest.mark.parametrize("step, rate", [
    (0, 0.0025), (2, 0.0075), (3, 0.01), (4, 0.01),
    (8, 0.01 * (0.1 + 0.9 * 0.5)), (12, 0.001), (40, 0.001)])
def test_warmup_then_cosine_decay(step, rate):
    schedule = WarmupCosine(0.01, warmup_steps=4, decay_steps=12,
                            final_fraction=0.1)
    assert float(schedule(step)) == pytest.approx(rate, rel=1e-6)


def test_a_schedule_without_warmup_starts_at_the_peak_and_may_stay_there():
    assert float(WarmupCosine(0.01, decay_steps=10)(0)) == pytest.approx(0.01)
    assert float(WarmupCosine(0.01, decay_steps=10)(10)) == 0.0
    assert float(WarmupCosine(0.01, warmup_steps=2)(7)) == pytest.approx(0.01)


def test_the_first_step_of_a_warmup_moves_every_weight_by_its_rate(tmp_path):
    # Adam's first update is the rate times the gradient's sign (up to its
    # epsilon), so the largest change of a weight is the first step's rate.
    trainer = make_trainer(tmp_path, learning_rate=0.01, warmup_steps=100)
    before = [v.numpy() for v in trainer.model.trainable_variables]
    trainer._train_step(one_batch(scale_pieces(4)))
    moved = max(np.abs(v.numpy() - b).max() for v, b in
                zip(trainer.model.trainable_variables, before))
    assert moved == pytest.approx(0.01 / 100, rel=1e-3)


def test_the_trainer_decays_the_rate_to_its_final_fraction(tmp_path):
    train, valid = scale_pieces(12), scale_pieces(3, seed=1)
    trainer = make_trainer(tmp_path, learning_rate=0.01, warmup_steps=2,
                           decay_steps=6, final_learning_rate_fraction=0.25,
                           max_steps=6)
    fit(trainer, train, valid)
    assert int(trainer.optimizer.iterations) == 6
    assert float(trainer.optimizer.learning_rate) == pytest.approx(0.0025)


@pytest.mark.parametrize("share, rate", [
    (0.0, 0.01), (0.5, 0.01 * (0.2 + 0.8 * 0.5)), (1.0, 0.002),
    (1.7, 0.002)])
def test_a_decay_can_follow_a_variable_instead_of_the_steps(share, rate):
    progress = tf.Variable(share, dtype=tf.float32)
    schedule = WarmupCosine(0.01, final_fraction=0.2, progress=progress)
    assert float(schedule(123)) == pytest.approx(rate, rel=1e-6)


def test_a_decay_has_one_end():
    with pytest.raises(ValueError, match="not both"):
        WarmupCosine(0.01, decay_steps=10, progress=tf.Variable(0.0))


def test_the_trainer_decays_the_rate_with_the_time_budget_spent(tmp_path):
    # A run resumed after half its budget takes its next step at the rate
    # of the decay's middle: Adam's first update moves the largest weight
    # by exactly that rate (see the warm-up test above). The budget is long
    # enough that the milliseconds before the step do not show.
    trainer = make_trainer(tmp_path, learning_rate=0.01,
                           decay_with_budget=True,
                           final_learning_rate_fraction=0.2,
                           max_train_minutes=1000.0, max_steps=1)
    trainer.trained_seconds.assign(30000.0)
    before = [v.numpy() for v in trainer.model.trainable_variables]
    fit(trainer, scale_pieces(12), scale_pieces(3, seed=1))
    assert int(trainer.step) == 1
    moved = max(np.abs(v.numpy() - b).max() for v, b in
                zip(trainer.model.trainable_variables, before))
    assert moved == pytest.approx(0.01 * (0.2 + 0.8 * 0.5), rel=1e-3)
    assert float(trainer.budget_share) == pytest.approx(0.5, rel=1e-4)


def test_without_the_budget_decay_the_spent_budget_leaves_the_rate(tmp_path):
    trainer = make_trainer(tmp_path, learning_rate=0.01,
                           final_learning_rate_fraction=0.2,
                           max_train_minutes=1000.0, max_steps=1)
    trainer.trained_seconds.assign(30000.0)
    before = [v.numpy() for v in trainer.model.trainable_variables]
    fit(trainer, scale_pieces(12), scale_pieces(3, seed=1))
    moved = max(np.abs(v.numpy() - b).max() for v, b in
                zip(trainer.model.trainable_variables, before))
    assert moved == pytest.approx(0.01, rel=1e-3)


def test_weight_decay_shrinks_every_weight_by_its_rate_before_the_update(
        tmp_path):
    # Two trainers from the same initial weights take the same step on the
    # same batch; Adam's update depends on the gradient alone, so the
    # weights differ by exactly the decay: rate x weight_decay x weight.
    batch = one_batch(scale_pieces(4))
    plain = make_trainer(tmp_path / "plain", learning_rate=0.01)
    decayed = make_trainer(tmp_path / "decayed", learning_rate=0.01,
                           weight_decay=0.5)
    before = [v.numpy() for v in plain.model.trainable_variables]
    for variable, value in zip(decayed.model.trainable_variables, before):
        variable.assign(value)
    plain._train_step(batch)
    decayed._train_step(batch)
    for p, d, b in zip(plain.model.trainable_variables,
                       decayed.model.trainable_variables, before):
        np.testing.assert_allclose(p.numpy() - d.numpy(), 0.01 * 0.5 * b,
                                   atol=1e-6)
    assert any(np.abs(b).max() > 0.1 for b in before)


def test_the_average_copies_the_first_update_then_moves_by_its_decay():
    weight = tf.Variable([1.0, -2.0])
    average = WeightAverage([weight], decay=0.5)
    weight.assign([3.0, 4.0])
    average.update(1)
    np.testing.assert_allclose(average.averages[0].numpy(), [3.0, 4.0])
    weight.assign([5.0, 0.0])
    average.update(2)  # decay min(0.5, 1/11)
    np.testing.assert_allclose(average.averages[0].numpy(),
                               [3.0 / 11 + 5.0 * 10 / 11, 4.0 / 11],
                               rtol=1e-6)
    weight.assign([1.0, 1.0])
    kept = average.averages[0].numpy()
    average.update(100)  # decay min(0.5, 99/109) = 0.5
    np.testing.assert_allclose(average.averages[0].numpy(),
                               0.5 * kept + 0.5 * np.array([1.0, 1.0]),
                               rtol=1e-6)


def test_the_average_is_swapped_in_and_back_even_on_an_error():
    weight = tf.Variable([1.0])
    average = WeightAverage([weight], decay=0.9)
    average.averages[0].assign([7.0])
    with pytest.raises(RuntimeError):
        with average.in_place():
            assert weight.numpy()[0] == 7.0
            raise RuntimeError("stop")
    assert weight.numpy()[0] == 1.0 and average.averages[0].numpy()[0] == 7.0


def test_validation_and_the_best_checkpoint_use_the_average(tmp_path):
    train, valid = scale_pieces(12), scale_pieces(3, seed=1)
    trainer = make_trainer(tmp_path, max_epochs=1,
                           weight_average_decay=0.9)
    fit(trainer, train, valid)  # One validation: always a new best.
    raw = [v.numpy() for v in trainer.model.trainable_variables]
    averaged = [a.numpy() for a in trainer.average.averages]
    assert any(not np.allclose(r, a) for r, a in zip(raw, averaged))
    raw_score = trainer.evaluate(
        pipeline.whole_pieces(valid, 8, FRAMING))["nll_per_event"]

    trainer.restore_best()
    for variable, expected in zip(trainer.model.trainable_variables,
                                  averaged):
        np.testing.assert_array_equal(variable.numpy(), expected)
    averaged_score = trainer.evaluate(
        pipeline.whole_pieces(valid, 8, FRAMING))["nll_per_event"]
    assert float(trainer.best_valid) == pytest.approx(averaged_score,
                                                      rel=1e-6)
    assert averaged_score != pytest.approx(raw_score, rel=1e-4)


def test_a_resumed_run_keeps_its_average(tmp_path):
    train, valid = scale_pieces(10), scale_pieces(2, seed=1)
    straight = make_trainer(tmp_path / "straight", max_epochs=2,
                            weight_average_decay=0.8)
    fit(straight, train, valid)
    first = make_trainer(tmp_path / "resumed", max_epochs=2, max_steps=5,
                         weight_average_decay=0.8)
    fit(first, train, valid)
    second = make_trainer(tmp_path / "resumed", max_epochs=2,
                          weight_average_decay=0.8)
    assert second.restore_latest() == 5
    fit(second, train, valid)
    for a, b in zip(straight.average.averages, second.average.averages):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_the_profile_adds_up_and_gives_the_steps_share():
    profile = time_profile.TimeProfile()
    profile.add("steps", 3.0)
    profile.add("validation", 1.0)
    report = profile.report()
    assert report["steps_seconds"] == 3.0
    assert report["validation_seconds"] == 1.0
    assert report["total_seconds"] == 4.0
    assert report["steps_share"] == 0.75


def test_training_time_is_accounted_by_part_over_sessions(tmp_path):
    train, valid = scale_pieces(8), scale_pieces(2, seed=1)
    first = make_trainer(tmp_path, max_epochs=1)
    fit(first, train, valid)
    report = first.time_profile.report()
    for part in ("steps", "input", "validation", "checkpoints",
                 "summaries"):
        assert report[f"{part}_seconds"] > 0, part
    assert report["previews_seconds"] == 0.0
    resumed = make_trainer(tmp_path, max_epochs=2)
    resumed.restore_latest()
    kept = resumed.time_profile.report()["steps_seconds"]
    # Saved with the latest checkpoint, which is written during
    # "checkpoints", so everything before it is in.
    assert kept == pytest.approx(report["steps_seconds"], rel=1e-6)
    fit(resumed, train, valid)
    assert resumed.time_profile.report()["steps_seconds"] > kept


def test_metrics_json_reports_the_time_profile(rnn_run):
    metrics = json.loads((rnn_run / "metrics.json").read_text())
    profile = metrics["time_profile"]
    assert set(profile) == {f"{p}_seconds" for p in time_profile.PARTS} | {
        "total_seconds", "steps_share"}
    assert 0 < profile["steps_share"] < 1
    assert profile["total_seconds"] == pytest.approx(
        sum(profile[f"{p}_seconds"] for p in time_profile.PARTS), abs=0.05)


def test_a_decay_must_end_after_the_warmup():
    with pytest.raises(ConfigurationError, match=(
            r"TrainConfig.decay_steps \(10\) must be larger than "
            r"TrainConfig.warmup_steps \(10\): the decay starts where")):
        TrainConfig(warmup_steps=10, decay_steps=10)


def test_a_decay_with_the_budget_needs_a_budget_and_no_step_end():
    with pytest.raises(ConfigurationError, match=(
            r"^TrainConfig.decay_with_budget decays the learning rate over "
            r"the time budget; set TrainConfig.max_train_minutes too.$")):
        TrainConfig(decay_with_budget=True)
    with pytest.raises(ConfigurationError, match=(
            r"^TrainConfig.decay_with_budget and TrainConfig.decay_steps "
            r"both set where the decay ends; set one of them.$")):
        TrainConfig(decay_with_budget=True, decay_steps=10,
                    max_train_minutes=5)
