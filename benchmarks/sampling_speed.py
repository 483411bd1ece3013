r"""The compiled generation loop against the same loop run eagerly.

    python benchmarks/sampling_speed.py --model_dir=runs/chorales

For batch sizes 1, 8 and 64 (`--batch_sizes`), generates `--events` events
from silence twice with the same model, constraints, sampler and seed: once
in the compiled loop (`Generator`, traced before timing) and once as a plain
Python loop that calls the same code eagerly, token by token, through the
same model contract (`start`, `voice_logits`, `advance`). Both must draw the
same events; the ratio of their events per second is printed per batch
size. Then the time to harmonise one melody of `--notes` notes (the first
notes of a saved validation melody) the way `--mode=harmonize` does, the
first and the second time in the process.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import restored_run  # noqa: E402 (through polyframe.main: --model_dir, ...)

flags.DEFINE_list("batch_sizes", ["1", "8", "64"], "Batch sizes to time.")
flags.DEFINE_integer("events", 48, "Events generated per sample.")
flags.DEFINE_integer("notes", 32, "Notes of the melody harmonised.")
FLAGS = flags.FLAGS


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from polyframe import piece_info
    from polyframe.data import pipeline
    from polyframe.model_dir import ModelDir

    run = ModelDir(FLAGS.model_dir)
    experiment, model, composer = restored_run.restore(
        FLAGS.model_dir, ["SampleConfig.num_samples = 1"])
    encoder = experiment.encoder
    generator = composer.generator()
    silence = pipeline.with_start(
        np.zeros((0, encoder.num_voices, len(encoder.fields)), np.int32))
    print(f"{type(model).__name__}, {model.num_parameters():,} parameters, "
          f"{FLAGS.events} events per sample, {os.cpu_count()} CPUs")
    print("| batch | compiled events/s | eager events/s | ratio |")
    print("| --- | --- | --- | --- |")
    for batch in [int(b) for b in FLAGS.batch_sizes]:
        primers = np.stack([silence] * batch)
        args = (tf.constant(primers), tf.constant(FLAGS.events),
                tf.constant(0), {})
        generator._generate(*args)  # Trace once.
        (compiled, _, _), seconds = timed(lambda: generator._generate(*args))
        (eager, _, _), eager_seconds = timed(
            lambda: generator._generate_graph(*args))
        same = np.array_equal(compiled.numpy(), eager.numpy())
        events = batch * int(compiled.shape[0])
        print(f"| {batch} | {events / seconds:,.0f} | "
              f"{events / eager_seconds:,.1f} | "
              f"{eager_seconds / seconds:.1f}x |"
              + ("" if same else " (the two loops drew different events!)"))

    piece_id, saved = run.load_melodies()[0]
    notes = saved["notes"][:FLAGS.notes]
    melody = piece_info.given_from_saved(
        piece_id, dict(saved, notes=notes, end=notes[-1][2]))
    _, first = timed(lambda: composer.around(melody, force_end=True,
                                             what="melody", count=1))
    pieces, again = timed(lambda: composer.around(
        melody, force_end=True, what="melody", count=1))
    print(f"\nharmonise {len(notes)} notes of {piece_id} "
          f"({len(pieces[0].events)} events): {first:.2f} s the first time, "
          f"{again:.2f} s again (each melody's plan is built into its own "
          "loop, which is traced for it)")


if __name__ == "__main__":
    flags.mark_flag_as_required("model_dir")
    app.run(main)
