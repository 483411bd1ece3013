"""Bad input at the command line: one clear line, exit code 2, nothing
written. `main` runs in this process, which prints the same line as the
command (the real command in a subprocess is checked in
test_config_validation.py and, for plugins, test_plugins.py)."""

import pytest

from helpers import DURATION_RNN, SMOKE, one_error_line, run_in_process


@pytest.fixture
def model_dir(tmp_path):
    return tmp_path / "run"


def assert_fails_cleanly(args, model_dir, capsys, *expected):
    """Runs `main` with `args`: exit code 2, one line holding every
    `expected` text, and no model directory."""
    code = run_in_process(args)
    line = one_error_line(capsys.readouterr().err)
    assert code == 2, line
    for text in expected:
        assert text in line, line
    assert not model_dir.exists(), list(model_dir.rglob("*"))


def test_unknown_component_names_registry_choices_and_closest(model_dir,
                                                             capsys):
    args = [f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
            "--gin_param=models.event_rnn.cell = @cells.lstmm",
            f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys,
                         "unknown cells component 'lstmm'",
                         "Did you mean 'lstm'?", "gru", "plugin package")


def test_unknown_binding_target_is_explained(model_dir, capsys):
    args = [f"--gin_file={DURATION_RNN}",
            "--gin_param=heads.autoregresive.hidden_size = 3",
            f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys, "unknown heads component "
                         "'autoregresive'", "Did you mean 'autoregressive'?")


def test_gin_syntax_error_gives_file_and_line(model_dir, tmp_path, capsys):
    broken = tmp_path / "broken.gin"
    broken.write_text("models.event_rnn.num_layers = 2\nmodels.event_rnn.dropout = = 0.1\n")
    args = [f"--gin_file={DURATION_RNN}", f"--gin_file={broken}",
            f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys, "gin syntax error",
                         f"{broken}:2")


def test_missing_gin_file(model_dir, tmp_path, capsys):
    args = [f"--gin_file={tmp_path / 'nope.gin'}", f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys, "nope.gin")


def test_missing_data_path(model_dir, tmp_path, capsys):
    missing = tmp_path / "no_such_corpus.tfrecord"
    args = [
        f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
        "--gin_param=Experiment.source = @sources.note_sequence_tfrecord()",
        f"--gin_param=sources.note_sequence_tfrecord.path = '{missing}'",
        f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys, str(missing))


def test_unwritable_model_dir(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    model_dir = blocker / "run"
    args = [f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
            f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys, "cannot write the model "
                         "directory", str(model_dir))


def test_sample_mode_without_checkpoint(model_dir, capsys):
    model_dir.mkdir()
    assert run_in_process(["--mode=sample", f"--model_dir={model_dir}"]) == 2
    assert "no trained model" in one_error_line(capsys.readouterr().err)
    assert list(model_dir.iterdir()) == []


def test_invalid_value_in_config(model_dir, capsys):
    args = [f"--gin_file={DURATION_RNN}",
            "--gin_param=Augmentation.transpose_semitones = -2",
            f"--model_dir={model_dir}"]
    assert_fails_cleanly(args, model_dir, capsys,
                         "Augmentation.transpose_semitones must be a whole "
                         "number >= 0 and <= 24, got -2.")


def test_a_diverging_run_stops_with_one_line_and_keeps_no_metrics(
        bach, tmp_path, capsys):
    del bach  # The corpus, parsed once into the private cache.
    model_dir = tmp_path / "run"
    code = run_in_process([f"--gin_file={DURATION_RNN}", f"--gin_file={SMOKE}",
                           "--gin_param=TrainConfig.learning_rate = 1e30",
                           "--gin_param=TrainConfig.max_steps = 40",
                           "--mode=train", f"--model_dir={model_dir}"])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "training diverged: 10 steps in a row" in line
    assert "TrainConfig.learning_rate (now 1e+30)" in line
    assert not (model_dir / "metrics.json").exists()


def test_a_binding_cannot_run_code(tmp_path, capsys):
    marker = tmp_path / "ran"
    model_dir = tmp_path / "run"
    code = run_in_process([f"--gin_file={DURATION_RNN}",
                           "--gin_param=TrainConfig.seed = __import__('os')"
                           f".system('touch {marker}')",
                           f"--model_dir={model_dir}"])
    assert code == 2
    assert "gin syntax error" in one_error_line(capsys.readouterr().err)
    assert not marker.exists() and not model_dir.exists()
