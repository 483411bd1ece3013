r"""Writes music21's Bach chorales as a JSB Chorales benchmark JSON file.

    python benchmarks/chorales_to_jsb_json.py OUT.json                 # protocol A
    python benchmarks/chorales_to_jsb_json.py --format=piano_roll OUT.json   # protocol B

The file stands in for the JSB benchmark data, which polyframe may not ship,
when checking `gin_configs/jsb_grid.gin` (see BENCHMARKS.md).

* "separated" (protocol A): every piece is a list of 16th-note steps of four
  MIDI pitches (soprano, alto, tenor, bass; -1 for silence), quantized by
  the grid encoder.
* "piano_roll" (protocol B): every piece is first moved to C major or
  C minor (by its first key signature, the nearest shift, as the benchmark
  data was prepared), then written as quarter-note frames, each the sorted
  list of the pitches sounding at the frame's start.

Splits: with `--jsb_sizes` (the default) the pieces are ordered by a hash of
their ids and the first 229 become train, the next 76 valid and the next 77
test, the sizes of the real benchmark, so that proxy numbers are not
flattered by more training data than JSB has; the remaining pieces are left
out. `--nojsb_sizes` keeps polyframe's own 80/10/10 split of the chorales.
"""

import hashlib
import json
import os

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from polyframe import plugin_loading, registries  # noqa: E402
from polyframe.data.augmentation import transpose  # noqa: E402
from polyframe.data.corpus import SPLITS, UnusableSequenceError  # noqa: E402
from polyframe_plugins.encoders.grid import FIRST_PITCH_ID  # noqa: E402

flags.DEFINE_enum("format", "separated", ["separated", "piano_roll"],
                  "Which JSB layout to write.")
flags.DEFINE_integer("steps_per_quarter", None,
                     "Grid resolution (default: 4 for separated, 1 for "
                     "piano_roll).")
flags.DEFINE_bool("jsb_sizes", True,
                  "Re-split into the benchmark's 229/76/77 pieces.")
FLAGS = flags.FLAGS

JSB_SIZES = {"train": 229, "valid": 76, "test": 77}
MINOR = 1  # NoteSequence.KeySignature.MINOR


def to_c(sequence):
    """The piece moved to C major or C minor by the nearest shift (as it
    is when it has no key signature)."""
    if not sequence.key_signatures:
        return sequence
    first = min(sequence.key_signatures, key=lambda k: k.time)
    shift = (0 - first.key) % 12  # The tonic moves to C in either mode.
    return transpose(sequence, shift - 12 if shift > 6 else shift)


def jsb_sized(corpus):
    """The pieces re-split to the benchmark's sizes by a hash of their ids."""
    pieces = sorted((piece for split in SPLITS
                     for piece in corpus.split(split)),
                    key=lambda p: hashlib.sha256(p.id.encode()).hexdigest())
    if len(pieces) < sum(JSB_SIZES.values()):
        raise SystemExit(f"only {len(pieces)} pieces; the JSB sizes need "
                         f"{sum(JSB_SIZES.values())}")
    result, start = {}, 0
    for split in SPLITS:
        result[split] = pieces[start:start + JSB_SIZES[split]]
        start += JSB_SIZES[split]
    return result


def steps(grid, sequence):
    """The grid's pitch per voice and step, -1 for silence."""
    ids = grid.encode(sequence)[..., 0]
    return [[int(i) - FIRST_PITCH_ID + grid.min_pitch
             if i >= FIRST_PITCH_ID else -1 for i in step] for step in ids]


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("give the output path: OUT.json")
    piano_roll = FLAGS.format == "piano_roll"
    resolution = FLAGS.steps_per_quarter or (1 if piano_roll else 4)
    plugin_loading.load_plugins()
    corpus = registries.SOURCES.get("bach")().load()
    by_split = (jsb_sized(corpus) if FLAGS.jsb_sizes else
                {split: corpus.split(split) for split in SPLITS})
    grid = registries.ENCODERS.get("grid")(steps_per_quarter=resolution)
    result, left_out = {}, 0
    for split in SPLITS:
        pieces = []
        for sequence in by_split[split]:
            try:
                grid_steps = steps(grid, to_c(sequence) if piano_roll
                                   else sequence)
            except UnusableSequenceError:
                left_out += 1
                continue
            pieces.append([sorted({p for p in step if p >= 0})
                           for step in grid_steps] if piano_roll
                          else grid_steps)
        result[split] = pieces
    with open(argv[1], "w", encoding="utf-8") as out:
        json.dump(result, out)
    print(FLAGS.format, f"{resolution} step(s) per quarter",
          {split: len(pieces) for split, pieces in result.items()},
          f"{left_out} left out (off the grid)")


if __name__ == "__main__":
    app.run(main)
