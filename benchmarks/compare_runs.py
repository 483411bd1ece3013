r"""Prints trained runs side by side from their metrics.json files.

    python benchmarks/compare_runs.py runs/chorales runs/transformer runs/harmonizer

Columns: valid/test NLL per note (END excluded), the alto/tenor/bass NLL per
note of those voices given the soprano (`nll_atb_per_note`), END's NLL per
piece, the best step and the whole job's training seconds. Rows whose
`nll_atb_per_note` can be compared also show the change against the first
run.
"""

import json
import os
import sys

COLUMNS = (("valid nats/note", "valid_nll_per_note"),
           ("test nats/note", "test_nll_per_note"),
           ("valid ATB nats/note", "valid_nll_atb_per_note"),
           ("test ATB nats/note", "test_nll_atb_per_note"),
           ("valid END nats", "valid_nll_end"),
           ("best step", "best_step"),
           ("train s", "train_seconds"))


def main(paths):
    runs = []
    for path in paths:
        with open(os.path.join(path, "metrics.json"), encoding="utf-8") as f:
            runs.append((path, json.load(f)))
    header = ["run"] + [name for name, _ in COLUMNS]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    first = runs[0][1]
    for path, metrics in runs:
        cells = [os.path.basename(path.rstrip("/"))]
        for _, key in COLUMNS:
            value = metrics.get(key)
            cells.append("-" if value is None else
                         f"{value:.4f}" if isinstance(value, float) else
                         str(value))
        print(" | ".join(cells))
    for split in ("valid", "test"):
        key = f"{split}_nll_atb_per_note"
        base = first.get(key)
        for path, metrics in runs[1:]:
            if base and metrics.get(key):
                change = 100.0 * (metrics[key] - base) / base
                print(f"{split}: {os.path.basename(path.rstrip('/'))} ATB NLL "
                      f"{change:+.1f}% against "
                      f"{os.path.basename(paths[0].rstrip('/'))}")


if __name__ == "__main__":
    main(sys.argv[1:])
