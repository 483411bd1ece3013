"""Every shipped gin file parses, alone or after a base experiment, and
builds an `Experiment` whose components come from the registries."""

import gin
import pytest

from polyframe import main
from polyframe.encoding import Field
from polyframe.experiment import Experiment

from conftest import REPO

GIN_DIR = REPO / "gin_configs"
EXPERIMENTS = sorted(p for p in GIN_DIR.glob("*.gin") if p.name != "smoke.gin")
MODIFIERS = [GIN_DIR / "smoke.gin"]


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_there_are_experiments_to_check():
    assert {p.name for p in EXPERIMENTS} >= {"duration_rnn.gin"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_experiment_file_parses_and_builds(path):
    experiment = main.configure([str(path)], [])()
    assert isinstance(experiment, Experiment)
    experiment.check()
    assert experiment.train.batch_size > 0


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
@pytest.mark.parametrize("modifier", MODIFIERS, ids=lambda p: p.name)
def test_modifier_applies_on_top_of_experiment(path, modifier):
    experiment = main.configure([str(path), str(modifier)], [])()
    assert experiment.train.max_steps is not None
    assert experiment.sample.num_samples <= 2


_FIELDS = (Field("pitch", 92), Field("duration", 25))


def _values(experiment):
    """The settings of a built experiment that the table below pins."""
    sampler = experiment.sample.sampler
    constraints = tuple(getattr(make, "__name__", type(make).__name__)
                        for make in experiment.sample.constraints)
    return {
        "source": type(experiment.source).__name__,
        "encoder": type(experiment.encoder).__name__,
        "voices_are_parts": experiment.encoder.voices_are_parts,
        "batch_size": experiment.train.batch_size,
        "window_length": experiment.train.window_length,
        "learning_rate": experiment.train.learning_rate,
        "max_train_minutes": experiment.train.max_train_minutes,
        "max_steps": experiment.train.max_steps,
        "warmup_steps": experiment.train.warmup_steps,
        "decay_steps": experiment.train.decay_steps,
        "decay_with_budget": experiment.train.decay_with_budget,
        "max_epochs": experiment.train.max_epochs,
        "patience": experiment.train.patience,
        "final_learning_rate_fraction":
            experiment.train.final_learning_rate_fraction,
        "weight_average_decay": experiment.train.weight_average_decay,
        "validate_every_epochs": experiment.train.validate_every_epochs,
        "checkpoint_every_epochs": experiment.train.checkpoint_every_epochs,
        "transpose_semitones": experiment.augmentation.transpose_semitones,
        "temperature": getattr(sampler, "temperature", None),
        "max_events": experiment.sample.max_events,
        "end_odds": experiment.sample.end_odds,
        "min_quarters": experiment.sample.min_quarters,
        "constraints": constraints,
        "field_factors": _bound("FieldTemperature", constraints,
                                "constraints.field_temperature.factors"),
        "voice_factors": _bound(
            "FieldTemperature", constraints,
            "constraints.field_temperature.voice_factors"),
        "max_run_quarters": _bound("MaxRun", constraints,
                                   "constraints.max_run.quarters"),
        "stream_max_run_quarters": _bound(
            "StreamMaxRun", constraints,
            "constraints.stream_max_run.quarters"),
        "in_key_penalty": _bound("InKey", constraints,
                                 "constraints.in_key.penalty"),
        "frame_max_run_quarters": _bound(
            "FrameMaxRun", constraints, "constraints.frame_max_run.quarters"),
    }


def _bound(constraint, constraints, parameter):
    """The value the gin file binds to `parameter` of `constraint`, None if
    the constraint is not used or the parameter not bound."""
    if constraint not in constraints:
        return None
    try:
        return gin.query_parameter(parameter)
    except ValueError:
        return None


# The training schedule of every experiment that sets none of its own, and
# the rules only the note stream or the piano roll uses.
DEFAULTS = dict(warmup_steps=0, decay_steps=None, decay_with_budget=False,
                final_learning_rate_fraction=0.0,
                weight_average_decay=0.0, validate_every_epochs=1,
                checkpoint_every_epochs=1,
                stream_max_run_quarters=None, in_key_penalty=None,
                voice_factors=None, members=1, ensemble=None,
                weight_dropout=0.0, voices_are_parts=True,
                frame_max_run_quarters=None, prior_tokens=False,
                interval_spans=(0, 0))

# Each shipped experiment's actual values: a change to a gin file that is not
# also made here fails, so no published number moves by accident.
EXPECTED = {
    "duration_rnn.gin": dict(
        source="BachChorales", encoder="DurationEncoder", model="EventRNN",
        batch_size=32, window_length=40, learning_rate=0.002,
        max_epochs=1000, patience=0, decay_with_budget=True,
        width=256, head_width=384, dropout=(0.2, 0.2),
        max_train_minutes=13, transpose_semitones=5, temperature=0.8,
        end_odds=24.0, min_quarters=24,
        max_events=600, num_layers=2,
        constraints=("FieldTemperature", "NoParallels", "MaxRun"),
        field_factors={"duration": 0.4}, max_run_quarters=6,
        voice_factors={"alto": 1.45},
        features=("times",), max_steps=None,
        head="AutoregressiveHead", held_counts=0, weight_dropout=0.3),
    "duration_rnn_original.gin": dict(
        source="BachChorales", encoder="DurationEncoder", model="EventRNN",
        batch_size=32, window_length=40, learning_rate=0.001,
        max_epochs=200, patience=15,
        width=256, head_width=256, dropout=(0.0, 0.0),
        max_train_minutes=13, transpose_semitones=5, temperature=0.875,
        end_odds=24.0, min_quarters=24,
        max_events=600, num_layers=1,
        constraints=("FieldTemperature", "NoParallels", "MaxRun"),
        field_factors={"duration": 0.4}, max_run_quarters=6,
        features=(), max_steps=None,
        head="AutoregressiveHead", held_counts=0),
    "duration_rnn_gru.gin": dict(
        source="BachChorales", encoder="DurationEncoder", model="EventRNN",
        batch_size=32, window_length=40, learning_rate=0.001,
        max_epochs=200, patience=15,
        width=256, head_width=256, dropout=(0.0, 0.0),
        max_train_minutes=13, transpose_semitones=5, temperature=0.85,
        end_odds=24.0, min_quarters=24,
        max_events=600, num_layers=1,
        constraints=("FieldTemperature", "NoParallels", "MaxRun"),
        field_factors={"duration": 0.4}, max_run_quarters=6,
        voice_factors={"alto": 1.2},
        features=(), max_steps=None,
        head="AutoregressiveHead", held_counts=0, weight_dropout=None),
    "event_stream_rnn.gin": dict(
        source="BachChorales", encoder="EventStreamEncoder",
        model="EventRNN", batch_size=32, window_length=128,
        learning_rate=0.002, max_epochs=200, patience=15,
        width=256, head_width=128, dropout=(0.3, 0.3), max_train_minutes=13, transpose_semitones=5,
        temperature=0.675, end_odds=2.0, min_quarters=24,
        max_events=4096, num_layers=2,
        constraints=("StreamMaxRun", "InKey"), stream_max_run_quarters=6,
        in_key_penalty=0.5, voices_are_parts=False,
        field_factors=None, max_run_quarters=None,
        features=(), max_steps=None,
        head="AutoregressiveHead", held_counts=0),
    "event_transformer.gin": dict(
        source="BachChorales", encoder="DurationEncoder",
        model="EventTransformer", batch_size=32, window_length=40,
        learning_rate=0.001, max_epochs=200, patience=15,
        width=128, head_width=128, dropout=(0.2, 0.3), max_train_minutes=13, transpose_semitones=5,
        temperature=0.9, end_odds=16.0, min_quarters=24,
        max_events=600, num_layers=3,
        constraints=("FieldTemperature", "NoParallels", "MaxRun"),
        field_factors={"duration": 0.4}, max_run_quarters=6,
        voice_factors={"alto": 1.2},
        features=(), max_steps=None, head="AutoregressiveHead",
        held_counts=None, weight_dropout=None),
    "harmonizer.gin": dict(
        source="BachChorales", encoder="DurationEncoder",
        model="MelodyConditionedRNN", batch_size=32, window_length=40,
        learning_rate=0.002, max_epochs=1000, patience=0,
        decay_with_budget=True,
        width=256, head_width=384, dropout=(0.2, 0.2), max_train_minutes=13, transpose_semitones=5,
        temperature=0.6, end_odds=1.0, min_quarters=0,
        max_events=600, num_layers=2,
        constraints=("FieldTemperature", "NoParallels", "MaxRun"),
        field_factors={"duration": 0.4}, max_run_quarters=6,
        features=("times", "melody"), max_steps=None,
        head="AutoregressiveHead", held_counts=None),
    "jsb_grid.gin": dict(
        source="JSBChoralesJSON", encoder="GridEncoder", model="EventRNN",
        batch_size=32, window_length=128, learning_rate=0.003,
        max_epochs=10000, patience=10,
        width=384, head_width=384, dropout=(0.2, 0.2), weight_dropout=0.3,
        max_train_minutes=30, max_steps=3600, validate_every_epochs=4,
        decay_steps=3600, final_learning_rate_fraction=0.1,
        transpose_semitones=5, temperature=0.8,
        end_odds=4.0, min_quarters=24,
        max_events=1024, num_layers=2,
        constraints=("NoParallels", "MaxRun"),
        field_factors=None, max_run_quarters=6,
        features=("times",), head="AutoregressiveHead", held_counts=16),
    "jsb_pianoroll.gin": dict(
        source="JSBChoralesJSON", encoder="GridEncoder", model="EventRNN",
        batch_size=32, window_length=64, learning_rate=0.002,
        max_epochs=10000, patience=0,
        width=64, head_width=64, dropout=(0.1, 0.1), weight_dropout=0.5,
        max_train_minutes=30, max_steps=2000, ensemble="Ensemble", members=32,
        voices_are_parts=False, frame_max_run_quarters=8,
        validate_every_epochs=4, checkpoint_every_epochs=10,
        weight_average_decay=0.99, transpose_semitones=0,
        temperature=0.8, end_odds=1.0, min_quarters=0,
        max_events=256, num_layers=2,
        constraints=("FrameMaxRun",),
        field_factors=None, max_run_quarters=None,
        features=("times",), head="OrderedFrameHead", held_counts=0),
}


def test_every_shipped_experiment_is_pinned():
    assert {p.name for p in EXPERIMENTS} == set(EXPECTED)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_shipped_values(path):
    experiment = main.configure([str(path)],
                                ["DATA_PATH = '/unused.json'"])()
    model = experiment.model(fields=_FIELDS, num_voices=4) \
        if experiment.encoder.num_voices == 4 else experiment.model(
            fields=(Field("event", 200),), num_voices=1)
    values = _values(experiment)
    values["members"] = len(getattr(model, "members", [model]))
    values["ensemble"] = (type(model).__name__ if hasattr(model, "members")
                          else None)
    # An ensemble's settings are its members'.
    model = getattr(model, "members", [model])[0]
    values["model"] = type(model).__name__
    values["num_layers"] = _num_layers(model)
    values["features"] = tuple(model.features)
    values["head"] = type(model.head).__name__
    values["held_counts"] = getattr(model, "held_counts", None)
    values["prior_tokens"] = bool(getattr(model, "prior_tokens", False))
    values["interval_spans"] = _interval_spans(model.head)
    values["dropout"] = (getattr(model, "dropout", None),
                         getattr(model.head, "dropout", None))
    cells = getattr(model, "cells", None) or [None]
    values["weight_dropout"] = getattr(cells[0], "weight_dropout", None)
    values["head_width"] = _head_width(model.head)
    values["width"] = _width(model)
    expected = dict(DEFAULTS, **EXPECTED[path.name])
    assert values == expected


def _head_width(head):
    """The width of each voice's hidden layer in the head, if it has one."""
    layer = getattr(head, "from_context", None)
    return None if layer is None else int(layer.kernel.shape[-1])


def _interval_spans(head):
    """The head's melodic and harmonic spans (0 where it scores none)."""
    return tuple(0 if layer is None else (int(layer.bias.shape[-1]) - 1) // 2
                 for layer in (getattr(head, "melodic", None),
                               getattr(head, "harmonic", None)))


def _width(model):
    """The recurrent cells' units, or the Transformer's model width."""
    cells = getattr(model, "cells", None)
    if cells:
        return cells[0].num_units
    return getattr(model, "d_model", None)


def _num_layers(model):
    for name in ("cells", "blocks", "layers"):
        if isinstance(getattr(model, name, None), (list, tuple)):
            return len(getattr(model, name))
    return getattr(model, "num_layers", None)


def test_harmonizer_reads_the_melody_ahead_without_a_recurrent_pass():
    """The harmoniser's published NLL is for these melody settings."""
    experiment = main.configure([str(GIN_DIR / "harmonizer.gin")], [])()
    model = experiment.model(fields=_FIELDS, num_voices=4)
    assert model.melody_lookahead == 16
    assert model.backward is None and model.forward is None
    assert model.melody_width == 0
    assert model.time_features is True
    assert model.dropout == 0.2
    assert model.melody_voice == 0
