"""Runs killed with SIGKILL, and runs sharing a cache at the same moment.

Two real training runs start at once on one fresh cache directory: both
parse and encode the same MIDI folder, and both finish.
Then a third run of the same command is killed in the middle of an epoch
and rerun; it never trusts anything half-written, loses at most the steps
since its last checkpoint, and ends with exactly the weights of the run
never killed.
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from conftest import REPO
from helpers import DURATION_RNN, SMOKE
from test_dir_sources import CHORALE, MIDI_GIN, quarters, write_midi

CHECKPOINT_EVERY = 4


def chorale_folder(folder):
    for split, count in (("train", 12), ("valid", 2), ("test", 2)):
        for index in range(count):
            write_midi(folder / split / f"{index}.mid",
                       [(name, quarters((line[index % 4:] +
                                         line[:index % 4]) * 8))
                        for name, line in CHORALE.items()])


def command(folder, model_dir):
    return [sys.executable, "-m", "polyframe.main",
            f"--gin_file={DURATION_RNN}", f"--gin_file={MIDI_GIN}",
            f"--gin_file={SMOKE}", f"--gin_param=DATA_PATH='{folder}'",
            "--gin_param=sources.midi_dir.num_workers = 2",
            # Dropout masks are drawn afresh by a resumed process, so only
            # without dropout must a resumed run end bit for bit the same.
            "--gin_param=models.event_rnn.dropout = 0.0",
            "--gin_param=heads.autoregressive.dropout = 0.0",
            "--gin_param=cells.lstm.weight_dropout = 0.0",
            # A rate decaying with the wall clock follows the time each
            # run took; a rate fixed per step resumes exactly.
            "--gin_param=TrainConfig.decay_with_budget = False",
            "--gin_param=TrainConfig.max_steps = None",
            "--gin_param=TrainConfig.max_epochs = 2",
            "--gin_param=TrainConfig.window_length = 8",
            "--gin_param=TrainConfig.batch_size = 4",
            "--gin_param=TrainConfig.checkpoint_every_steps = "
            f"{CHECKPOINT_EVERY}",
            "--mode=train", f"--model_dir={model_dir}"]


def start(folder, model_dir, cache_dir, *extra):
    """Starts the run; its log goes to a file beside `model_dir`."""
    env = dict(os.environ, POLYFRAME_CACHE_DIR=str(cache_dir))
    log = open(f"{model_dir}-{time.time_ns()}.log", "w+")
    process = subprocess.Popen([*command(folder, model_dir), *extra],
                               cwd=REPO, env=env, stderr=log, text=True)
    process.log = log
    return process


def log_of(process):
    process.log.seek(0)
    return process.log.read()


def finish(process):
    process.wait(timeout=300)
    log = log_of(process)
    assert process.returncode == 0, log[-4000:]
    return log


def kill_when(process, condition):
    """SIGKILLs `process` as soon as `condition()` holds; returns its log."""
    deadline = time.time() + 240
    while not condition():
        assert process.poll() is None, log_of(process)[-4000:]
        assert time.time() < deadline, log_of(process)[-4000:]
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return log_of(process)


def latest_step(model_dir):
    """The step of the latest checkpoint TensorFlow would restore, or -1."""
    try:
        state = (model_dir / "checkpoints" / "checkpoint").read_text()
    except FileNotFoundError:
        return -1
    return int(re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state,
                         re.M).group(1))


def values(model_dir):
    """The latest checkpoint's values but the wall-clock times (the training
    time and its profile)."""
    path = str(model_dir / "checkpoints")
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name)
            for name, _ in tf.train.list_variables(path)
            if name.endswith("VARIABLE_VALUE") and
            not name.startswith(("trained_seconds", "time_profile"))}


def trusted_caches(cache_dir):
    """Cache directories a run would read: those with a manifest."""
    found = []
    for folder, _, names in os.walk(cache_dir):
        if "manifest.json" in names:
            found.append(os.path.relpath(folder, cache_dir))
    return sorted(found)


def test_runs_sharing_a_cache_and_a_run_killed_mid_epoch(tmp_path):
    folder = tmp_path / "chorales"
    chorale_folder(folder)

    # Two runs at once on one fresh cache: both build it, both finish (the
    # second after one step: what matters is that it reads the corpus and
    # its encoding while the first writes them).
    shared = tmp_path / "shared-cache"
    first = start(folder, tmp_path / "first", shared)
    second = start(folder, tmp_path / "second", shared,
                   "--gin_param=TrainConfig.max_steps = 1")
    logs = [finish(first), finish(second)]
    for log, name in zip(logs, ("first", "second")):
        assert "midi_dir: kept 16 of 16 files" in log
        assert "Traceback" not in log
        assert (tmp_path / name / "metrics.json").is_file()
    assert len(trusted_caches(shared)) == 2  # The corpus, its encoding.
    assert not [name for name in os.listdir(shared / "corpora")
                if name.startswith(".")]
    uninterrupted = values(tmp_path / "first")

    # One run killed mid-epoch, right after its first checkpoint inside the
    # second epoch (a kill while reading a folder: test_ingest.py).
    cache_dir, run = tmp_path / "cache", tmp_path / "killed"
    steps_per_epoch = int(re.search(r"epoch 0 \(step (\d+),",
                                    logs[0]).group(1))
    assert steps_per_epoch > 2 * CHECKPOINT_EVERY
    inside = (steps_per_epoch // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
    assert inside < 2 * steps_per_epoch  # Inside the second, last epoch.
    process = start(folder, run, cache_dir)
    log = kill_when(process, lambda: latest_step(run) >= inside)
    assert "Traceback" not in log
    saved_step = latest_step(run)
    # At most CHECKPOINT_EVERY steps lost: every 4th step is saved.
    assert saved_step >= inside
    assert saved_step % CHECKPOINT_EVERY == 0 or (
        saved_step % steps_per_epoch == 0)

    log = finish(start(folder, run, cache_dir))
    assert re.search(rf"resumed from \S+ckpt-{saved_step} at step "
                     rf"{saved_step} ", log), log[-3000:]
    assert "reusing the encoded splits" in log
    assert (run / "metrics.json").exists()
    for name, value in values(run).items():
        np.testing.assert_allclose(value, uninterrupted[name], atol=1e-6,
                                   err_msg=name)
