r"""polyframe's command line: train, evaluate and sample music models.

    python -m polyframe.main --gin_file=gin_configs/duration_rnn.gin \
        --model_dir=runs/chorales
    python -m polyframe.main --mode=sample --model_dir=runs/chorales
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

from polyframe.errors import UserFacingError  # noqa: E402

MODES = ("train_and_sample", "train", "sample")

flags.DEFINE_multi_string("gin_file", [], "Gin config files, applied in order.")
flags.DEFINE_multi_string("gin_param", [],
                          "Gin bindings applied after the files, e.g. "
                          "--gin_param='TrainConfig.max_epochs = 5'.")
flags.DEFINE_string("model_dir", None, "Where the run's files are written.")
flags.DEFINE_enum("mode", "train_and_sample", MODES,
                  "train_and_sample: the whole job; train: no samples; "
                  "sample: sample again from a trained --model_dir.")
flags.DEFINE_integer("num_samples", None,
                     "Overrides SampleConfig.num_samples.")
flags.DEFINE_string("output_dir", None,
                    "Where --mode=sample writes (default MODEL_DIR/samples).")
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
    return "\n".join(lines)


def configure(gin_files, gin_params):
    """Loads plugins, exposes components to gin, parses the config, and
    returns the configured `Experiment` factory."""
    from polyframe import gin_utils, plugin_loading
    from polyframe.data.augmentation import Augmentation
    from polyframe.experiment import Experiment
    from polyframe.model import EventRNN
    from polyframe.sampling import SampleConfig
    from polyframe.trainer import TrainConfig

    plugin_loading.load_plugins()
    gin_utils.expose_registries()
    configurable = {name: gin_utils.expose(component, name)
                    for name, component in (
                        ("Experiment", Experiment), ("TrainConfig", TrainConfig),
                        ("SampleConfig", SampleConfig), ("EventRNN", EventRNN),
                        ("Augmentation", Augmentation))}
    gin_utils.parse_config(gin_files, gin_params)
    return configurable["Experiment"]


def run(argv) -> None:
    """Runs the job the flags ask for."""
    del argv
    import gin
    import tensorflow as tf
    from polyframe import experiment as experiment_lib, jobs

    tf.get_logger().setLevel("ERROR")
    if FLAGS.list_plugins:
        print(list_plugins())
        return
    if not FLAGS.model_dir:
        raise UserFacingError("--model_dir is required (where the run's files "
                              "go, or the trained run to sample from).")
    gin_files = list(FLAGS.gin_file)
    if FLAGS.mode == "sample":
        saved = os.path.join(FLAGS.model_dir, "config.gin")
        experiment_lib.best_checkpoint_or_fail(FLAGS.model_dir)
        gin_files = [saved] + gin_files
    elif not gin_files:
        raise UserFacingError("no --gin_file given; start from "
                              "--gin_file=gin_configs/duration_rnn.gin")
    params = list(FLAGS.gin_param)
    if FLAGS.num_samples is not None:
        params.append(f"SampleConfig.num_samples = {FLAGS.num_samples}")
    make_experiment = configure(gin_files, params)
    try:
        experiment = make_experiment()
    except (ValueError, TypeError) as error:
        # Raised while gin builds the configured objects: a bad value, a
        # missing macro such as DATA_PATH, a wrong argument type.
        message = " ".join(line.strip() for line in str(error).splitlines())
        raise UserFacingError(f"invalid configuration: {message}") from None
    if FLAGS.mode in ("train", "train_and_sample"):
        jobs.train(experiment, FLAGS.model_dir, gin.config_str(),
                   write_operative_config=gin.operative_config_str)
    if FLAGS.mode in ("sample", "train_and_sample"):
        jobs.sample(experiment, FLAGS.model_dir, output_dir=FLAGS.output_dir)


class _QuietLibraries(python_logging.Filter):
    """Drops the INFO chatter TensorFlow and Keras send through absl."""

    def filter(self, record: python_logging.LogRecord) -> bool:
        noisy = ("/tensorflow/" in record.pathname or
                 "/keras/" in record.pathname)
        return record.levelno >= python_logging.WARNING or not noisy


def main(argv) -> None:
    """Entry point: user-fixable problems end in one line and exit code 2."""
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(_QuietLibraries())
    try:
        run(argv)
    except UserFacingError as error:
        logging.flush()
        print(f"polyframe: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
