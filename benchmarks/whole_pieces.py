r"""Do samples end like chorales? Samples from silence against validation pieces.

    python benchmarks/whole_pieces.py --model_dir=runs/chorales --num_samples=32

Draws `--num_samples` (default 32) pieces from silence with the run's own
sampler, or `--temperature`/`--gin_param` overrides (no files written), and
prints the share that ended by END and the median and 10th-90th percentile
lengths in quarter notes, beside those of the validation pieces (of the
run's own source and encoder), and the time the batch took.
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import restored_run  # noqa: E402
from polyframe import main as cli  # noqa: E402 (defines --model_dir, ...)

FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    FLAGS.num_samples = FLAGS.num_samples or 32
    FLAGS.seed = 1234 if FLAGS.seed is None else FLAGS.seed
    experiment, _, composer = restored_run.restore(FLAGS.model_dir,
                                                   cli.flag_bindings())
    encoder = experiment.encoder
    settings = experiment.sample
    started = time.perf_counter()
    silence = np.zeros((0, encoder.num_voices, len(encoder.fields)), np.int32)
    pieces = composer.continue_openings([silence] * FLAGS.num_samples,
                                        ["silence"] * FLAGS.num_samples)
    seconds = time.perf_counter() - started
    qpm = settings.qpm
    lengths = [p.sequence.total_time * qpm / 60.0 for p in pieces]
    ended = sum(p.ended_by_end for p in pieces)

    corpus = restored_run.corpus(experiment)
    valid = [encoder.event_start_times(p, qpm=60.0)[-1]
             for p in corpus["valid"].pieces]
    median, reference = statistics.median(lengths), statistics.median(valid)
    print(f"{FLAGS.num_samples} samples from silence in {seconds:.1f} s: "
          f"{ended} ({100.0 * ended / len(pieces):.0f} %) ended by END; "
          f"median length {median:.1f} quarters ({spread(lengths)}); "
          f"validation pieces: median {reference:.1f} quarters "
          f"({spread(valid)}); ratio {median / reference:.2f}")


def spread(lengths):
    """The 10th-90th percentile range and the extremes, for the log line."""
    low, high = np.percentile(lengths, [10, 90])
    return (f"10th-90th {low:.1f}-{high:.1f}, min {min(lengths):.1f}, "
            f"max {max(lengths):.1f}")


if __name__ == "__main__":
    flags.mark_flag_as_required("model_dir")
    app.run(main)
