"""TensorBoard previews: a short sample as audio and a piano roll at a new
best checkpoint, only when asked for."""

import tensorflow as tf

from conftest import GIN
from helpers import run_in_process


def preview_tags(run):
    """Tags and steps of the summaries in the run's `samples` log."""
    found = []
    folder = run / "tensorboard" / "samples"
    for path in sorted(folder.glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            found += [(value.tag, event.step) for value in event.summary.value]
    return found


def train(run, every):
    return run_in_process([
        f"--gin_file={GIN / 'duration_rnn.gin'}",
        f"--gin_file={GIN / 'smoke.gin'}", f"--model_dir={run}",
        "--mode=train", "--gin_param=TrainConfig.max_epochs = 2",
        "--gin_param=TrainConfig.max_steps = 1000",
        "--gin_param=TrainConfig.batch_size = 64",
        f"--gin_param=TrainConfig.preview_every_minutes = {every}"])


def test_previews_are_logged_at_new_best_checkpoints(tmp_path, bach):
    run = tmp_path / "run"
    assert train(run, 0.0001) == 0
    tags = preview_tags(run)
    steps = sorted({step for _, step in tags})
    assert {tag for tag, _ in tags} == {"sample", "piano_roll"}
    assert len(steps) >= 1
    best_steps = sorted(int(p.name.split("-")[1].split(".")[0])
                        for p in (run / "best").glob("ckpt-*.index"))
    assert steps[-1] == best_steps[-1]


def test_no_previews_when_off(rnn_run):
    # The shared run was trained with smoke.gin, which turns previews off.
    assert "TrainConfig.preview_every_minutes = 0" in (
        rnn_run / "operative_config.gin").read_text()
    assert (rnn_run / "tensorboard" / "train").is_dir()
    assert not (rnn_run / "tensorboard" / "samples").exists()
