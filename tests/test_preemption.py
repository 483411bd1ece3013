"""SIGTERM and SIGINT during training: the step is saved, the process exits
with its documented code and a resume line, and a rerun resumes there."""

import logging
import os
import re
import signal
import subprocess
import sys
import time

from conftest import REPO
from helpers import DURATION_RNN, SMOKE, run_in_process

from polyframe import preemption


def test_a_signal_inside_the_context_only_asks_for_a_stop():
    previous = signal.getsignal(signal.SIGTERM)
    with preemption.StopRequests() as stop:
        assert stop.requested is None
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # The handler runs at the next bytecode boundary.
        assert stop.requested == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is previous


def train_command(model_dir):
    # Epochs of about fifty tiny steps (window 16, batch 32), no periodic
    # checkpoints, so a signal lands well inside an epoch.
    return [sys.executable, "-m", "polyframe.main",
            f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
            "--gin_param=TrainConfig.max_steps = None",
            "--gin_param=TrainConfig.max_epochs = 2",
            "--gin_param=TrainConfig.window_length = 16",
            "--gin_param=TrainConfig.batch_size = 32",
            "--gin_param=TrainConfig.checkpoint_every_steps = 0",
            "--mode=train", f"--model_dir={model_dir}"]


def test_sigterm_mid_epoch_saves_the_step_and_a_rerun_resumes_there(
        bach, tmp_path, caplog):
    del bach  # Parsed into the private cache the subprocess reads.
    model_dir = tmp_path / "run"
    process = subprocess.Popen(train_command(model_dir), cwd=REPO,
                               stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 240
    for line in process.stderr:
        lines.append(line)
        if re.search(r"epoch 0 \(step \d+", line):
            break
        assert time.time() < deadline, "".join(lines[-20:])
    steps_per_epoch = int(re.search(r"epoch 0 \(step (\d+)", line).group(1))
    # Past epoch 0's last check for a signal (right after this line), into
    # epoch 1, whose steps take far longer than this.
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == preemption.EXIT_CODE, rest[-3000:]
    stopped = re.search(r"polyframe: stopped by SIGTERM at step (\d+); the "
                        r"latest checkpoint holds that step\. Run the same "
                        r"command again to resume there\.", rest)
    assert stopped, rest[-3000:]
    step = int(stopped.group(1))
    assert steps_per_epoch < step < 2 * steps_per_epoch  # Inside epoch 1.
    assert (model_dir / "checkpoints" / f"ckpt-{step}.index").exists()
    assert "Traceback" not in rest
    assert not (model_dir / "metrics.json").exists()

    # The same command again (in this process, to save a start-up).
    caplog.set_level(logging.INFO, logger="absl")
    assert run_in_process(train_command(model_dir)[3:]) == 0
    assert re.search(rf"resumed from \S+ckpt-{step} at step {step} "
                     r"\(epoch 1\)", caplog.text)
    assert re.search(rf"epoch 1 \(step {2 * steps_per_epoch},",
                     caplog.text), caplog.text[-3000:]
    assert (model_dir / "metrics.json").exists()
