"""Chooses the `tf.distribute` strategy the trainer builds everything under."""

import tensorflow as tf
from absl import logging

from polyframe.errors import UserFacingError

STRATEGIES = ("auto", "cpu", "one_gpu", "mirrored")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy called `name`.

    Args:
        name: "auto" (all local GPUs, mirrored; one GPU; else the CPU), "cpu",
            "one_gpu" or "mirrored" (all local GPUs).

    Raises:
        UserFacingError: for an unknown name, or a GPU strategy without GPUs.
    """
    if name not in STRATEGIES:
        raise UserFacingError(
            f"unknown distribution strategy {name!r}; choose one of "
            f"{', '.join(STRATEGIES)}.")
    gpus = tf.config.list_logical_devices("GPU")
    if name in ("one_gpu", "mirrored") and not gpus:
        raise UserFacingError(
            f"distribution {name!r} needs a GPU and TensorFlow sees none; "
            "install the CUDA extra (pip install 'polyframe[cuda]') or use "
            "'auto'.")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        strategy = tf.distribute.MirroredStrategy()
    elif name == "one_gpu" or (name == "auto" and gpus):
        strategy = tf.distribute.OneDeviceStrategy("/gpu:0")
    else:
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    logging.info("distribution: %s over %d replica(s)",
                 type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy
