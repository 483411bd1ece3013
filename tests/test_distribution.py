"""The trainer under a real multi-replica strategy: two logical CPUs mirrored
must take exactly the step that one device takes on the same global batch
(the loss is normalised by the global count, not each replica's), skip
a non-finite step on every replica, and share a stop request."""

import subprocess
import sys
import textwrap

from conftest import REPO

SCRIPT = textwrap.dedent("""
    import functools, sys, tempfile
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from polyframe import plugin_loading, registries
    from polyframe.data import pipeline
    from polyframe.encoding import Field
    from polyframe.model_dir import ModelDir
    from polyframe_plugins.models.event_rnn import EventRNN
    from polyframe.trainer import Trainer, TrainConfig

    plugin_loading.load_plugins()
    fields = (Field("pitch", 10), Field("duration", 6))
    rng = np.random.default_rng(0)
    # Pieces of different lengths, so the two replicas see different counts.
    pieces = [np.stack([rng.integers(1, 10, (n, 4)),
                        rng.integers(1, 6, (n, 4))], -1)
              for n in (5, 9, 13, 17, 21, 30, 7, 3)]
    windows = pipeline.training_windows(pieces, 12, pipeline.Framing(lambda e: e[..., 0] > 2),
                                        np.random.default_rng(1))
    cell = functools.partial(registries.CELLS.get("gru"), num_units=8)
    head = functools.partial(registries.HEADS.get("autoregressive"),
                             hidden_size=8)

    def one_step(strategy, initial):
        trainer = Trainer(TrainConfig(batch_size=8), ModelDir(tempfile.mkdtemp()),
                          strategy,
                          lambda: EventRNN(fields, 4, cell, head,
                                           default_embedding_size=4))
        variables = trainer.model.trainable_variables
        for variable, value in zip(variables, initial or
                                   [v.numpy() for v in variables]):
            variable.assign(value)
        before = [v.numpy() for v in variables]
        dataset = strategy.experimental_distribute_dataset(
            pipeline.to_dataset(windows, 8).take(1))
        sums = trainer._train_step(next(iter(dataset)))
        return before, [v.numpy() for v in variables], float(sums["nll"])

    initial, single, single_nll = one_step(
        tf.distribute.OneDeviceStrategy("/cpu:0"), None)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    _, double, double_nll = one_step(mirrored, initial)
    np.testing.assert_allclose(single_nll, double_nll, rtol=1e-5)
    moved = max(np.abs(a - b).max() for a, b in zip(single, initial))
    assert moved > 1e-4, moved
    for a, b in zip(single, double):
        np.testing.assert_allclose(a, b, atol=1e-6)
    print("same step on", mirrored.num_replicas_in_sync, "replicas")

    # A step whose loss is not finite is skipped on every replica.
    guarded = Trainer(TrainConfig(batch_size=8), ModelDir(tempfile.mkdtemp()),
                      mirrored, lambda: EventRNN(fields, 4, cell, head,
                                                 default_embedding_size=4))
    before = [v.numpy() for v in guarded.model.trainable_variables]
    batch = next(iter(pipeline.to_dataset(windows, 8).take(1)))
    batch = dict(batch, mask=batch["mask"] * np.nan)
    poisoned = mirrored.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch).unbatch().batch(8))
    sums = guarded._train_step(next(iter(poisoned)))
    assert float(sums["skipped"]) == 1.0, sums["skipped"]
    assert int(guarded.optimizer.iterations.numpy()) == 0
    for a, b in zip(before, guarded.model.trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    print("non-finite step skipped on", mirrored.num_replicas_in_sync,
          "replicas")

    # A stop request on one worker reaches every replica in the same
    # all-reduce, and values the loop decides on are agreed the same way.
    batch = next(iter(mirrored.experimental_distribute_dataset(
        pipeline.to_dataset(windows, 8).take(1))))
    assert float(guarded._train_step(batch)["stop"]) == 0.0
    assert float(guarded._train_step(batch, tf.constant(1.0))["stop"]) > 0.0
    assert guarded._agreed(1.5, 2.0) == [1.5, 2.0]
    print("stop requests and decisions all-reduced")

    # The warm-up's rate and the weight average are the same on both.
    def averaged_steps(strategy):
        trainer = Trainer(
            TrainConfig(batch_size=8, warmup_steps=4,
                        weight_average_decay=0.5),
            ModelDir(tempfile.mkdtemp()), strategy,
            lambda: EventRNN(fields, 4, cell, head, default_embedding_size=4))
        for variable, value in zip(trainer.model.trainable_variables, initial):
            variable.assign(value)
        trainer.average.update(1)  # From the same start on both.
        dataset = strategy.experimental_distribute_dataset(
            pipeline.to_dataset(windows, 8).take(1).repeat(3))
        for batch in dataset:
            trainer._train_step(batch)
        with trainer.evaluated_weights():
            swapped = [v.numpy() for v in trainer.model.trainable_variables]
        return ([v.numpy() for v in trainer.model.trainable_variables],
                [a.numpy() for a in trainer.average.averages], swapped)

    one = averaged_steps(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = averaged_steps(mirrored)
    for kind in range(3):
        for a, b in zip(one[kind], two[kind]):
            np.testing.assert_allclose(a, b, atol=1e-6)
    for average, swapped, weight in zip(two[1], two[2], two[0]):
        np.testing.assert_array_equal(average, swapped)
    assert any(not np.allclose(a, w) for a, w in zip(two[1], two[0]))
    print("warm-up and weight average the same on 2 replicas")
""")


def test_mirrored_replicas_take_the_single_device_step():
    process = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-4000:]
    assert "same step on 2 replicas" in process.stdout
    assert "non-finite step skipped on 2 replicas" in process.stdout
    assert "stop requests and decisions all-reduced" in process.stdout
    assert ("warm-up and weight average the same on 2 replicas"
            in process.stdout)
