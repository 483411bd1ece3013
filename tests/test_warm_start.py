"""Warm start (`TrainConfig.init_from`): fine-tuning from another run.

The pretrained run is the shared `rnn_run` (duration RNN + smoke config,
seed 0). It is also the from-scratch baseline: the same config, data and
seed without `init_from`, so its first validation NLL is what the warm run
would have got without the pretrained weights.
"""

import glob
import json
import os

from conftest import GIN
from helpers import one_error_line, run_in_process

TRAIN = [f"--gin_file={GIN / 'duration_rnn.gin'}",
         f"--gin_file={GIN / 'smoke.gin'}", "--mode=train"]


def _valid_nll_per_event(model_dir):
    """`(step, valid nats/event)` of every validation, from TensorBoard."""
    import tensorflow as tf
    found = []
    for path in glob.glob(os.path.join(model_dir, "tensorboard", "valid",
                                       "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "nll_per_event":
                    found.append((event.step,
                                  float(tf.make_ndarray(value.tensor))))
    return sorted(found)


def _init_from(path):
    return f"--gin_param=TrainConfig.init_from = '{path}'"


def test_warm_start_begins_below_scratch_with_the_same_seed(rnn_run,
                                                            tmp_path):
    model_dir = tmp_path / "fine_tuned"
    assert run_in_process([*TRAIN, f"--model_dir={model_dir}",
                           _init_from(rnn_run)]) == 0

    warm_step, warm_nll = _valid_nll_per_event(model_dir)[0]
    scratch_step, scratch_nll = _valid_nll_per_event(rnn_run)[0]
    print(f"first valid NLL: warm {warm_nll:.4f} nats/event at step "
          f"{warm_step}, scratch {scratch_nll:.4f} at step {scratch_step}")
    assert warm_step == scratch_step == 6  # The step starts afresh.
    assert warm_nll < scratch_nll
    with open(model_dir / "encoder.json") as mine, \
            open(rnn_run / "encoder.json") as theirs:
        assert json.load(mine) == json.load(theirs)
    with open(model_dir / "metrics.json") as handle:
        assert json.load(handle)["best_step"] <= 6


def test_mismatching_model_names_the_first_variable(rnn_run, tmp_path,
                                                     capsys):
    model_dir = tmp_path / "wider"
    code = run_in_process([*TRAIN, f"--model_dir={model_dir}",
                           _init_from(rnn_run),
                           "--gin_param=cells.lstm.num_units = 16"])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "variable cells/0/bias is [64] here and [32] there" in line, line
    assert not model_dir.exists()


def test_missing_init_from_directory(tmp_path, capsys):
    model_dir = tmp_path / "run"
    code = run_in_process([*TRAIN, f"--model_dir={model_dir}",
                           _init_from(tmp_path / "no_such_run")])
    assert code == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err)
    assert not model_dir.exists()


def test_restored_encoder_state_is_used_unfitted_and_cached_apart(
        bach, tmp_path):
    """With a learned state the encoder is not fitted: durations it lacks
    become the nearest known one and are counted; the encodings are cached
    under their own key."""
    from polyframe.data.corpus import Corpus
    from polyframe.data.prepare import encode_corpus
    from polyframe_plugins.encoders.duration import DurationEncoder
    corpus = Corpus(train=bach.corpus.train[:6], valid=bach.corpus.valid[:2],
                    test=bach.corpus.test[:2])
    cache = str(tmp_path / "cache")
    fitted = encode_corpus(DurationEncoder(), corpus, cache)

    state = DurationEncoder().get_state()
    state["durations"] = ["1/2", "1", "2"]
    encoder = DurationEncoder()
    encoder.set_state(state)
    kept = encode_corpus(encoder, corpus, cache, fit=False)
    assert [str(d) for d in encoder.durations] == ["1/2", "1", "2"]
    assert encoder.num_unseen_durations > 0
    assert any((a != b).any() for a, b in zip(fitted["train"].pieces,
                                              kept["train"].pieces))
    assert len(os.listdir(os.path.join(cache, "encoded"))) == 2

    again = DurationEncoder()
    again.set_state(state)
    reused = encode_corpus(again, corpus, cache, fit=False)
    assert len(os.listdir(os.path.join(cache, "encoded"))) == 2
    assert all((a == b).all() for a, b in zip(kept["train"].pieces,
                                              reused["train"].pieces))


def test_prepare_skips_fitting_with_a_fitted_state(monkeypatch):
    from polyframe.data import augmentation, prepare
    from polyframe_plugins.encoders.duration import DurationEncoder

    calls = {}

    class Source:
        def load(self):
            return "corpus"

    def fake_encode(encoder, corpus, cache_dir=None, fit=True):
        calls.update(durations=encoder.durations, fit=fit)
        return {}

    monkeypatch.setattr(prepare, "encode_corpus", fake_encode)
    state = DurationEncoder().get_state()
    state["durations"] = ["1"]
    prepare.prepare(Source(), DurationEncoder(), augmentation.Augmentation(),
                    fitted_encoder_state=state)
    assert calls["fit"] is False and [str(d) for d in calls["durations"]] \
        == ["1"]


def test_init_from_own_directory_is_refused(rnn_run, capsys):
    code = run_in_process([*TRAIN, f"--model_dir={rnn_run}",
                           _init_from(rnn_run)])
    assert code == 2
    assert "own --model_dir" in one_error_line(capsys.readouterr().err)
