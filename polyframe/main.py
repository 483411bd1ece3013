r"""polyframe's command line: train music models, sample and harmonise.

    python -m polyframe.main --gin_file=gin_configs/duration_rnn.gin \
        --model_dir=runs/chorales
    python -m polyframe.main --mode=sample --model_dir=runs/chorales
    python -m polyframe.main --mode=harmonize --model_dir=runs/chorales \
        --melody='G4:1 G4:1 A4:1 B4:2 R:1'
    python -m polyframe.main --mode=export --model_dir=runs/chorales
    python -m polyframe.main --list_plugins

Gin lives here and only here: plugins are loaded, registered components are
exposed to gin, config files are parsed, and the library is called with the
objects gin built.
"""

import logging as python_logging
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# note-seq imports pydub, which warns about ffmpeg; polyframe never uses it.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg",
                        category=RuntimeWarning)

from absl import app, flags, logging  # noqa: E402

from polyframe import preemption  # noqa: E402
from polyframe.errors import UserFacingError  # noqa: E402

MODES = ("train_and_sample", "train", "sample", "harmonize", "evaluate",
         "export")
# Modes that start from a trained directory and its saved config.gin.
TRAINED_MODES = ("sample", "harmonize", "evaluate", "export")

flags.DEFINE_multi_string("gin_file", [], "Gin config files, applied in order.")
flags.DEFINE_multi_string("gin_param", [],
                          "Gin bindings applied after the files, e.g. "
                          "--gin_param='TrainConfig.max_epochs = 5'.")
flags.DEFINE_string("model_dir", None, "Where the run's files are written.")
flags.DEFINE_enum("mode", "train_and_sample", MODES,
                  "train_and_sample: the whole job; train: no samples; "
                  "sample: sample again from a trained --model_dir; "
                  "harmonize: add voices to --melody; evaluate: score a "
                  "trained --model_dir on the data a source --gin_file "
                  "reads; export: write a SavedModel of a trained "
                  "--model_dir.")
flags.DEFINE_integer("num_samples", None,
                     "Overrides SampleConfig.num_samples.")
flags.DEFINE_integer("seed", None, "Overrides SampleConfig.seed: sample i "
                     "depends on (seed, i) only.")
flags.DEFINE_float("temperature", None,
                   "Samples with this temperature (temperature sampler); a "
                   "field given a factor by @constraints.field_temperature "
                   "is drawn at this times its factor.")
flags.DEFINE_string("output_dir", None,
                    "Where --mode=sample/harmonize write (default "
                    "MODEL_DIR/samples or MODEL_DIR/harmonized).")
flags.DEFINE_string("export_dir", None,
                    "Where --mode=export writes the SavedModel (default "
                    "MODEL_DIR/export); an earlier export there is replaced.")
flags.DEFINE_list("eval_splits", None,
                  "--mode=evaluate: which splits to score (train, valid, "
                  "test, all); default valid and test for data with its own "
                  "split (a JSB file, the bundled chorales), else all.")
flags.DEFINE_string("melody", None,
                    "--mode=harmonize: a MIDI or MusicXML file, or inline "
                    "notes such as '3/4 | G4:2 A4:1 | B4:3' (NOTE:QUARTERS, "
                    "R for a rest, | for barlines).")
flags.DEFINE_string("melody_part", None,
                    "The part (by name) of a --melody file to use; default "
                    "the top part.")
flags.DEFINE_string("melody_voice", "soprano",
                    "Which voice the melody is: soprano, alto, tenor, bass.")
flags.DEFINE_string("primer", None,
                    "--mode=sample: music every sample continues (a file "
                    "whose parts map to voices, or inline notes for the "
                    "soprano); voices it lacks are generated over its span.")
flags.DEFINE_bool("list_plugins", False,
                  "Print every registry and its components, then exit.")
FLAGS = flags.FLAGS


def list_plugins() -> str:
    """Returns the registries and their components as text."""
    from polyframe import plugin_loading, registries
    loaded = plugin_loading.load_plugins()
    lines = []
    for registry in registries.ALL:
        lines.append(f"{registry.name}: {registry.description}")
        for name, component in registry.items():
            doc = (component.__doc__ or "").strip().splitlines()
            summary = f" - {doc[0]}" if doc else ""
            label = f"@{registry.name}.{name}"
            lines.append(f"  {label:<34} {registry.origin(name)}{summary}")
    lines.append(f"entry points loaded ({plugin_loading.ENTRY_POINT_GROUP}):")
    lines.extend(f"  {entry}" for entry in loaded)
    failed = plugin_loading.blocked()
    if failed:
        lines.append("blocked (failed to import):")
        lines.extend(f"  {line}" for line in failed)
    return "\n".join(lines)


def configure(gin_files, gin_params):
    """Loads plugins, exposes components to gin, parses the config, and
    returns the configured `Experiment` factory."""
    from polyframe import gin_utils, plugin_loading
    from polyframe.data.augmentation import Augmentation
    from polyframe.experiment import Experiment
    from polyframe.sampling import SampleConfig
    from polyframe.trainer import TrainConfig

    plugin_loading.load_plugins()
    gin_utils.expose_registries()
    configurable = {name: gin_utils.expose(component, name)
                    for name, component in (
                        ("Experiment", Experiment), ("TrainConfig", TrainConfig),
                        ("SampleConfig", SampleConfig),
                        ("Augmentation", Augmentation))}
    gin_utils.parse_config(gin_files, gin_params)
    return configurable["Experiment"]


def run(argv) -> None:
    """Runs the job the flags ask for."""
    del argv
    import gin
    import tensorflow as tf
    from polyframe import checks, gin_utils, jobs
    from polyframe.model_dir import ModelDir

    tf.get_logger().setLevel("ERROR")
    if FLAGS.list_plugins:
        print(list_plugins())
        return
    if not FLAGS.model_dir:
        raise UserFacingError("--model_dir is required (where the run's files "
                              "go, or the trained run to sample from).")
    _check_flags()
    gin_files = list(FLAGS.gin_file)
    if FLAGS.mode in TRAINED_MODES:
        run_dir = ModelDir(FLAGS.model_dir)
        run_dir.best_checkpoint_or_fail()
        gin_utils.migrate_saved_config(run_dir.config)
        gin_files = [run_dir.config] + gin_files
    elif not gin_files:
        raise UserFacingError("no --gin_file given; start from "
                              "--gin_file=gin_configs/duration_rnn.gin")
    make_experiment = configure(gin_files, flag_bindings())
    try:
        experiment = make_experiment()
    except checks.ConfigurationError as error:
        # Its first line names the parameter; gin appends where it was built.
        raise UserFacingError(str(error).splitlines()[0]) from None
    except (ValueError, TypeError) as error:
        # Raised while gin builds the configured objects: a bad value, a
        # missing macro such as DATA_PATH, a wrong argument type.
        message = " ".join(line.strip() for line in str(error).splitlines())
        raise UserFacingError(f"invalid configuration: {message}") from None
    if FLAGS.mode == "export":
        jobs.export(experiment, FLAGS.model_dir, export_dir=FLAGS.export_dir)
        return
    if FLAGS.mode == "evaluate":
        _evaluate(experiment)
        return
    if FLAGS.mode == "harmonize":
        melody = _read_melody(experiment)
        jobs.harmonize(experiment, FLAGS.model_dir, melody,
                       output_dir=FLAGS.output_dir)
        return
    primer = None
    if FLAGS.primer is not None:
        from polyframe import music_input
        primer = music_input.read_primer(
            FLAGS.primer, num_voices=experiment.encoder.num_voices,
            voice_names=experiment.encoder.voice_names)
    if FLAGS.mode in ("train", "train_and_sample"):
        metrics = jobs.train(experiment, FLAGS.model_dir, gin.config_str(),
                             write_operative_config=gin.operative_config_str)
        if metrics is None:  # A worker that is not the chief: done.
            return
    if FLAGS.mode in ("sample", "train_and_sample"):
        jobs.sample(experiment, FLAGS.model_dir, output_dir=FLAGS.output_dir,
                    primer=primer)


def _check_flags() -> None:
    """Flags that only make sense together fail before anything runs."""
    if FLAGS.mode == "harmonize" and not FLAGS.melody:
        raise UserFacingError("--mode=harmonize needs --melody: a MIDI or "
                              "MusicXML file, or notes such as "
                              "--melody='G4:1 G4:1 A4:1 B4:2 R:1'.")
    if FLAGS.melody and FLAGS.mode != "harmonize":
        raise UserFacingError("--melody is for --mode=harmonize; to continue "
                              "your music use --mode=sample --primer=...")
    if FLAGS.primer and FLAGS.mode == "harmonize":
        raise UserFacingError("--primer is for --mode=sample (and "
                              "train_and_sample); harmonize takes --melody.")
    if FLAGS.eval_splits and FLAGS.mode != "evaluate":
        raise UserFacingError("--eval_splits is for --mode=evaluate.")
    if FLAGS.export_dir and FLAGS.mode != "export":
        raise UserFacingError("--export_dir is for --mode=export.")
    if FLAGS.temperature is not None and not FLAGS.temperature >= 0:
        raise UserFacingError(f"--temperature must be 0 (always the likeliest "
                              f"token) or more, got {FLAGS.temperature}.")
    if FLAGS.num_samples is not None and FLAGS.num_samples < 1:
        raise UserFacingError(f"--num_samples must be at least 1, got "
                              f"{FLAGS.num_samples}.")


def flag_bindings():
    """The gin bindings the convenience flags stand for."""
    params = list(FLAGS.gin_param)
    if FLAGS.num_samples is not None:
        params.append(f"SampleConfig.num_samples = {FLAGS.num_samples}")
    if FLAGS.seed is not None:
        params.append(f"SampleConfig.seed = {FLAGS.seed}")
    if FLAGS.temperature is not None:
        params.append("SampleConfig.sampler = @samplers.temperature()")
        params.append(
            f"samplers.temperature.temperature = {FLAGS.temperature!r}")
    return params


def _evaluate(experiment) -> None:
    """Scores the run on the configured data; prints and writes the result
    to MODEL_DIR/evaluations/<name>.json, the name taken from the data."""
    from polyframe import fileio, jobs
    from polyframe.model_dir import ModelDir
    result = jobs.evaluate(experiment, FLAGS.model_dir,
                           splits=FLAGS.eval_splits or None)
    path = getattr(experiment.source, "path", None)
    name = (os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
            if isinstance(path, str) else type(experiment.source).__name__)
    target = os.path.join(ModelDir(FLAGS.model_dir).evaluations,
                          f"{name}.json")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fileio.write_json(target, result)
    rows = [f"{key} = {value:.4f}" for key, value in sorted(result.items())
            if isinstance(value, float)]
    print("\n".join(rows + [f"written to {target}"]))


def _read_melody(experiment):
    from polyframe import music_input
    encoder = experiment.encoder
    clock = encoder.clock()
    if clock is None or not clock.per_voice:
        raise UserFacingError(
            f"this model's encoder ({type(encoder).__name__}) has no voices "
            "to give a melody in; harmonising needs a model trained with the "
            "duration or grid encoder (e.g. gin_configs/duration_rnn.gin).")
    names = encoder.voice_names
    voice = music_input.parse_voice_name(FLAGS.melody_voice, names)
    return music_input.read_melody(FLAGS.melody, voice=voice,
                                   part=FLAGS.melody_part)


class _QuietLibraries(python_logging.Filter):
    """Drops the INFO chatter TensorFlow and Keras send through absl."""

    def filter(self, record: python_logging.LogRecord) -> bool:
        noisy = ("/tensorflow/" in record.pathname or
                 "/keras/" in record.pathname)
        return record.levelno >= python_logging.WARNING or not noisy


def main(argv) -> None:
    """Entry point: user-fixable problems end in one line and exit code 2;
    training stopped by SIGTERM or SIGINT saves its checkpoint and exits
    with `preemption.EXIT_CODE` (75) and a line on how to resume."""
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(_QuietLibraries())
    try:
        run(argv)
    except UserFacingError as error:
        logging.flush()
        print(f"polyframe: error: {error}", file=sys.stderr)
        sys.exit(2)
    except preemption.Preempted as stopped:
        logging.flush()
        print(f"polyframe: {stopped}; the latest checkpoint holds that step. "
              "Run the same command again to resume there.", file=sys.stderr)
        sys.exit(preemption.EXIT_CODE)


if __name__ == "__main__":
    app.run(main)
