"""The JSB benchmark experiment end to end on a small synthetic separated file:
the command line's `main` with jsb_grid.gin shrunk by smoke.gin."""

import json
import logging

import numpy as np
import pretty_midi
import pytest

from conftest import REPO
from helpers import SMOKE, run_in_process

JSB_GRID = str(REPO / "gin_configs" / "jsb_grid.gin")
SPLIT_SIZES = {"train": 12, "valid": 4, "test": 4}
NUM_STEPS = 64
# Where each voice's random walk may go, soprano first.
RANGES = ((60, 79), (55, 72), (48, 67), (40, 60))


def synthetic_piece(rng: np.random.Generator):
    """Four random-walk voices moving in 8ths, quarters and halves, with a
    rest now and then; every voice sings at the first step."""
    voices = []
    for low, high in RANGES:
        pitch = int(rng.integers(low, high + 1))
        steps = []
        while len(steps) < NUM_STEPS:
            length = int(rng.choice([2, 4, 8]))
            sung = not steps or rng.random() > 0.1
            steps += [pitch if sung else -1] * length
            pitch = int(np.clip(pitch + rng.integers(-3, 4), low, high))
        voices.append(steps[:NUM_STEPS])
    return [list(step) for step in zip(*voices)]


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    rng = np.random.default_rng(2012)
    data = {split: [synthetic_piece(rng) for _ in range(size)]
            for split, size in SPLIT_SIZES.items()}
    path = tmp_path_factory.mktemp("jsb_data") / "Jsb16thSeparated.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, data_path):
    model_dir = tmp_path_factory.mktemp("jsb_job") / "run"
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("absl").addHandler(handler)
    try:
        code = run_in_process([f"--gin_file={JSB_GRID}", f"--gin_file={SMOKE}",
                               f"--gin_param=DATA_PATH = '{data_path}'",
                               f"--model_dir={model_dir}"])
    finally:
        logging.getLogger("absl").removeHandler(handler)
    assert code == 0, "\n".join(messages[-30:])
    return model_dir, "\n".join(messages)


def test_job_reads_the_files_own_split(trained_dir):
    _, log = trained_dir
    assert "separated layout" in log
    assert "train 12, valid 4, test 4" in log


def test_metrics_hold_the_benchmarks_per_token_nll(trained_dir):
    metrics = json.loads((trained_dir[0] / "metrics.json").read_text())
    for split in ("valid", "test"):
        per_token = metrics[f"{split}_nll_per_token"]
        assert 0 < per_token < np.log(90) + 1
        # One field, four voices: a step holds four tokens.
        assert metrics[f"{split}_num_tokens"] == (
            4 * NUM_STEPS * SPLIT_SIZES[split])
        assert metrics[f"{split}_nll_per_event"] == pytest.approx(
            4 * per_token)


def test_metrics_hold_the_per_frame_nll_with_and_without_first_frames(
        trained_dir):
    metrics = json.loads((trained_dir[0] / "metrics.json").read_text())
    for split in ("valid", "test"):
        pieces, frames = SPLIT_SIZES[split], NUM_STEPS * SPLIT_SIZES[split]
        # On a grid every step is a frame: per frame is per event.
        assert metrics[f"{split}_nll_per_frame_with_first"] == metrics[
            f"{split}_nll_per_event"]
        assert metrics[f"{split}_num_frames_with_first"] == frames
        assert metrics[f"{split}_num_frames"] == frames - pieces
        total = metrics[f"{split}_nll_per_event"] * frames
        first = total - metrics[f"{split}_nll_per_frame"] * (frames - pieces)
        assert first > 0  # The first frames' own NLL, left out.
        assert metrics[f"{split}_nll_per_frame"] != metrics[
            f"{split}_nll_per_frame_with_first"]


def test_samples_are_four_voice_midi(trained_dir):
    model_dir, _ = trained_dir
    midis = sorted((model_dir / "samples").glob("*.mid"))
    assert len(midis) == 2
    for path in midis:
        midi = pretty_midi.PrettyMIDI(str(path))
        assert [i.name for i in midi.instruments] == [
            "Soprano", "Alto", "Tenor", "Bass"]
        for instrument in midi.instruments:
            assert instrument.notes
            assert all(21 <= n.pitch <= 108 and n.end > n.start
                       for n in instrument.notes)
