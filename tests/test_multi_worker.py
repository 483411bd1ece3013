"""Two worker processes on localhost, one cluster: they train exactly the
step one process takes on the same global batch, only the chief writes the
model directory, and the workers' scratch directories are gone after."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from helpers import DURATION_RNN, SMOKE, one_error_line, run_in_process
from polyframe import distribution
from polyframe.distribution import Role
from polyframe.errors import UserFacingError

# Dropout off: each worker draws its own masks, so with dropout the runs
# would differ by design, not by a fault.
COMMON = [f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
          "--gin_param=models.event_rnn.dropout = 0.0",
          "--gin_param=heads.autoregressive.dropout = 0.0",
          "--gin_param=cells.lstm.weight_dropout = 0.0",
          # A rate decaying with the wall clock follows the time each run
          # took; the cluster and the single process must take equal steps.
          "--gin_param=TrainConfig.decay_with_budget = False",
          "--gin_param=TrainConfig.max_steps = 5",
          "--gin_param=TrainConfig.checkpoint_every_steps = 2",
          "--mode=train"]


def files_under(root):
    """Every file under `root`, relative; TensorBoard event files (named by
    host, process and time) by their folder only."""
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), root)
            if name.startswith("events.out.tfevents"):
                relative = os.path.join(os.path.dirname(relative), "events")
            found.add(relative)
    return found


def checkpoint_values(checkpoint_dir):
    """Every value in the latest checkpoint (weights, Adam's moments, the
    loop's counters) but the wall-clock times (the training time and its
    profile)."""
    reader = tf.train.load_checkpoint(checkpoint_dir)
    return {name: reader.get_tensor(name)
            for name, _ in tf.train.list_variables(checkpoint_dir)
            if name.endswith("VARIABLE_VALUE") and
            not name.startswith(("trained_seconds", "time_profile"))}


def test_two_workers_take_the_single_process_steps(bach, tmp_path):
    del bach  # Parsed into the private cache the subprocesses read.
    model_dir = tmp_path / "cluster"
    workers = []
    for index, tf_config in enumerate(distribution.local_cluster(2)):
        scratch = tmp_path / f"tmp-{index}"
        scratch.mkdir()
        env = dict(os.environ, TMPDIR=str(scratch), TF_CONFIG=tf_config)
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "polyframe.main", *COMMON,
             "--gin_param=Experiment.distribution = 'multi_worker'",
             f"--model_dir={model_dir}"],
            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True))
    logs = [worker.communicate(timeout=420)[1] for worker in workers]
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log[-4000:]
    assert "worker:1 finished; the chief writes the model directory" in logs[1]
    for index in range(2):
        assert not os.listdir(tmp_path / f"tmp-{index}"), index

    single_dir = tmp_path / "single"
    assert run_in_process([*COMMON, f"--model_dir={single_dir}"]) == 0

    # The same files (checkpoints at the same steps, metrics, configs):
    # nothing from the second worker.
    assert files_under(model_dir) == files_under(single_dir)
    assert (model_dir / "checkpoints" / "ckpt-5.index").exists()
    cluster_values = checkpoint_values(str(model_dir / "checkpoints"))
    single_values = checkpoint_values(str(single_dir / "checkpoints"))
    assert cluster_values.keys() == single_values.keys()
    weights = [name for name in single_values
               if name.startswith("optimizer/_trainable_variables/")]
    assert len(weights) > 4
    assert cluster_values["step/.ATTRIBUTES/VARIABLE_VALUE"] == 5
    for name, value in single_values.items():
        np.testing.assert_allclose(cluster_values[name], value, atol=2e-5,
                                   err_msg=name)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    single_metrics = json.loads((single_dir / "metrics.json").read_text())
    assert metrics["steps_trained"] == single_metrics["steps_trained"] == 5
    np.testing.assert_allclose(metrics["valid_nll_per_note"],
                               single_metrics["valid_nll_per_note"],
                               rtol=1e-5)


def test_multi_worker_without_tf_config_is_one_line(tmp_path, monkeypatch,
                                                    capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = run_in_process([
        *COMMON, "--gin_param=Experiment.distribution = 'multi_worker'",
        f"--model_dir={tmp_path / 'run'}"])
    assert code == 2
    assert one_error_line(capsys.readouterr().err) == (
        "polyframe: error: Experiment.distribution = 'multi_worker' reads "
        "the cluster from TF_CONFIG, which is not set; set TF_CONFIG on "
        'every worker to {"cluster": {"worker": ["host:port", ...]}, '
        '"task": {"type": "worker", "index": i}} (see README: Train on a '
        "cluster).")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not a usable cluster description"),
    ('{"cluster": {"worker": ["a:1"]}}',
     "TF_CONFIG is not a usable cluster description (KeyError('task'))"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, '
     '"task": {"type": "worker", "index": 2}}',
     "TF_CONFIG's task index 2 is outside its 2 'worker' address(es)"),
])
def test_a_bad_tf_config_is_one_line_before_tensorflow_reads_it(
        monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserFacingError) as raised:
        distribution.make_strategy("multi_worker")
    assert str(raised.value).startswith(message)
    assert "README: Train on a cluster" in str(raised.value)


@pytest.mark.parametrize("cluster, task_type, task_id, role", [
    ({"worker": ["a:1", "b:2"]}, "worker", 0, Role(True, "chief")),
    ({"worker": ["a:1", "b:2"]}, "worker", 1, Role(False, "worker:1")),
    ({"chief": ["c:0"], "worker": ["a:1"]}, "worker", 0,
     Role(False, "worker:0")),
    ({"chief": ["c:0"], "worker": ["a:1"]}, "chief", 0, Role(True, "chief")),
])
def test_the_chief_is_the_chief_task_else_worker_0(cluster, task_type,
                                                   task_id, role):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    strategy = types.SimpleNamespace(cluster_resolver=resolver)
    assert distribution.role_of(strategy) == role


def test_a_local_cluster_names_each_worker_once():
    configs = [json.loads(text) for text in distribution.local_cluster(3)]
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": i} for i in range(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert all(c["cluster"] == {"worker": addresses} for c in configs)
    assert len(set(addresses)) == 3
    assert all(a.startswith("localhost:") for a in addresses)


def test_a_single_process_is_its_own_chief():
    assert distribution.role_of(distribution.make_strategy("cpu")) == Role()
