r"""Training steps per second: one process against local multi-worker clusters.

Runs the real command line on the default config (`duration_rnn.gin`, global
batch as shipped) for two epochs, once as a single process and once as a
cluster of N worker processes on localhost (`Experiment.distribution =
'multi_worker'`, TF_CONFIG per worker), and reads each run's second epoch
from the chief's log: steps in that epoch over its training seconds, after
every step function is traced and compiled.

    python benchmarks/multi_worker_throughput.py [--workers=2] [--epochs=2]

On one machine the workers share its cores and talk over loopback gRPC, so
this measures what the cluster machinery costs, not a speed-up.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from polyframe.distribution import local_cluster

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_integer("workers", 2, "Worker processes in the cluster run.")
flags.DEFINE_integer("epochs", 2, "Epochs per run; the last one is timed.")
flags.DEFINE_multi_string("gin_param", [], "Extra bindings for every run.")
FLAGS = flags.FLAGS

EPOCH_LINE = re.compile(r"epoch (\d+) \(step (\d+), ([\d.]+)s\)")


def command(model_dir, distribution):
    return [sys.executable, "-m", "polyframe.main",
            f"--gin_file={REPO}/gin_configs/duration_rnn.gin",
            f"--gin_param=TrainConfig.max_epochs = {FLAGS.epochs}",
            "--gin_param=TrainConfig.max_train_minutes = None",
            "--gin_param=TrainConfig.patience = 0",
            "--gin_param=TrainConfig.preview_every_minutes = 0",
            f"--gin_param=Experiment.distribution = '{distribution}'",
            *[f"--gin_param={p}" for p in FLAGS.gin_param],
            "--mode=train", f"--model_dir={model_dir}"]


def last_epoch_rate(log):
    """Steps per second of the last epoch the log reports."""
    epochs = [(int(e), int(s), float(t)) for e, s, t in EPOCH_LINE.findall(log)]
    if len(epochs) < 2:
        raise RuntimeError("fewer than two epochs in the log:\n" + log[-3000:])
    (_, before, _), (_, after, seconds) = epochs[-2], epochs[-1]
    return (after - before) / seconds, after - before, seconds


def run_cluster(workers, root):
    """Trains with `workers` processes (1: a plain single process); returns
    the chief's log and the wall time."""
    model_dir = os.path.join(root, f"workers-{workers}")
    started = time.time()
    if workers == 1:
        process = subprocess.run(command(model_dir, "cpu"), cwd=REPO,
                                 capture_output=True, text=True)
        if process.returncode:
            raise RuntimeError(process.stderr[-3000:])
        return process.stderr, time.time() - started
    processes = []
    for tf_config in local_cluster(workers):
        env = dict(os.environ, TF_CONFIG=tf_config)
        processes.append(subprocess.Popen(
            command(model_dir, "multi_worker"), cwd=REPO, env=env,
            stderr=subprocess.PIPE, text=True))
    logs = [p.communicate()[1] for p in processes]
    for process, log in zip(processes, logs):
        if process.returncode:
            raise RuntimeError(log[-3000:])
    return logs[0], time.time() - started


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as root:
        rates = {}
        for workers in (1, FLAGS.workers):
            log, wall = run_cluster(workers, root)
            rate, steps, seconds = last_epoch_rate(log)
            rates[workers] = rate
            label = ("1 process" if workers == 1
                     else f"{workers} workers")
            print(f"{label:>10}: {rate:6.2f} steps/s (last epoch: {steps} "
                  f"steps in {seconds:.1f} s; whole run {wall:.0f} s)")
        print(f"ratio {FLAGS.workers} workers / 1 process: "
              f"{rates[FLAGS.workers] / rates[1]:.2f}")


if __name__ == "__main__":
    app.run(main)
