r"""Writes music21's Bach chorales in the JSB "separated" JSON format.

    python benchmarks/chorales_to_jsb_json.py OUT.json

Each piece of polyframe's own train/valid/test split of the bundled chorales
becomes a list of 16th-note steps of four MIDI pitches (soprano, alto, tenor,
bass; -1 for silence), quantized by the grid encoder. The file stands in for
the JSB benchmark data, which polyframe may not ship, when checking
`gin_configs/jsb_grid.gin` (see BENCHMARKS.md).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from polyframe import plugin_loading, registries  # noqa: E402
from polyframe.data.corpus import SPLITS, UnusableSequenceError  # noqa: E402
from polyframe_plugins.encoders.grid import FIRST_PITCH_ID  # noqa: E402


def main(path: str) -> None:
    plugin_loading.load_plugins()
    corpus = registries.SOURCES.get("bach")().load()
    grid = registries.ENCODERS.get("grid")()
    result = {}
    for split in SPLITS:
        pieces = []
        for sequence in corpus.split(split):
            try:
                ids = grid.encode(sequence)[..., 0]
            except UnusableSequenceError:
                continue
            pieces.append([[int(i) - FIRST_PITCH_ID + grid.min_pitch
                            if i >= FIRST_PITCH_ID else -1 for i in step]
                           for step in ids])
        result[split] = pieces
    with open(path, "w", encoding="utf-8") as out:
        json.dump(result, out)
    print({split: len(pieces) for split, pieces in result.items()})


if __name__ == "__main__":
    main(sys.argv[1])
