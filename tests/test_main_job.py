"""The main job end to end on the real chorales, shrunk by smoke.gin: data,
training, best checkpoint, metrics, MIDI and WAV read back independently."""

import json
import re
import wave

import numpy as np
import pretty_midi
import pytest

from helpers import DURATION_RNN, SMOKE, run_in_process, run_main
from test_harmonize import assert_every_format

# Sung ranges of the four voices, with a margin of a few semitones.
RANGES = {"Soprano": (55, 84), "Alto": (50, 79), "Tenor": (43, 74),
          "Bass": (31, 67)}


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("main_job") / "run"
    process = run_main([f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
                        f"--model_dir={model_dir}"])
    assert process.returncode == 0, process.stderr[-5000:]
    return model_dir, process.stderr


def read_wav(path):
    with wave.open(str(path)) as handle:
        frames = handle.readframes(handle.getnframes())
        return np.frombuffer(frames, np.int16), handle.getframerate()


def assert_chorale_midi(path):
    midi = pretty_midi.PrettyMIDI(str(path))
    assert [i.name for i in midi.instruments] == list(RANGES)
    for instrument in midi.instruments:
        assert instrument.notes, instrument.name
        pitches = [n.pitch for n in instrument.notes]
        assert 21 <= min(pitches) and max(pitches) <= 108
        assert all(n.end > n.start for n in instrument.notes)
    return midi


def test_job_writes_everything_a_run_promises(trained_dir):
    model_dir, log = trained_dir
    for name in ("config.gin", "operative_config.gin", "encoder.json",
                 "primers.json", "metrics.json"):
        assert (model_dir / name).is_file(), name
    assert list((model_dir / "best").glob("*.index"))
    assert list((model_dir / "tensorboard" / "valid").iterdir())
    assert "parameters" in log and "nats/event" in log


def test_metrics_hold_valid_and_test_nll(trained_dir):
    metrics = json.loads((trained_dir[0] / "metrics.json").read_text())
    for split in ("valid", "test"):
        per_note = metrics[f"{split}_nll_per_note"]
        assert 0 < per_note < 20
        assert metrics[f"{split}_bits_per_note"] == pytest.approx(
            per_note / np.log(2))
        assert metrics[f"{split}_nll_per_event"] > per_note
        # Duration events are not time frames: no per-frame figures.
        assert not [key for key in metrics if "frame" in key]


def test_samples_are_four_voice_midi_with_audible_wav(trained_dir):
    model_dir, log = trained_dir
    midis = sorted((model_dir / "samples").glob("*.mid"))
    assert len(midis) == 2
    assert_every_format(model_dir / "samples", "sample", 2)
    for midi_path in midis:
        assert_chorale_midi(midi_path)
        samples, rate = read_wav(midi_path.with_suffix(".wav"))
        assert rate > 0 and len(samples) > rate
        assert np.abs(samples.astype(np.float64)).max() > 1000
    # The log says which renderer made each WAV.
    assert re.search(r"Rendered \S+sample_000\.mid to \S+sample_000\.wav "
                     r"with (fluidsynth|timidity|builtin)", log), log[-2000:]


def test_sample_mode_samples_again_from_the_best_checkpoint(trained_dir,
                                                            tmp_path):
    model_dir, _ = trained_dir
    out = tmp_path / "more"
    assert run_in_process(["--mode=sample", f"--model_dir={model_dir}",
                           "--num_samples=3", f"--output_dir={out}",
                           "--gin_param=SampleConfig.seed = 7"]) == 0
    midis = sorted(out.glob("*.mid"))
    assert len(midis) == 3
    for midi_path in midis:
        midi = assert_chorale_midi(midi_path)
        velocities = {n.velocity for i in midi.instruments for n in i.notes}
        assert len(velocities) == 2  # primer notes are marked apart
    assert not list(out.glob(".tmp*"))


def latest_step(checkpoints):
    """The step of the checkpoint the manager's state file points to."""
    state = (checkpoints / "checkpoint").read_text()
    return int(re.search(r'model_checkpoint_path: "ckpt-(\d+)"',
                         state).group(1))


# A run killed with SIGKILL and rerun: tests/test_crash_safety.py.
