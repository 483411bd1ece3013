r"""Hostile files through ingestion, by the thousand: outcomes and costs.

    python benchmarks/fuzz_ingest.py [--cases=5000]

Runs the generators of `tests/fuzz_inputs.py` (the ones
`tests/test_fuzz_ingest.py` runs a few hundred of) for `--cases`
derandomised cases: 40 % mutated MIDI files, 40 % mutated MusicXML, 15 %
`.mxl` archives (broken ones and zip bombs) and 5 % scores declaring XML
entities; then a few named files (10,000 tracks, the largest delta time,
100,000 notes, a billion laughs, a zip bomb just over the limit). Each file
is parsed as an ingestion worker parses it (`ingest.parse_file`), with the
parsers and the default limits of the `midi_dir` and `musicxml_dir` sources.

Prints the number of cases run, how many were kept and how many skipped by
reason, for each kind and in all; the cases that broke the property every
file must have (kept as a usable piece, or skipped with a fixed reason other
than "parser error", within the time limit); the slowest case; and the peak
resident memory of the process, next to what it was before the first case.
"""

import argparse
import collections
import os
import resource
import sys
import tempfile
import time
from typing import Counter, Dict, List, Tuple

import hypothesis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, "tests"))

import fuzz_inputs  # noqa: E402
from polyframe.data import ingest, skip_reasons  # noqa: E402
from polyframe_plugins.sources.midi_dir import MidiDirectory  # noqa: E402
from polyframe_plugins.sources.musicxml_dir import (  # noqa: E402
    MusicXmlDirectory)

KEPT = "kept"
SHARES = (("midi", 0.40), ("musicxml", 0.40), ("mxl", 0.15),
          ("entities", 0.05))


class Tally:
    """Outcomes, violations, the slowest case of every kind, and the case
    that raised the peak memory most."""

    def __init__(self, limits: ingest.FileLimits):
        self.limits = limits
        self.outcomes: Dict[str, Counter[str]] = collections.defaultdict(
            collections.Counter)
        self.violations: List[str] = []
        self.slowest: Dict[str, Tuple[float, str]] = collections.defaultdict(
            lambda: (0.0, ""))
        self.hungriest: Tuple[float, str] = (0.0, "")

    def add(self, kind: str, case: fuzz_inputs.Case,
            result: ingest.FileResult, seconds: float,
            rss_rise_mib: float) -> None:
        outcome = result.reason or KEPT
        self.outcomes[kind][outcome] += 1
        described = f"{kind} {case!r}: {result.message or KEPT}"
        if seconds > self.slowest[kind][0]:
            self.slowest[kind] = (seconds, described)
        if rss_rise_mib > self.hungriest[0]:
            self.hungriest = (rss_rise_mib, described)
        problem = self._problem(result, seconds)
        if problem:
            self.violations.append(f"{described} ({problem})")

    def _problem(self, result: ingest.FileResult, seconds: float) -> str:
        if seconds > self.limits.seconds + 1:
            return f"took {seconds:.1f} s"
        if result.record is not None:
            return fuzz_inputs.problem_of(result.record)
        if result.reason not in skip_reasons.REASONS:
            return "an unknown reason"
        if result.reason == skip_reasons.PARSER_ERROR:
            return "an exception no parser expected"
        return ""


def parsers(cache_dir: str) -> Tuple[Dict[str, ingest.ParseFunction],
                                     ingest.FileLimits]:
    """The sources' parse function of every extension, and their limits."""
    midi = MidiDirectory(cache_dir=cache_dir)
    musicxml = MusicXmlDirectory(cache_dir=cache_dir)
    by_extension = {".mid": midi.parser(), ".midi": midi.parser()}
    for extension in (".xml", ".musicxml", ".mxl"):
        by_extension[extension] = musicxml.parser()
    return by_extension, midi.limits


def run_one(kind: str, case: fuzz_inputs.Case, folder: str,
            by_extension: Dict[str, ingest.ParseFunction],
            tally: Tally) -> None:
    with open(os.path.join(folder, case.name), "wb") as f:
        f.write(case.data)
    parse = by_extension[os.path.splitext(case.name)[1].lower()]
    rss_before = peak_rss_mib()
    started = time.monotonic()
    result = ingest.parse_file(parse, folder, case.name, "fuzz",
                               tally.limits)
    tally.add(kind, case, result, time.monotonic() - started,
              peak_rss_mib() - rss_before)


def run_generated(kind: str, strategy, count: int, folder: str,
                  by_extension: Dict[str, ingest.ParseFunction],
                  tally: Tally) -> None:
    """Runs `count` derandomised cases of `strategy`."""

    @hypothesis.settings(
        max_examples=count, derandomize=True, deadline=None, database=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(strategy)
    def run(case):
        run_one(kind, case, folder, by_extension, tally)

    run()


def named_cases(max_bytes: int) -> List[fuzz_inputs.Case]:
    """Hostile files of their own, each once."""
    seed = fuzz_inputs.seed_midi()
    return [
        fuzz_inputs.Case("many.mid", fuzz_inputs.many_tracks_midi(True),
                         ("10,000 tracks of one note",)),
        fuzz_inputs.Case("empty_tracks.mid",
                         fuzz_inputs.many_tracks_midi(False),
                         ("10,000 empty tracks",)),
        fuzz_inputs.Case("claims.mid", fuzz_inputs.midi_header(
            1, fuzz_inputs.MANY_TRACKS, 480) + seed[14:],
            ("a header claiming 10,000 tracks",)),
        fuzz_inputs.Case("huge_delta.mid", fuzz_inputs.huge_delta_midi(),
                         ("a delta time of 0x0FFFFFFF",)),
        fuzz_inputs.Case("dense.mid", fuzz_inputs.dense_midi(25_000),
                         ("100,000 notes in 25,000 chords",)),
        fuzz_inputs.Case("laughs.xml",
                         fuzz_inputs.billion_laughs().encode("utf-8"),
                         ("10**10 laughs",)),
        fuzz_inputs.Case("bomb.mxl", fuzz_inputs.zip_bomb(max_bytes + 1),
                         (f"unpacks to {max_bytes + 1:,} bytes",)),
    ]


def strategies(mxl_bomb_bytes: int):
    return {"midi": fuzz_inputs.midi_cases(),
            "musicxml": fuzz_inputs.musicxml_cases(),
            "mxl": fuzz_inputs.mxl_cases(mxl_bomb_bytes),
            "entities": fuzz_inputs.entity_cases()}


def counts_by_kind(cases: int) -> Dict[str, int]:
    """Splits `cases` by `SHARES`; the first kind takes the remainder."""
    counts = {kind: int(cases * share) for kind, share in SHARES}
    counts[SHARES[0][0]] += cases - sum(counts.values())
    return counts


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(tally: Tally, seconds: float, rss_before: float) -> None:
    total = collections.Counter()
    print(f"{'kind':<10} {'cases':>6} {'kept':>6} {'skipped':>8} "
          f"{'slowest':>9}")
    for kind, outcomes in tally.outcomes.items():
        cases = sum(outcomes.values())
        total.update(outcomes)
        print(f"{kind:<10} {cases:>6} {outcomes[KEPT]:>6} "
              f"{cases - outcomes[KEPT]:>8} {tally.slowest[kind][0]:>8.3f}s")
    print(f"{'all':<10} {sum(total.values()):>6} {total[KEPT]:>6} "
          f"{sum(total.values()) - total[KEPT]:>8}")
    print("\nOutcomes, all kinds:")
    for outcome, count in total.most_common():
        print(f"  {outcome:<38} {count:>6}")
    print(f"\nProperty violations: {len(tally.violations)}")
    for violation in tally.violations[:20]:
        print(f"  {violation}")
    seconds_slowest, slowest = max(tally.slowest.values())
    print(f"Slowest case: {seconds_slowest:.2f} s, {slowest}")
    print(f"Peak RSS: {peak_rss_mib():.0f} MiB (before the first case: "
          f"{rss_before:.0f} MiB); the largest rise, "
          f"{tally.hungriest[0]:.0f} MiB, came with {tally.hungriest[1]}")
    print(f"Wall time: {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000,
                        help="generated cases, split across the kinds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        by_extension, limits = parsers(os.path.join(folder, "cache"))
        fuzz_inputs.seed_midi()
        fuzz_inputs.seed_musicxml()
        rss_before = peak_rss_mib()
        tally = Tally(limits)
        started = time.monotonic()
        generators = strategies(limits.max_bytes + 1)
        for kind, count in counts_by_kind(args.cases).items():
            run_generated(kind, generators[kind], count, folder,
                          by_extension, tally)
        for case in named_cases(limits.max_bytes):
            run_one("named", case, folder, by_extension, tally)
        print(f"Limits per file: {limits.seconds:g} s, "
              f"{limits.max_bytes:,} bytes\n")
        report(tally, time.monotonic() - started, rss_before)


if __name__ == "__main__":
    main()
