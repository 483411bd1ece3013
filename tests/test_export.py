"""`--mode=export`: a SavedModel that generates and scores without polyframe.

The export is loaded in a fresh Python that never imports polyframe, and its
outputs are compared with polyframe's own for the same inputs: the same
events, lengths and END flags from the generation loop with the temperature
sampler (same seed, same temperature), the same NLL from the model.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import GIN
from helpers import one_error_line, run_in_process

CASES = [  # (saved openings' length, batch, events, seed, temperature)
    (4, 2, 12, 7, 0.8),
    (0, 3, 10, 3, 0.0),  # START only; temperature 0 is argmax.
    # Long enough to pass the default's minimum length and end: the export
    # must shape END as the run's SampleConfig says (odds and minimum).
    (0, 4, 80, 11, 1.0),
]

LOADER = r'''
import json, sys
import numpy as np
import tensorflow as tf

export_dir, inputs_path = sys.argv[1:]
with open(inputs_path) as handle:
    inputs = json.load(handle)
model = tf.saved_model.load(export_dir)
result = {"generate": [], "imported": sorted(
    m for m in sys.modules if m.split(".")[0].startswith("polyframe"))}
generate = model.signatures["generate"]
for case in inputs["generate"]:
    out = generate(primer=tf.constant(case["primer"], tf.int32),
                   num_events=tf.constant(case["num_events"], tf.int32),
                   seed=tf.constant(case["seed"], tf.int32),
                   temperature=tf.constant(case["temperature"], tf.float32))
    result["generate"].append({k: v.numpy().tolist() for k, v in out.items()})
score = model.signatures["score"]
out = score(**{k: tf.constant(v, tf.int32 if k == "events" else tf.float32)
               for k, v in inputs["score"].items()})
result["score"] = {k: v.numpy().tolist() for k, v in out.items()}
for name in ("encoder_json", "export_info"):
    with open(getattr(model, name).asset_path.numpy().decode()) as handle:
        result[name] = json.load(handle)
print("RESULT " + json.dumps(result))
'''


def _restored(model_dir):
    """The run's experiment and its model with the best weights, the way
    `--mode=sample` builds them."""
    import gin
    from polyframe import jobs, main
    from polyframe.model_dir import ModelDir
    run = ModelDir(str(model_dir))
    gin.clear_config()
    try:
        experiment = main.configure([run.config], [])()
        return experiment, jobs.restore_model(experiment, run)
    finally:
        gin.clear_config()


def _polyframe_generation(model_dir, model, encoder, primers, num_events,
                          seed, temperature):
    """What `--mode=sample` draws: the Composer's own generation loop (its
    constraint chain, END at the model's rate included), at `temperature`.
    The chain is built while the run's gin file is in force, as in
    `--mode=sample`: its constraints read their settings from it."""
    import gin
    from polyframe import main
    from polyframe.compose import Composer
    from polyframe.model_dir import ModelDir
    from polyframe_plugins.samplers.categorical import TemperatureSampler
    gin.clear_config()
    try:
        settings = main.configure([ModelDir(str(model_dir)).config],
                                  [])().sample
        generator = Composer(model, encoder, settings,
                             TemperatureSampler(temperature)).generator()
    finally:
        gin.clear_config()
    return generator(primers, num_events, seed)


def _run_names():
    names = ["rnn_run", "ensemble_run"]
    if (GIN / "event_transformer.gin").exists():
        names.append("transformer_run")
    return names


@pytest.fixture(scope="module", params=_run_names())
def exported(request, tmp_path_factory):
    """A trained run, exported to a fresh directory with `--mode=export`."""
    model_dir = request.getfixturevalue(request.param)
    export_dir = tmp_path_factory.mktemp("exports") / request.param
    code = run_in_process(["--mode=export", f"--model_dir={model_dir}",
                           f"--export_dir={export_dir}"])
    assert code == 0
    return model_dir, export_dir


def test_export_matches_polyframe_without_importing_it(exported, tmp_path):
    from polyframe.data import pipeline
    from polyframe.model_dir import ModelDir
    model_dir, export_dir = exported
    experiment, model = _restored(model_dir)
    encoder = experiment.encoder
    run = ModelDir(str(model_dir))

    cases = []
    for length, batch, num_events, seed, temperature in CASES:
        openings, _ = run.load_primers(batch, length)
        primers = np.stack([pipeline.with_start(o) for o in openings])
        cases.append({"primer": primers.tolist(), "num_events": num_events,
                      "seed": seed, "temperature": temperature})
    pieces, _ = run.load_primers(3, 20)
    # The default model reads event times (pinned in test_gin_configs): the
    # export computes them from the events, polyframe's pipeline from the
    # encoder, and the scores below must agree.
    framing = pipeline.framing_for(encoder, model.features)
    batch = next(pipeline.whole_pieces(pieces, 3, framing))
    inputs = {"generate": cases,
              "score": {k: batch[k].tolist()
                        for k in ("events", "mask", "end", "notes")}}
    inputs_path = tmp_path / "inputs.json"
    inputs_path.write_text(json.dumps(inputs))

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run(
        [sys.executable, "-c", LOADER, str(export_dir), str(inputs_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    line = [text for text in process.stdout.splitlines()
            if text.startswith("RESULT ")]
    served = json.loads(line[0][len("RESULT "):])
    assert served["imported"] == []

    ended = 0
    for case, got in zip(cases, served["generate"]):
        expected = _polyframe_generation(
            model_dir, model, encoder, np.asarray(case["primer"], np.int32),
            case["num_events"], case["seed"], case["temperature"])
        ended += expected.ended.sum()
        np.testing.assert_array_equal(got["events"], expected.events)
        np.testing.assert_array_equal(got["lengths"], expected.lengths)
        np.testing.assert_array_equal(got["ended"], expected.ended)
        if not expected.ended.all():  # The loop stops once every row ends.
            assert np.asarray(got["events"]).shape[1] == \
                expected.primer_events + case["num_events"]
    assert ended  # END was drawn, so its rule was compared too.

    losses = sum(loss.numpy() for loss in model.token_losses(batch))
    per_event = losses.sum(axis=-1)
    end = batch["end"] * batch["mask"]
    np.testing.assert_allclose(served["score"]["nll"],
                               (per_event * (batch["mask"] - end)).sum(1),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(served["score"]["nll_end"],
                               (per_event * end).sum(1), rtol=1e-5, atol=1e-4)
    assert min(served["score"]["nll_end"]) > 0  # Every piece has its END.
    sums = model.nll_sums(batch)
    assert sum(served["score"]["nll"]) == pytest.approx(
        float(sums["nll"]), rel=1e-5)

    assert served["encoder_json"] == encoder.get_state()
    info = served["export_info"]
    assert info["num_voices"] == encoder.num_voices
    assert info["end_ids"] == list(encoder.end_ids)
    assert [f["vocab_size"] for f in info["fields"]] == \
        [f.vocab_size for f in encoder.fields]
    pitch = info["fields"][0]["vocabulary"]
    assert pitch[0] == "START" and pitch[-1] == "END"
    assert pitch[encoder.pitch_id(60)] == "pitch:60"


def test_unwritable_export_dir_is_one_line_and_leaves_nothing(
        rnn_run, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code = run_in_process(["--mode=export", f"--model_dir={rnn_run}",
                           f"--export_dir={blocker / 'export'}"])
    assert code == 2
    assert "cannot write the export directory" in one_error_line(
        capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["a_file"]
    assert blocker.read_text() == "not a directory"


def test_directory_that_is_not_an_export_is_never_replaced(
        rnn_run, tmp_path, capsys):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    code = run_in_process(["--mode=export", f"--model_dir={rnn_run}",
                           f"--export_dir={keep}"])
    assert code == 2
    assert "is not a polyframe export" in one_error_line(
        capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["mine"]
    assert (keep / "notes.txt").read_text() == "mine"


def test_crash_while_saving_keeps_the_old_export(rnn_run, tmp_path,
                                                 monkeypatch):
    import tensorflow as tf
    from polyframe import export as export_lib
    from polyframe.compose import constraint_chain
    from polyframe.model_dir import ModelDir
    target = tmp_path / "export"
    (target / "assets").mkdir(parents=True)
    (target / "saved_model.pb").write_text("the old export")
    (target / "assets" / export_lib.INFO_ASSET).write_text("{}")
    experiment, model = _restored(rnn_run)

    def crash(module, directory, signatures=None):
        (tf.io.gfile.GFile(os.path.join(directory, "saved_model.pb"), "w")
         .write("half"))
        raise RuntimeError("killed while saving")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(RuntimeError, match="killed while saving"):
        export_lib.export(model, experiment.encoder,
                          ModelDir(str(rnn_run)).encoder_state, str(target),
                          constraint_chain(experiment.encoder,
                                           experiment.sample))
    assert sorted(os.listdir(tmp_path)) == ["export"]
    assert (target / "saved_model.pb").read_text() == "the old export"


def test_models_with_conditioning_features_are_refused():
    from polyframe import export as export_lib
    from polyframe.errors import UserFacingError

    class Harmonizer:
        features = ("times", "melody")

    with pytest.raises(UserFacingError, match="reads times, melody"):
        export_lib.check_exportable(Harmonizer())


def test_export_dir_flag_belongs_to_export_mode(rnn_run, tmp_path, capsys):
    code = run_in_process(["--mode=sample", f"--model_dir={rnn_run}",
                           f"--export_dir={tmp_path / 'x'}"])
    assert code == 2
    assert "--export_dir is for --mode=export" in one_error_line(
        capsys.readouterr().err)
    assert not os.listdir(tmp_path)
