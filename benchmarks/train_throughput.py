r"""Training throughput: the raw-op LSTM model against the same model on Keras.

Both models are `models.event_rnn`s with identical embeddings and autoregressive head,
trained by the same `Trainer` step (forward, backward, Adam with clipping) on
the same batches of real chorale windows; only the recurrent layer differs:
polyframe's `lstm` cell (raw TF ops) or `tf.keras.layers.LSTM`. Timings are
interleaved so that both see the same machine load.

    python benchmarks/train_throughput.py [--steps=30] [--repeats=3]

Prints events/s for each model with and without XLA and the ratio raw-op /
Keras (target: >= 1.3), also for the raw-op cell run by the generic
`RecurrentCell.run` loop (automatic differentiation of the loop, the
LSTM's own backward pass left out); the achieved GFLOP/s (estimated as 6
floating-point operations per weight of the model's matmuls per event:
2 forward, 4 backward) against this machine's measured float32 matmul
peak; and how many cores the timed steps kept busy (process CPU time over
wall time).
"""

import functools
import os
import resource
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
from polyframe_plugins.cells.lstm import LSTMCell  # noqa: E402
from polyframe_plugins.models.event_rnn import EventRNN  # noqa: E402

flags.DEFINE_integer("steps", 30, "Timed training steps per measurement.")
flags.DEFINE_integer("repeats", 3, "Interleaved measurements per variant.")
flags.DEFINE_integer("units", 256, "LSTM width (the original: 256).")
FLAGS = flags.FLAGS


class GenericLoopLSTM(LSTMCell):
    """The raw-op LSTM run by `RecurrentCell.run`, differentiated
    automatically: the cell before it had a backward pass of its own."""

    def run(self, inputs, initial_state=None):
        return RecurrentCell.run(self, inputs, initial_state)


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


def events_per_second(trainer: Trainer, batches):
    """Trains on `batches`; returns (events/s, cores kept busy)."""
    events = 0.0
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    for batch in batches:
        events += float(trainer._train_step(batch)["events"])
    seconds = time.perf_counter() - start
    return events / seconds, (_cpu_seconds() - cpu_before) / seconds


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def matmul_weights(model) -> int:
    """Weights that take part in a matmul once per event: every trainable
    variable except the embedding tables (looked up, not multiplied) and
    biases (added)."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables
               if v.shape.rank >= 2 and "embedding" not in v.name)


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """float32 GFLOP/s of a square matmul, best of `repeats`."""
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    multiply = tf.function(lambda: tf.matmul(a, b))
    multiply().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        multiply().numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    encoder, windows = chorale_windows()
    batches = list(pipeline.to_dataset(windows, 32).take(FLAGS.steps))
    variants = {
        "raw-op lstm": functools.partial(registries.CELLS.get("lstm"),
                                         num_units=FLAGS.units),
        "raw-op, generic loop": functools.partial(GenericLoopLSTM,
                                                  num_units=FLAGS.units),
        "keras LSTM": functools.partial(KerasLSTM, num_units=FLAGS.units)}
    speeds, cores, weights = {}, {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for jit in (False, True):
            trainers = {name: make_trainer(factory, encoder, jit,
                                           os.path.join(scratch, name))
                        for name, factory in variants.items()}
            for name, trainer in trainers.items():
                events_per_second(trainer, batches[:3])  # trace and compile
                weights[name] = matmul_weights(trainer.model)
            for _ in range(FLAGS.repeats):
                for name, trainer in trainers.items():
                    speed, busy = events_per_second(trainer, batches)
                    speeds.setdefault((name, jit), []).append(speed)
                    cores.setdefault((name, jit), []).append(busy)
    peak = matmul_peak_gflops()
    print(f"training throughput, batch 32 x 40 events, {FLAGS.units} units, "
          f"median of {FLAGS.repeats} x {len(batches)} steps; float32 "
          f"matmul peak {peak:.0f} GFLOP/s on {os.cpu_count()} cores")
    for jit in (False, True):
        keras_speed = statistics.median(speeds[("keras LSTM", jit)])
        print(f"  {'XLA' if jit else 'no XLA'}:")
        for name in variants:
            speed = statistics.median(speeds[(name, jit)])
            gflops = 6.0 * weights[name] * speed / 1e9
            print(f"    {name:>20}: {speed:8.0f} events/s, "
                  f"{speed / keras_speed:.2f}x keras, {gflops:5.1f} GFLOP/s "
                  f"({100.0 * gflops / peak:.0f} % of peak), "
                  f"{statistics.median(cores[(name, jit)]):.1f} cores busy")


if __name__ == "__main__":
    app.run(main)
