r"""Training throughput: the raw-op LSTM model against the same model on Keras.

Both models are `models.event_rnn`s with identical embeddings and autoregressive head,
trained by the same `Trainer` step (forward, backward, Adam with clipping) on
the same batches of real chorale windows; only the recurrent layer differs:
polyframe's `lstm` cell (raw TF ops) or `tf.keras.layers.LSTM`. Timings are
interleaved so that both see the same machine load.

    python benchmarks/train_throughput.py [--steps=30] [--repeats=3]

Prints events/s for each model with and without XLA, and the ratio
raw-op / Keras (target: >= 1.0).
"""

import functools
import os
import statistics
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=RuntimeWarning)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from polyframe import plugin_loading, registries  # noqa: E402
from polyframe.cell import RecurrentCell  # noqa: E402
from polyframe.data import pipeline  # noqa: E402
from polyframe.distribution import make_strategy  # noqa: E402
from polyframe.data.prepare import encode_corpus  # noqa: E402
from polyframe.model_dir import ModelDir  # noqa: E402
from polyframe.trainer import Trainer, TrainConfig  # noqa: E402
from polyframe_plugins.models.event_rnn import EventRNN  # noqa: E402

flags.DEFINE_integer("steps", 30, "Timed training steps per measurement.")
flags.DEFINE_integer("repeats", 3, "Interleaved measurements per variant.")
flags.DEFINE_integer("units", 256, "LSTM width (the original: 256).")
FLAGS = flags.FLAGS


class KerasLSTM(RecurrentCell):
    """`tf.keras.layers.LSTM` behind the `RecurrentCell` interface."""

    def __init__(self, input_size, num_units=256, name=None):
        super().__init__(input_size, num_units, name=name)
        self.layer = tf.keras.layers.LSTM(num_units, return_sequences=True,
                                          return_state=True)
        self.layer.build((None, None, input_size))
        # tf.Module does not look inside Keras layers for variables.
        self.weights = [v.value for v in self.layer.trainable_variables]

    @property
    def state_sizes(self):
        return (self.num_units, self.num_units)

    def step(self, projected_input, state):
        raise NotImplementedError("only used for training here")

    def run(self, inputs, initial_state=None):
        outputs, h, c = self.layer(inputs, initial_state=initial_state)
        return outputs, (h, c)


def chorale_windows(encoder_seed: int = 0):
    """Real training windows: Bach chorales, duration encoding, 40 events."""
    plugin_loading.load_plugins()
    source = registries.SOURCES.get("bach")()
    encoder = registries.ENCODERS.get("duration")()
    encoded = encode_corpus(encoder, source.load())
    windows = pipeline.training_windows(
        encoded["train"].pieces, 40, pipeline.framing_for(encoder),
        np.random.default_rng(encoder_seed))
    return encoder, windows


def make_trainer(cell_factory, encoder, jit: bool, model_dir: str) -> Trainer:
    head = functools.partial(registries.HEADS.get("autoregressive"),
                             hidden_size=256)
    return Trainer(
        TrainConfig(jit_compile=jit), ModelDir(model_dir),
        make_strategy("cpu"),
        lambda: EventRNN(encoder.fields, encoder.num_voices, cell_factory,
                         head, embedding_sizes={"pitch": 32, "duration": 10}))


def events_per_second(trainer: Trainer, batches) -> float:
    events = 0.0
    start = time.perf_counter()
    for batch in batches:
        events += float(trainer._train_step(batch)["events"])
    return events / (time.perf_counter() - start)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    encoder, windows = chorale_windows()
    batches = list(pipeline.to_dataset(windows, 32).take(FLAGS.steps))
    raw = functools.partial(registries.CELLS.get("lstm"),
                            num_units=FLAGS.units)
    keras = functools.partial(KerasLSTM, num_units=FLAGS.units)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for jit in (False, True):
            trainers = {name: make_trainer(factory, encoder, jit,
                                           os.path.join(scratch, name))
                        for name, factory in (("raw-op lstm", raw),
                                              ("keras LSTM", keras))}
            for trainer in trainers.values():
                events_per_second(trainer, batches[:3])  # trace and compile
            for _ in range(FLAGS.repeats):
                for name, trainer in trainers.items():
                    results.setdefault((name, jit), []).append(
                        events_per_second(trainer, batches))
    print(f"training throughput, batch 32 x 40 events, {FLAGS.units} units, "
          f"median of {FLAGS.repeats} x {len(batches)} steps")
    for jit in (False, True):
        raw_speed = statistics.median(results[("raw-op lstm", jit)])
        keras_speed = statistics.median(results[("keras LSTM", jit)])
        label = "XLA" if jit else "no XLA"
        print(f"  {label:>6}: raw-op {raw_speed:8.0f} events/s | keras "
              f"{keras_speed:8.0f} events/s | ratio {raw_speed / keras_speed:.2f}x")


if __name__ == "__main__":
    app.run(main)
