r"""Ingestion throughput of a MIDI folder: one worker against all cores.

    python benchmarks/ingest_throughput.py [--num_files=1200] \
        [--notes_per_voice=32] [--num_workers=N]

Writes `num_files` random but plausible four-track chorales (named Soprano,
Alto, Tenor and Bass; each voice a random walk in its range, with tempo
changes) into a temporary folder, then loads it with the `midi_dir` source
twice, each time into a fresh cache: with one worker process, then with one
per core. A load is the whole ingestion: hashing the files, parsing them,
writing the TFRecord shards, the report and the manifest, and reading the
cache back. Prints files/s, notes/s and the speed-up, the start-up time of
the worker processes (fixed, so it weighs less on larger corpora), then the
time of a load from the warm cache and of hashing alone (what every load
pays to check the cache key). Other processes on the machine skew the
numbers, so the load average is printed with them.
"""

import argparse
import os
import tempfile
import time

from polyframe.data import cache, ingest
from polyframe_plugins.sources.midi_dir import MidiDirectory

# The benchmark is run as a script: its folder is on sys.path.
from midi_corpus import make_corpus


def timed_load(folder: str, cache_dir: str, num_workers: int):
    """Returns `(seconds, kept files, kept notes)` of one load."""
    source = MidiDirectory(folder, cache_dir=cache_dir,
                           num_workers=num_workers)
    start = time.perf_counter()
    corpus = source.load()
    seconds = time.perf_counter() - start
    pieces = corpus.train + corpus.valid + corpus.test
    return seconds, len(pieces), sum(len(p.notes) for p in pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_files", type=int, default=1200)
    parser.add_argument("--notes_per_voice", type=int, default=32)
    parser.add_argument("--num_workers", type=int,
                        default=ingest.default_num_workers(),
                        help="workers of the parallel run (default: cores)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(scratch, "midi")
        start = time.perf_counter()
        make_corpus(folder, args.num_files, args.notes_per_voice)
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, files in os.walk(folder) for f in files)
        print(f"corpus: {args.num_files} files, {size / 1e6:.1f} MB, "
              f"written in {time.perf_counter() - start:.1f} s")
        # TensorFlow's import (seconds) would otherwise count in the first
        # run only.
        cache.write_note_sequences(os.path.join(scratch, "warm.tfrecord"), [])
        print(f"cores available: {ingest.default_num_workers()}; load "
              f"average before: {_load_average()}")

        runs = {}
        for label, workers in (("serial", 1), ("parallel", args.num_workers)):
            cache_dir = os.path.join(scratch, f"cache-{label}")
            seconds, files, notes = timed_load(folder, cache_dir, workers)
            runs[label] = seconds
            print(f"{label:>8} ({workers} worker(s)): {seconds:6.2f} s, "
                  f"{args.num_files / seconds:7.1f} files/s, "
                  f"{notes / seconds:9.0f} notes/s ({files} files and "
                  f"{notes} notes kept)")
        print(f"speed-up: {runs['serial'] / runs['parallel']:.2f}x with "
              f"{args.num_workers} workers")
        paths = ingest.find_files(folder, MidiDirectory.extensions)
        if args.num_workers > 1:
            # One file per worker: the time is all start-up (each worker
            # imports note_seq), which a larger corpus amortizes.
            start = time.perf_counter()
            list(ingest.parse_files(MidiDirectory(folder).parser(), folder,
                                    paths[:args.num_workers],
                                    args.num_workers))
            startup = time.perf_counter() - start
            print(f"worker start-up: {startup:.2f} s; without it the "
                  f"parallel run takes {runs['parallel'] - startup:.2f} s, "
                  f"a speed-up of "
                  f"{runs['serial'] / (runs['parallel'] - startup):.2f}x")

        seconds, _, _ = timed_load(folder, os.path.join(scratch,
                                                        "cache-parallel"), 1)
        print(f"  cached: {seconds:6.2f} s (warm cache: hash every file, "
              "read and check the shards)")
        start = time.perf_counter()
        ingest.fingerprint(folder, paths)
        print(f" hashing: {time.perf_counter() - start:6.2f} s for "
              f"{len(paths)} files")
        print(f"load average after: {_load_average()}")


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
