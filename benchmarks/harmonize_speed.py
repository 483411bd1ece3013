r"""How long harmonising one 32-note melody takes, and where the time goes.

    python benchmarks/harmonize_speed.py --model_dir=runs/chorales

The melody is the first 32 notes of the soprano of a validation chorale saved
in the run. Prints, for `--num_samples` harmonisations in one batch: the
whole `Composer.around` call as `--mode=harmonize` makes it (plan, trace,
compiled loop, decoding), and the compiled loop alone once traced (median of
`--repeats` calls), in seconds and events per second.
"""

import fractions
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from polyframe import main as cli  # noqa: E402 (defines --model_dir, ...)

flags.DEFINE_integer("notes", 32, "Melody notes.")
flags.DEFINE_integer("repeats", 3, "Timed calls of the traced loop.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from polyframe import given_plan, jobs, piece_info
    from polyframe.compose import Composer
    from polyframe.data import pipeline
    from polyframe.generation import Generator
    from polyframe.model_dir import ModelDir
    from polyframe_plugins.constraints import basic

    FLAGS.num_samples = FLAGS.num_samples or 4
    run = ModelDir(FLAGS.model_dir)
    experiment = cli.configure([run.config], [
        f"SampleConfig.num_samples = {FLAGS.num_samples}"])()
    model = jobs.restore_model(experiment, run)
    encoder = experiment.encoder
    piece_id, saved = run.load_melodies()[0]
    notes = saved["notes"][:FLAGS.notes]
    saved = dict(saved, notes=notes, end=notes[-1][2])
    melody = piece_info.given_from_saved(piece_id, saved)
    settings = experiment.sample
    composer = Composer(model, encoder, settings,
                        settings.sampler or jobs.default_sampler())

    started = time.perf_counter()
    pieces = composer.around(melody, force_end=True, what="melody")
    whole = time.perf_counter() - started

    plan = given_plan.plan_given_voices(
        encoder, melody.sequence, melody.voices, melody.end_quarters,
        force_end=True)
    chain = [basic.ForbidStart(encoder), basic.EndRule(encoder),
             basic.GivenVoices(encoder, plan)]
    generator = Generator(model, composer.sampler, chain, encoder.clock(),
                          encoder.end_ids[0])
    primers = np.stack([pipeline.with_start(np.zeros(
        (0, encoder.num_voices, len(encoder.fields)), np.int32))] *
        FLAGS.num_samples)
    max_events = encoder.clock().events_until(plan.end_tick) + 1
    conditioning = (composer.melody_conditioning(melody, FLAGS.num_samples)
                    if composer.needs_melody else None)
    generator(primers, max_events, 0, conditioning)  # trace
    times, events = [], 0
    for seed in range(FLAGS.repeats):
        started = time.perf_counter()
        result = generator(primers, max_events, seed, conditioning)
        times.append(time.perf_counter() - started)
        events = int(result.lengths.sum())
    loop = statistics.median(times)
    print(f"harmonise {len(notes)} notes ({fractions.Fraction(saved['end'])} "
          f"quarters) of {piece_id}, {FLAGS.num_samples} samples, "
          f"{type(model).__name__}: whole call {whole:.2f} s; compiled loop "
          f"once traced {loop:.3f} s ({events} events, "
          f"{events / loop:.0f} events/s); {len(pieces)} pieces, "
          f"{sum(p.ended_by_end for p in pieces)} ended with the melody")


if __name__ == "__main__":
    flags.mark_flag_as_required("model_dir")
    app.run(main)
