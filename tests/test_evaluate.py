"""`--mode=evaluate`: a trained run scored on any data a source reads, the
same figures as training, and provenance that says what was scored."""

import json

import pytest
import tensorflow as tf

from conftest import GIN
from helpers import one_error_line, run_in_process


def chords(*columns, quarters=2):
    """16th-note steps holding each SATB chord for `quarters` quarters."""
    return [list(column) for column in columns for _ in range(4 * quarters)]


CADENCE = chords((72, 67, 64, 48), (74, 67, 62, 43), (72, 67, 64, 48))
PLAGAL = chords((72, 69, 65, 53), (72, 67, 64, 48))


def evaluate(run, *extra):
    return run_in_process(["--mode=evaluate", f"--model_dir={run}", *extra])


def test_scoring_the_bundled_chorales_repeats_the_training_figures(
        rnn_run, capsys):
    assert evaluate(rnn_run) == 0
    printed = capsys.readouterr().out
    result = json.loads((rnn_run / "evaluations" / "BachChorales.json")
                        .read_text())
    metrics = json.loads((rnn_run / "metrics.json").read_text())
    for split in ("valid", "test"):
        for key in ("nll_per_note", "nll_per_token", "nll_end",
                    "num_notes"):
            assert result[f"{split}_{key}"] == pytest.approx(
                metrics[f"{split}_{key}"], rel=1e-5)
        assert result[f"{split}_musical_statistics"] == metrics[
            f"{split}_musical_statistics"]
    assert result["valid_pieces_scored"] == 40
    assert result["test_pieces_scored"] == 51
    assert not any(key.startswith("train_") for key in result)
    assert f"valid_nll_per_note = {result['valid_nll_per_note']:.4f}" in (
        printed)
    assert result["provenance"]["pieces"] == {"valid": 40, "test": 51}


def test_a_jsb_file_is_scored_on_its_own_valid_and_test_splits(
        rnn_run, tmp_path):
    data = tmp_path / "tiny_jsb.json"
    data.write_text(json.dumps({"train": [CADENCE], "valid": [CADENCE, PLAGAL],
                                "test": [PLAGAL]}))
    assert evaluate(rnn_run, f"--gin_file={GIN / 'sources' / 'jsb_json.gin'}",
                    f"--gin_param=DATA_PATH = '{data}'") == 0
    result = json.loads((rnn_run / "evaluations" / "tiny_jsb.json")
                        .read_text())
    # The format cannot tell a held pitch from a repeated one, so a voice
    # that keeps its pitch holds one note: the cadence has 3 + 1 + 3 + 3
    # notes (the alto stays on G), the plagal close 1 + 2 + 2 + 2.
    assert result["valid_num_notes"] == 10 + 7
    assert result["test_num_notes"] == 7
    assert result["valid_num_ends"] == 2 and result["test_num_ends"] == 1
    assert result["valid_pieces_scored"] == 2
    assert result["provenance"]["data_path"] == str(data)
    assert result["provenance"]["pieces"] == {"valid": 2, "test": 1}

    assert evaluate(rnn_run, f"--gin_file={GIN / 'sources' / 'jsb_json.gin'}",
                    f"--gin_param=DATA_PATH = '{data}'",
                    "--eval_splits=all") == 0
    everything = json.loads((rnn_run / "evaluations" / "tiny_jsb.json")
                            .read_text())
    assert everything["all_num_notes"] == 10 + 10 + 7 + 7
    # The same data in another order is other data.
    assert (everything["provenance"]["data_sha256"]
            != result["provenance"]["data_sha256"])


def test_an_unknown_split_is_one_line(rnn_run, capsys):
    assert evaluate(rnn_run, "--eval_splits=holdout") == 2
    assert "unknown split 'holdout'" in one_error_line(capsys.readouterr().err)


def test_metrics_record_where_they_come_from(rnn_run):
    metrics = json.loads((rnn_run / "metrics.json").read_text())
    block = metrics["provenance"]
    assert block["packages"]["tensorflow"] == tf.__version__
    assert block["source"] == "BachChorales"
    assert block["pieces"] == {"train": 314, "valid": 40, "test": 51}
    assert block["seed"] == 0
    assert len(block["data_sha256"]) == 64
    assert block["polyframe"] == "0.1.0"
    assert metrics["steps_trained"] >= metrics["best_step"] >= 1
