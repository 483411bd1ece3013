r"""Do samples sound like the corpus? Musical statistics of samples against
the validation pieces, and of harmonisations against Bach's.

    python benchmarks/musical_statistics.py --model_dir=runs/chorales
    python benchmarks/musical_statistics.py --model_dir=runs/chorales \
        --temperature=0.8 --gin_param="SampleConfig.sampler = @samplers.nucleus()"
    python benchmarks/musical_statistics.py --model_dir=runs/harmonizer \
        --harmonize_split=test

Samples: `--num_samples` (default 32) pieces from silence with the run's
sampler (or the flags' overrides; no files written), each statistic's mean
beside the validation pieces' mean and 10th-90th percentile range, and
whether the samples' longest run on one pitch stays within the longest of
the validation pieces.

`--harmonize_split=test` harmonises the melody (voice `melody_voice`) of
every piece of that split once and compares with the same pieces as Bach
harmonised them, including the share that ends on a root-position tonic
triad.

The statistics are defined in `polyframe.musical_statistics`.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import restored_run  # noqa: E402
from polyframe import main as cli  # noqa: E402 (defines --model_dir, ...)

flags.DEFINE_string("harmonize_split", None,
                    "Harmonise the melodies of this split (e.g. test) "
                    "instead of sampling from silence.")

FLAGS = flags.FLAGS


def table(rows, reference, label):
    """Markdown: statistic, mean over `rows`, reference mean and range."""
    from polyframe import musical_statistics as ms
    ours = ms.summarize(rows)
    lines = [f"| statistic | {label} (mean) | reference (mean) | reference "
             "10th-90th | inside |", "| --- | --- | --- | --- | --- |"]
    inside_count = 0
    for name, values in ours.items():
        ref = reference.get(name)
        if ref is None:
            continue
        inside = ref["p10"] <= values["mean"] <= ref["p90"]
        inside_count += inside
        lines.append(f"| {name} | {values['mean']:.3f} | {ref['mean']:.3f} | "
                     f"{ref['p10']:.3f}-{ref['p90']:.3f} | "
                     f"{'yes' if inside else 'no'} |")
    lines.append(f"\n{inside_count} of {len(lines) - 2} means inside the "
                 "reference's 10th-90th percentile range.")
    if "longest_run_quarters" in ours:
        longest = ours["longest_run_quarters"]["max"]
        limit = reference["longest_run_quarters"]["max"]
        lines.append(f"Longest run on one pitch: {longest:g} quarters "
                     f"(reference's longest {limit:g}): "
                     f"{'within' if longest <= limit else 'LONGER'}.")
    return "\n".join(lines)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from polyframe import jobs, piece_info
    from polyframe import musical_statistics as ms
    from polyframe.errors import UserFacingError

    FLAGS.num_samples = FLAGS.num_samples or 32
    FLAGS.seed = 1234 if FLAGS.seed is None else FLAGS.seed
    experiment, model, composer = restored_run.restore(
        FLAGS.model_dir, cli.flag_bindings())
    encoder = experiment.encoder
    settings = experiment.sample
    corpus = restored_run.corpus(experiment)

    def measure(piece):
        return ms.sequence_statistics(piece.sequence, encoder,
                                      qpm=settings.qpm)

    started = time.perf_counter()
    if FLAGS.harmonize_split:
        split = corpus[FLAGS.harmonize_split]
        rows, reference_rows, skipped = [], [], 0
        for sequence, events in zip(split.sequences, split.pieces):
            melody = piece_info.melody_of(sequence, model.melody_voice)
            try:
                piece, = composer.around(
                    piece_info.given_from_saved(sequence.id, melody),
                    force_end=True, what="melody", count=1)
            except UserFacingError:
                skipped += 1
                continue
            rows.append(measure(piece))
            reference_rows.append(jobs.piece_statistics(encoder, events))
        seconds = time.perf_counter() - started
        print(f"Harmonised {len(rows)} {FLAGS.harmonize_split} melodies in "
              f"{seconds:.0f} s ({skipped} skipped: rhythm the encoder "
              "cannot hold); reference: Bach's harmonisations of the same "
              "melodies.\n")
        reference = ms.summarize(reference_rows)
        print(table(rows, reference, "harmonisations"))
        return
    silence = np.zeros((0, encoder.num_voices, len(encoder.fields)), np.int32)
    pieces = composer.continue_openings([silence] * FLAGS.num_samples,
                                        ["silence"] * FLAGS.num_samples)
    seconds = time.perf_counter() - started
    ended = sum(p.ended_by_end for p in pieces)
    reference = ms.summarize([jobs.piece_statistics(encoder, events)
                              for events in corpus["valid"].pieces])
    print(f"{FLAGS.num_samples} samples from silence in {seconds:.0f} s "
          f"({ended} ended by END); sampler {settings.sampler}; reference: "
          f"the {len(corpus['valid'].pieces)} validation pieces.\n")
    print(table([measure(p) for p in pieces], reference, "samples"))


if __name__ == "__main__":
    flags.mark_flag_as_required("model_dir")
    app.run(main)
