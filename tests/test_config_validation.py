"""Every configurable parameter refuses bad values with one line naming it.

A table feeds each numeric, boolean and string parameter of every shipped
configurable (the settings classes and every registered component) bad
values through the command line's entry point, in this process, and expects
exit code 2, the parameter's name in the one error line, and nothing
written: the checks run before any data is read. A completeness test makes
sure a new parameter cannot be added without a row here.
"""

import functools
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import GIN, REPO
from helpers import DURATION_RNN, SMOKE, one_error_line, run_in_process

from polyframe import checks, plugin_loading, registries
from polyframe.data.augmentation import Augmentation
from polyframe.experiment import Experiment
from polyframe.sampling import SampleConfig
from polyframe.trainer import TrainConfig
from polyframe_plugins.encoders.event_stream import EventStreamEncoder

# Bad values (gin literals) by kind of parameter.
POSITIVE_INT = ("0", "'x'")
NON_NEGATIVE_INT = ("-1", "'x'")
POSITIVE_REAL = ("0", "1e999", "'x'")
NON_NEGATIVE_REAL = ("-1.0", "1e999", "'x'")
RATE = ("-0.1", "1.0", "'x'")  # in [0, 1)
FRACTION = ("-0.1", "1.0", "'x'")
PROBABILITY = ("0", "1.5", "'x'")  # in (0, 1]
FINITE = ("1e999", "'x'")
BOOLEAN = ("'yes'", "1")
MIDI_PITCH = ("-1", "128", "'x'")
VELOCITY = ("0", "128", "'x'")
CHOICE = ("'nope'", "3")
TEXT = ("''", "3")

# How to reach each component from the default experiment.
TRANSFORMER = ("--gin_file", str(GIN / "event_transformer.gin"))
HARMONIZER = ("--gin_file", str(GIN / "harmonizer.gin"))
GRU = ("--gin_file", str(GIN / "duration_rnn_gru.gin"))
ENSEMBLE = ("Experiment.model = @models.ensemble",
            "models.ensemble.member = @models.event_rnn")
GRID = ("Experiment.encoder = @encoders.grid()",)
EVENT_STREAM = ("Experiment.encoder = @encoders.event_stream()",)
INDEPENDENT = ("models.event_rnn.head = @heads.independent",)
ORDERED = GRID + ("models.event_rnn.head = @heads.ordered_frame",)
TOP_K = ("SampleConfig.sampler = @samplers.top_k()",)
NUCLEUS = ("SampleConfig.sampler = @samplers.nucleus()",)
VOICE_RANGE = ("SampleConfig.constraints = [@constraints.voice_range]",)
END_RATE = ("SampleConfig.constraints = [@constraints.end_at_model_rate]",)
MAX_RUN = ("SampleConfig.constraints = [@constraints.max_run]",)
IN_KEY = ("SampleConfig.constraints = [@constraints.in_key]",)
FRAME_RUN = ("Experiment.encoder = @encoders.grid()",
             "SampleConfig.constraints = [@constraints.frame_max_run]")
STREAM = ("--gin_file", str(GIN / "event_stream_rnn.gin"))
FIELD_TEMPERATURE = (
    "SampleConfig.constraints = [@constraints.field_temperature]",)
JSB = ("Experiment.source = @sources.jsb_json()",
       "sources.jsb_json.path = '{jsb}'")
MIDI_DIR = ("Experiment.source = @sources.midi_dir()",
            "sources.midi_dir.path = '{folder}'")
MUSICXML_DIR = ("Experiment.source = @sources.musicxml_dir()",
                "sources.musicxml_dir.path = '{folder}'")
TFRECORD = ("Experiment.source = @sources.note_sequence_tfrecord()",
            "sources.note_sequence_tfrecord.path = '{tfrecord}'")


def writer(name):
    return (f"SampleConfig.writers = [@writers.{name}()]",)


# parameter -> (bindings that make it used, bad values)
TABLE = {
    "TrainConfig.batch_size": ((), POSITIVE_INT),
    "TrainConfig.window_length": ((), POSITIVE_INT),
    "TrainConfig.learning_rate": ((), POSITIVE_REAL),
    "TrainConfig.clip_norm": ((), POSITIVE_REAL),
    "TrainConfig.max_epochs": ((), POSITIVE_INT),
    "TrainConfig.max_steps": ((), POSITIVE_INT),
    "TrainConfig.max_train_minutes": ((), POSITIVE_REAL),
    "TrainConfig.patience": ((), NON_NEGATIVE_INT),
    "TrainConfig.validate_every_epochs": ((), POSITIVE_INT),
    "TrainConfig.eval_batch_size": ((), POSITIVE_INT),
    "TrainConfig.checkpoint_every_steps": ((), NON_NEGATIVE_INT),
    "TrainConfig.checkpoint_every_epochs": ((), POSITIVE_INT),
    "TrainConfig.keep_checkpoints": ((), POSITIVE_INT),
    "TrainConfig.jit_compile": ((), BOOLEAN),
    "TrainConfig.seed": ((), NON_NEGATIVE_INT),
    "TrainConfig.shuffle_windows": ((), POSITIVE_INT),
    "TrainConfig.normalizer": ((), CHOICE),
    "TrainConfig.preview_every_minutes": ((), NON_NEGATIVE_REAL),
    "TrainConfig.max_nonfinite_steps": ((), POSITIVE_INT),
    "TrainConfig.init_from": ((), TEXT),
    "TrainConfig.warmup_steps": ((), NON_NEGATIVE_INT),
    "TrainConfig.decay_steps": ((), POSITIVE_INT),
    "TrainConfig.decay_with_budget": ((), BOOLEAN),
    "TrainConfig.final_learning_rate_fraction": ((), ("-0.1", "1.5", "'x'")),
    "TrainConfig.weight_average_decay": ((), RATE),
    "TrainConfig.weight_decay": ((), NON_NEGATIVE_REAL),
    "SampleConfig.num_samples": ((), POSITIVE_INT),
    "SampleConfig.primer_events": ((), NON_NEGATIVE_INT),
    "SampleConfig.max_events": ((), POSITIVE_INT),
    "SampleConfig.end_at_model_rate": ((), BOOLEAN),
    "SampleConfig.end_odds": ((), POSITIVE_REAL),
    "SampleConfig.min_quarters": ((), NON_NEGATIVE_REAL),
    "SampleConfig.seed": ((), NON_NEGATIVE_INT),
    "SampleConfig.qpm": ((), POSITIVE_REAL),
    "SampleConfig.renderer": ((), CHOICE),
    "Augmentation.transpose_semitones": ((), NON_NEGATIVE_INT),
    "Augmentation.normalize_key": ((), BOOLEAN),
    "Experiment.distribution": ((), CHOICE),
    "encoders.duration.num_voices": ((), POSITIVE_INT),
    "encoders.duration.min_pitch": ((), MIDI_PITCH),
    "encoders.duration.max_pitch": ((), MIDI_PITCH),
    "encoders.duration.end_marker": ((), BOOLEAN),
    "encoders.grid.voices_are_parts": (GRID, BOOLEAN),
    "encoders.grid.num_voices": (GRID, POSITIVE_INT),
    "encoders.grid.steps_per_quarter": (GRID, POSITIVE_INT),
    "encoders.grid.min_pitch": (GRID, MIDI_PITCH),
    "encoders.grid.max_pitch": (GRID, MIDI_PITCH),
    "encoders.grid.held_field": (GRID, BOOLEAN),
    "encoders.grid.end_marker": (GRID, BOOLEAN),
    "encoders.event_stream.steps_per_quarter": (EVENT_STREAM, POSITIVE_INT),
    "encoders.event_stream.min_pitch": (EVENT_STREAM, MIDI_PITCH),
    "encoders.event_stream.max_pitch": (EVENT_STREAM, MIDI_PITCH),
    "models.ensemble.size": (ENSEMBLE, POSITIVE_INT),
    "models.event_rnn.num_layers": ((), POSITIVE_INT),
    "models.event_rnn.default_embedding_size": ((), POSITIVE_INT),
    "models.event_rnn.dropout": ((), RATE),
    "models.event_rnn.time_features": ((), BOOLEAN),
    "models.event_rnn.held_counts": ((), NON_NEGATIVE_INT),
    "models.event_rnn.prior_tokens": ((), BOOLEAN),
    "models.event_rnn.embedding_sizes": ((), ("{'pitch': 0}", "3")),
    "models.event_transformer.num_layers": (TRANSFORMER, POSITIVE_INT),
    "models.event_transformer.d_model": (TRANSFORMER, POSITIVE_INT),
    "models.event_transformer.num_heads": (TRANSFORMER, POSITIVE_INT),
    "models.event_transformer.ff_size": (TRANSFORMER, POSITIVE_INT),
    "models.event_transformer.default_embedding_size": (TRANSFORMER,
                                                        POSITIVE_INT),
    "models.event_transformer.dropout": (TRANSFORMER, RATE),
    "models.event_transformer.attention_dropout": (TRANSFORMER, RATE),
    "models.event_transformer.embedding_sizes": (TRANSFORMER,
                                                 ("{'pitch': -1}",)),
    "models.melody_conditioned_rnn.num_layers": (HARMONIZER, POSITIVE_INT),
    "models.melody_conditioned_rnn.default_embedding_size": (HARMONIZER,
                                                             POSITIVE_INT),
    "models.melody_conditioned_rnn.dropout": (HARMONIZER, RATE),
    "models.melody_conditioned_rnn.melody_embedding_size": (HARMONIZER,
                                                            POSITIVE_INT),
    "models.melody_conditioned_rnn.melody_units": (HARMONIZER,
                                                   NON_NEGATIVE_INT),
    "models.melody_conditioned_rnn.melody_lookahead": (HARMONIZER,
                                                       NON_NEGATIVE_INT),
    "models.melody_conditioned_rnn.lookahead_units": (HARMONIZER,
                                                      POSITIVE_INT),
    "models.melody_conditioned_rnn.bidirectional": (HARMONIZER, BOOLEAN),
    "models.melody_conditioned_rnn.time_features": (HARMONIZER, BOOLEAN),
    "models.melody_conditioned_rnn.melody_voice": (HARMONIZER,
                                                   ("-1", "4", "'x'")),
    "models.melody_conditioned_rnn.embedding_sizes": (HARMONIZER,
                                                      ("{'pitch': 0}",)),
    "cells.lstm.num_units": ((), POSITIVE_INT),
    "cells.lstm.forget_bias": ((), FINITE),
    "cells.lstm.weight_dropout": ((), RATE),
    "cells.gru.num_units": (GRU, POSITIVE_INT),
    "heads.autoregressive.hidden_size": ((), POSITIVE_INT),
    "heads.autoregressive.embedding_size": ((), POSITIVE_INT),
    "heads.autoregressive.dropout": ((), RATE),
    "heads.autoregressive.melodic_span": ((), NON_NEGATIVE_INT),
    "heads.autoregressive.harmonic_span": ((), NON_NEGATIVE_INT),
    "heads.ordered_frame.hidden_size": (ORDERED, POSITIVE_INT),
    "heads.ordered_frame.embedding_size": (ORDERED, POSITIVE_INT),
    "heads.ordered_frame.dropout": (ORDERED, RATE),
    "heads.ordered_frame.melodic_span": (ORDERED, NON_NEGATIVE_INT),
    "heads.ordered_frame.harmonic_span": (ORDERED, NON_NEGATIVE_INT),
    "heads.ordered_frame.end_marker": (ORDERED, BOOLEAN),
    "heads.independent.hidden_size": (INDEPENDENT, POSITIVE_INT),
    "heads.independent.dropout": (INDEPENDENT, RATE),
    "samplers.temperature.temperature": ((), NON_NEGATIVE_REAL),
    "samplers.top_k.k": (TOP_K, POSITIVE_INT),
    "samplers.top_k.temperature": (TOP_K, NON_NEGATIVE_REAL),
    "samplers.nucleus.p": (NUCLEUS, PROBABILITY),
    "samplers.nucleus.temperature": (NUCLEUS, NON_NEGATIVE_REAL),
    "constraints.end_at_model_rate.odds": (END_RATE, POSITIVE_REAL),
    "constraints.end_at_model_rate.min_quarters": (END_RATE,
                                                   NON_NEGATIVE_REAL),
    "constraints.max_run.quarters": (MAX_RUN, POSITIVE_REAL),
    "constraints.stream_max_run.quarters": (STREAM, POSITIVE_REAL),
    "constraints.in_key.penalty": (IN_KEY, NON_NEGATIVE_REAL),
    "constraints.frame_max_run.quarters": (FRAME_RUN, POSITIVE_REAL),
    "constraints.in_key.min_notes": (IN_KEY, POSITIVE_INT),
    "constraints.in_key.key": (IN_KEY, ("'H major'", "3")),
    "constraints.field_temperature.factors": (FIELD_TEMPERATURE, (
        "{'duration': 0}", "{'nope': 0.5}", "0.5")),
    "constraints.field_temperature.voice_factors": (FIELD_TEMPERATURE, (
        "{'alto': 0}", "{'viola': 1.2}", "1.2")),
    "constraints.voice_range.ranges": (VOICE_RANGE, (
        "((0, (60, 200)),)", "((-1, (60, 70)),)", "((0, (70, 60)),)")),
    "sources.bach.valid_fraction": ((), FRACTION),
    "sources.bach.test_fraction": ((), FRACTION),
    "sources.bach.num_workers": ((), POSITIVE_INT),
    "sources.bach.cache_dir": ((), TEXT),
    "sources.bach.corpus_dir": ((), TEXT),
    "sources.jsb_json.format": (JSB, CHOICE),
    "sources.jsb_json.steps_per_quarter": (JSB, POSITIVE_INT),
    "sources.jsb_json.num_voices": (JSB, POSITIVE_INT),
    "sources.jsb_json.too_many_pitches": (JSB, CHOICE),
    "sources.jsb_json.path": (JSB[:1], TEXT),
    "sources.midi_dir.voices": (MIDI_DIR, CHOICE),
    "sources.midi_dir.num_voices": (MIDI_DIR, POSITIVE_INT),
    "sources.midi_dir.min_pitch": (MIDI_DIR, MIDI_PITCH),
    "sources.midi_dir.max_pitch": (MIDI_DIR, MIDI_PITCH),
    "sources.midi_dir.valid_fraction": (MIDI_DIR, FRACTION),
    "sources.midi_dir.test_fraction": (MIDI_DIR, FRACTION),
    "sources.midi_dir.num_workers": (MIDI_DIR, POSITIVE_INT),
    "sources.midi_dir.shard_size": (MIDI_DIR, POSITIVE_INT),
    "sources.midi_dir.cache_dir": (MIDI_DIR, TEXT),
    "sources.midi_dir.parse_timeout_s": (MIDI_DIR, POSITIVE_REAL),
    "sources.midi_dir.max_file_mb": (MIDI_DIR, POSITIVE_REAL),
    "sources.midi_dir.path": (MIDI_DIR[:1], TEXT),
    "sources.midi_dir.voice_names": (MIDI_DIR, ("3", "('S', '')")),
    "sources.musicxml_dir.voices": (MUSICXML_DIR, CHOICE),
    "sources.musicxml_dir.num_voices": (MUSICXML_DIR, POSITIVE_INT),
    "sources.musicxml_dir.min_pitch": (MUSICXML_DIR, MIDI_PITCH),
    "sources.musicxml_dir.max_pitch": (MUSICXML_DIR, MIDI_PITCH),
    "sources.musicxml_dir.valid_fraction": (MUSICXML_DIR, FRACTION),
    "sources.musicxml_dir.test_fraction": (MUSICXML_DIR, FRACTION),
    "sources.musicxml_dir.num_workers": (MUSICXML_DIR, POSITIVE_INT),
    "sources.musicxml_dir.shard_size": (MUSICXML_DIR, POSITIVE_INT),
    "sources.musicxml_dir.cache_dir": (MUSICXML_DIR, TEXT),
    "sources.musicxml_dir.parse_timeout_s": (MUSICXML_DIR, POSITIVE_REAL),
    "sources.musicxml_dir.max_file_mb": (MUSICXML_DIR, POSITIVE_REAL),
    "sources.musicxml_dir.path": (MUSICXML_DIR[:1], TEXT),
    "sources.musicxml_dir.voice_names": (MUSICXML_DIR, ("3", "('S', '')")),
    "sources.note_sequence_tfrecord.valid_fraction": (TFRECORD, FRACTION),
    "sources.note_sequence_tfrecord.test_fraction": (TFRECORD, FRACTION),
    "sources.note_sequence_tfrecord.num_voices": (TFRECORD, POSITIVE_INT),
    "sources.note_sequence_tfrecord.path": (TFRECORD[:1], TEXT),
    "writers.midi.programs": (writer("midi"), ("(52, 128)", "()")),
    "writers.midi.velocity": (writer("midi"), VELOCITY),
    "writers.midi.primer_velocity": (writer("midi"), VELOCITY),
    "writers.midi.ticks_per_quarter": (writer("midi"), POSITIVE_INT),
    "writers.musicxml.mark": (writer("musicxml"), ("3",)),
    "writers.piano_roll.inches_per_quarter": (writer("piano_roll"),
                                              POSITIVE_REAL),
    "writers.piano_roll.height": (writer("piano_roll"), POSITIVE_REAL),
    "writers.piano_roll.dpi": (writer("piano_roll"), POSITIVE_REAL),
    "writers.piano_roll.min_width": (writer("piano_roll"), POSITIVE_REAL),
    "writers.piano_roll.max_width": (writer("piano_roll"), POSITIVE_REAL),
    "writers.piano_roll.colours": (writer("piano_roll"), ("()", "(3,)")),
    "writers.score_svg.scale": (writer("score_svg"), POSITIVE_INT),
    "writers.score_svg.page_width": (writer("score_svg"), POSITIVE_INT),
    "writers.wav.renderer": (writer("wav"), CHOICE),
    "writers.wav.sample_rate": (writer("wav"), POSITIVE_INT),
    "writers.wav.timeout_s": (writer("wav"), POSITIVE_REAL),
    "writers.wav.soundfont": (writer("wav"), TEXT),
}

# Parameters that are not values a user binds: objects the framework or
# another binding passes in, and variable-scope names.
NOT_VALUES = {"name", "fields", "cell", "head", "melody_cell", "member",
              "input_size", "state_size", "encoder", "plan", "sampler",
              "constraints", "writers", "source", "model", "train", "sample",
              "augmentation", "options"}
# Bound by the framework, not by users (the number of voices comes from the
# encoder).
FRAMEWORK_BOUND = {"models.ensemble.num_voices",
                   "models.event_rnn.num_voices",
                   "models.event_transformer.num_voices",
                   "models.melody_conditioned_rnn.num_voices",
                   "heads.autoregressive.num_voices",
                   "heads.independent.num_voices",
                   "heads.ordered_frame.num_voices"}


def configurable_parameters():
    plugin_loading.load_plugins()
    owners = [("TrainConfig", TrainConfig), ("SampleConfig", SampleConfig),
              ("Augmentation", Augmentation), ("Experiment", Experiment)]
    for registry in registries.ALL:
        owners += [(f"{registry.name}.{name}", component)
                   for name, component in registry.items()]
    for owner, component in owners:
        for parameter in inspect.signature(component).parameters.values():
            if parameter.name in NOT_VALUES:
                continue
            qualified = f"{owner}.{parameter.name}"
            if qualified not in FRAMEWORK_BOUND:
                yield qualified


def test_every_configurable_parameter_has_a_row():
    missing = sorted(set(configurable_parameters()) - set(TABLE))
    assert not missing, f"add rows for {missing}"
    assert not sorted(set(TABLE) - set(configurable_parameters()))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Small real inputs the sources' paths can point at."""
    folder = tmp_path_factory.mktemp("inputs")
    jsb = folder / "jsb.json"
    jsb.write_text(json.dumps({"train": [[[60, 64, 67]]], "valid": [],
                               "test": []}))
    tfrecord = folder / "pieces.tfrecord"
    tfrecord.write_bytes(b"")
    return {"jsb": jsb, "folder": folder, "tfrecord": tfrecord}


def cases():
    for parameter, (context, values) in TABLE.items():
        for value in values:
            yield pytest.param(parameter, context, value,
                               id=f"{parameter}={value}")


@pytest.mark.parametrize("parameter, context, value", list(cases()))
def test_a_bad_value_is_one_line_naming_the_parameter(
        parameter, context, value, inputs, tmp_path, capsys):
    args = [f"--gin_file={DURATION_RNN}"]
    bindings = []
    items = iter(context)
    for item in items:
        if item == "--gin_file":
            args.append(f"--gin_file={next(items)}")
        else:
            bindings.append(item.format(**inputs))
    args.append(f"--gin_file={SMOKE}")
    model_dir = tmp_path / "run"
    args += [f"--gin_param={b}" for b in bindings]
    args += [f"--gin_param={parameter} = {value}", "--mode=train",
             f"--model_dir={model_dir}"]
    assert run_in_process(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert parameter in line, line
    assert not model_dir.exists()


def test_the_checks_refuse_nan_which_gin_cannot_write():
    with pytest.raises(checks.ConfigurationError,
                       match=r"TrainConfig.learning_rate must be a finite "
                             r"number > 0, got nan\."):
        TrainConfig(learning_rate=float("nan"))
    with pytest.raises(checks.ConfigurationError, match="SampleConfig.qpm"):
        SampleConfig(qpm=float("nan"))


def test_a_bad_value_from_a_real_command_line(tmp_path):
    model_dir = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-m", "polyframe.main", f"--gin_file={DURATION_RNN}",
         "--gin_param=cells.lstm.num_units = 0", f"--model_dir={model_dir}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 2
    assert ("polyframe: error: cells.lstm.num_units must be a whole number "
            ">= 1, got 0.") in process.stderr.splitlines()
    assert "Traceback" not in process.stderr
    assert not model_dir.exists()


class ClocklessStream(EventStreamEncoder):
    """An encoder that keeps no time (as a third-party encoder may)."""

    def clock(self):
        return None


def test_event_times_need_an_encoder_with_a_clock():
    plugin_loading.load_plugins()
    model = functools.partial(
        registries.MODELS.get("event_rnn"), time_features=True,
        cell=functools.partial(registries.CELLS.get("lstm"), num_units=4),
        head=functools.partial(registries.HEADS.get("autoregressive"),
                               hidden_size=4))
    experiment = Experiment(source=object(), encoder=ClocklessStream(),
                            model=model)
    with pytest.raises(checks.ConfigurationError,
                       match="EventRNN reads event times, which "
                             "ClocklessStream does not keep"):
        experiment.check()


def test_a_note_stream_can_read_event_times(tmp_path):
    model_dir = tmp_path / "run"
    args = [f"--gin_file={GIN / 'event_stream_rnn.gin'}",
            f"--gin_file={SMOKE}",
            "--gin_param=models.event_rnn.embedding_sizes = {'event': 4}",
            "--gin_param=models.event_rnn.time_features = True",
            "--mode=train", f"--model_dir={model_dir}"]
    assert run_in_process(args) == 0
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["valid_nll_per_event"])
