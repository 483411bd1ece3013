"""Chooses the `tf.distribute` strategy the trainer builds everything under,
and says which part of a cluster this process is.

With "multi_worker" every worker runs the same command on the same model
directory; the cluster comes from the `TF_CONFIG` environment variable as
TensorFlow documents it, e.g. for the second of two workers:

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 1}}'

The chief (task "chief", or worker 0 when the cluster names no chief) writes
the model directory; the other workers write to temporary directories that
are removed when they finish (see `Role`).
"""

import dataclasses
import json
import os
import socket
from typing import List, Optional

import tensorflow as tf
from absl import logging

from polyframe.errors import UserFacingError

STRATEGIES = ("auto", "cpu", "one_gpu", "mirrored", "multi_worker")

# TensorFlow allows one multi-worker strategy per process (it configures the
# process's collective ops), so it is made once and handed out again.
_multi_worker: Optional[tf.distribute.Strategy] = None


@dataclasses.dataclass(frozen=True)
class Role:
    """This process's part in a (possibly one-process) cluster.

    Attributes:
        is_chief: Whether this process writes the model directory.
        task: "chief", "worker:1", ...; "chief" for a single process.
    """
    is_chief: bool = True
    task: str = "chief"


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy called `name`.

    Args:
        name: "auto" (all local GPUs, mirrored; one GPU; else the CPU), "cpu",
            "one_gpu", "mirrored" (all local GPUs) or "multi_worker" (every
            device of every worker that `TF_CONFIG` lists). Make a
            "multi_worker" strategy before any other TensorFlow op runs.

    Raises:
        UserFacingError: for an unknown name, a GPU strategy without GPUs, or
            "multi_worker" without a usable `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise UserFacingError(
            f"unknown distribution strategy {name!r}; choose one of "
            f"{', '.join(STRATEGIES)}.")
    if name == "multi_worker":
        return _multi_worker_strategy()
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


def _multi_worker_strategy() -> tf.distribute.Strategy:
    global _multi_worker
    if _multi_worker is None:
        cluster = _cluster_from_environment()
        _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
        logging.info("distribution: MultiWorkerMirroredStrategy, %s of %d "
                     "worker(s), %d replica(s) in all",
                     role_of(_multi_worker).task, cluster,
                     _multi_worker.num_replicas_in_sync)
    return _multi_worker


def _cluster_from_environment() -> int:
    """Checks `TF_CONFIG` before TensorFlow reads it; returns the number of
    workers (chief included)."""
    text = os.environ.get("TF_CONFIG")
    hint = ("set TF_CONFIG on every worker to {\"cluster\": {\"worker\": "
            "[\"host:port\", ...]}, \"task\": {\"type\": \"worker\", "
            "\"index\": i}} (see README: Train on a cluster)")
    if not text:
        raise UserFacingError(
            f"Experiment.distribution = 'multi_worker' reads the cluster "
            f"from TF_CONFIG, which is not set; {hint}.")
    try:
        config = json.loads(text)
        cluster = config["cluster"]
        task = config["task"]
        members = cluster[task["type"]]
        index = int(task["index"])
        count = sum(len(cluster.get(kind, ())) for kind in ("chief",
                                                            "worker"))
    except (ValueError, KeyError, TypeError) as error:
        raise UserFacingError(
            f"TF_CONFIG is not a usable cluster description ({error!r}); "
            f"{hint}.") from None
    if not 0 <= index < len(members):
        raise UserFacingError(
            f"TF_CONFIG's task index {index} is outside its "
            f"{len(members)} {task['type']!r} address(es); {hint}.")
    return count


def role_of(strategy: tf.distribute.Strategy) -> Role:
    """Which part of its cluster this process plays under `strategy`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return Role()
    task_id = int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "worker" and task_id == 0 and not has_chief
    return Role(is_chief=is_chief,
                task="chief" if is_chief else f"{task_type}:{task_id}")


def local_cluster(workers: int) -> List[str]:
    """`TF_CONFIG` values for `workers` worker processes on this machine,
    on free localhost ports: the i-th is for worker i (the chief is 0).
    For trying a cluster out, tests and benchmarks."""
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for each in sockets:
            each.bind(("localhost", 0))
        addresses = [f"localhost:{each.getsockname()[1]}" for each in sockets]
    finally:
        for each in sockets:
            each.close()
    return [json.dumps({"cluster": {"worker": addresses},
                        "task": {"type": "worker", "index": index}})
            for index in range(workers)]
