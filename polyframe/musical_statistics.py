"""Musical statistics of a piece: what a listener hears beyond its NLL.

A low NLL does not make music: a model whose likeliest next step is "the same
again" can score well and still hold one chord for bars or move in parallel
fifths. These statistics measure such things on decoded notes, the same way
for generated pieces and for the corpus, so that samples can be compared
with the pieces they learned from (`summarize` gives the mean and the
10th-90th percentile range of each statistic over a set of pieces).

Definitions (times in quarter notes; voice 0 is the highest voice):

* A *segment* is a stretch of time in which no note starts or ends; in each
  segment each voice sounds one pitch or rests. Consecutive segments are a
  *step*.
* `pitch_range_<voice>`: highest minus lowest MIDI pitch the voice sings
  (semitones).
* `in_key_share`: share of notes whose pitch class lies in the piece's key:
  the major scale for a major key, the natural minor scale plus the raised
  sixth and seventh degrees (melodic and harmonic minor) for a minor key.
  The key is estimated from the duration-weighted pitch-class histogram with
  the Krumhansl-Kessler key profiles (`estimate_key`), so generated pieces
  and corpus pieces are judged alike.
* `parallels_per_100_motions`: parallel fifths and octaves per 100
  voice-pair motions. A voice-pair motion is a step in which both voices of
  a pair sound before and after and at least one of them changes pitch. It
  is a parallel fifth (octave) if both voices move in the same direction and
  the interval between them is a perfect fifth (unison or octave) modulo the
  octave both before and after.
* `crossings_per_100_sonorities`: per 100 segments in which at least two
  voices sound, the segments in which some voice sounds below a voice
  numbered after it.
* `chord_share`: of the time in which at least three voices sound, the
  share whose pitch classes form a major, minor, diminished or augmented
  triad or a dominant, major, minor, half-diminished or diminished seventh
  chord (incomplete chords and chords with non-chord tones do not count).
  Without voices (a one-voice encoding such as a note stream) the same over
  the time in which at least three distinct pitches sound.
* `longest_inner_run_quarters`: the longest time an inner voice (neither
  the first nor the last) stays on one pitch, held or repeated without a
  rest in between. `longest_run_quarters`: the same over every voice;
  without voices, the longest time one pitch sounds without a break,
  whoever sounds it (struck again at once, it goes on).
* `final_tonic_triad`: 1 if the last sonority is a complete triad in root
  position (its lowest note is the root) whose root is the key's tonic, of
  either quality (a major tonic in a minor key, the Picardy third, counts),
  else 0.

Voice statistics (ranges, parallels, crossings, inner runs) need real
voices: a one-voice encoding (note stream) has none, nor has a piano roll
whose voices are only the slots of a frame (`EventEncoder.voices_are_parts`
False), and `piece_statistics` leaves them out for `num_voices` < 2 (as
`sequence_statistics` passes for both); it keeps `longest_run_quarters`
there, measured by pitch.
"""

import bisect
import dataclasses
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

# Krumhansl-Kessler probe-tone profiles, tonic first.
_MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66,
                  2.29, 2.88)
_MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69,
                  3.34, 3.17)
_MAJOR_SCALE = frozenset((0, 2, 4, 5, 7, 9, 11))
_MINOR_SCALE = frozenset((0, 2, 3, 5, 7, 8, 9, 10, 11))
# Pitch-class sets relative to the root.
_TRIADS = (frozenset((0, 4, 7)), frozenset((0, 3, 7)), frozenset((0, 3, 6)),
           frozenset((0, 4, 8)))
_SEVENTHS = (frozenset((0, 4, 7, 10)), frozenset((0, 4, 7, 11)),
             frozenset((0, 3, 7, 10)), frozenset((0, 3, 6, 10)),
             frozenset((0, 3, 6, 9)))
_EPSILON = 1e-6

SUMMARY_PERCENTILES = (10, 90)


@dataclasses.dataclass(frozen=True)
class Note:
    """A note in quarter notes; `voice` 0 is the highest voice."""

    voice: int
    pitch: int
    start: float
    end: float


@dataclasses.dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode."""

    tonic: int
    minor: bool

    def scale(self) -> frozenset:
        """The pitch classes counted as in the key."""
        steps = _MINOR_SCALE if self.minor else _MAJOR_SCALE
        return frozenset((self.tonic + step) % 12 for step in steps)


def notes_of(sequence, qpm: Optional[float] = None) -> List[Note]:
    """The notes of a NoteSequence (voice in `instrument`) in quarters.

    Args:
        sequence: A `NoteSequence` whose notes carry their voice in
            `instrument`, as the encoders decode them.
        qpm: Its tempo; None reads the first tempo (120 if there is none).
    """
    if qpm is None:
        qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    scale = qpm / 60.0
    return [Note(int(n.instrument), int(n.pitch), n.start_time * scale,
                 n.end_time * scale) for n in sequence.notes]


# Every key, in the order in which `estimate_key` prefers one of two that
# fit equally well: the major keys from C, then the minor keys from C.
KEYS = tuple(Key(tonic, minor) for minor in (False, True)
             for tonic in range(12))


def key_profiles() -> np.ndarray:
    """The Krumhansl-Kessler profile of each key of `KEYS`, `[24, 12]`
    (indexed by pitch class)."""
    return np.stack([
        np.roll(np.asarray(_MINOR_PROFILE if key.minor else _MAJOR_PROFILE),
                key.tonic) for key in KEYS])


def key_scales() -> np.ndarray:
    """Whether each pitch class is in each key of `KEYS`, bool `[24, 12]`."""
    return np.array([[pc in key.scale() for pc in range(12)] for key in KEYS])


def parse_key(text: str) -> Key:
    """The key named like 'D minor', 'F# major' or 'Bb minor'.

    Raises:
        ValueError: if `text` names no such key.
    """
    parts = str(text).split()
    letters = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    if (len(parts) != 2 or parts[1].lower() not in ("major", "minor")
            or not parts[0] or parts[0][0].upper() not in letters
            or any(sign not in "#b" for sign in parts[0][1:])):
        raise ValueError(f"{text!r} names no key; write a tonic and a mode "
                         "such as 'D minor', 'F# major' or 'Bb major'.")
    tonic = (letters[parts[0][0].upper()] + parts[0].count("#")
             - parts[0][1:].count("b"))
    return Key(tonic % 12, parts[1].lower() == "minor")


def estimate_key(notes: Sequence[Note]) -> Key:
    """The key whose Krumhansl-Kessler profile correlates best with the
    duration-weighted pitch-class histogram (C major for no notes)."""
    histogram = np.zeros(12)
    for note in notes:
        histogram[note.pitch % 12] += max(note.end - note.start, 0.0)
    if not histogram.any():
        return Key(0, False)
    best, best_key = -np.inf, Key(0, False)
    for key, profile in zip(KEYS, key_profiles()):
        score = np.corrcoef(histogram, profile)[0, 1]
        if np.isfinite(score) and score > best + _EPSILON:
            best, best_key = score, key
    return best_key


def segments(notes: Sequence[Note],
             num_voices: int) -> List[Tuple[float, Tuple[Optional[int], ...]]]:
    """Splits a piece where any note starts or ends.

    Returns:
        `(duration, pitches)` per segment in time order; `pitches[v]` is the
        pitch voice `v` sounds, or None where it rests. A voice that sounds
        two notes at once keeps the lower one. Re-attacking the same pitch
        starts a new segment with the same pitches.
    """
    bounds = sorted({round(t, 6) for n in notes for t in (n.start, n.end)})
    pitches = [[None] * num_voices for _ in bounds[1:]]
    for note in notes:
        if not 0 <= note.voice < num_voices:
            continue
        first = bisect.bisect_left(bounds, round(note.start, 6))
        last = bisect.bisect_left(bounds, round(note.end, 6))
        for index in range(first, last):
            current = pitches[index][note.voice]
            pitches[index][note.voice] = (note.pitch if current is None
                                          else min(current, note.pitch))
    return [(end - begin, tuple(p))
            for begin, end, p in zip(bounds, bounds[1:], pitches)]


def sounding_pitches(notes: Sequence[Note]) -> List[Tuple[float, List[int]]]:
    """Splits a piece where any note starts or ends, whatever its voice.

    Returns:
        `(duration, pitches)` per segment in time order: every distinct
        pitch sounding in it, lowest first. For encodings without voices,
        where `segments` would see one voice.
    """
    bounds = sorted({round(t, 6) for n in notes for t in (n.start, n.end)})
    sounding: List[set] = [set() for _ in bounds[1:]]
    for note in notes:
        first = bisect.bisect_left(bounds, round(note.start, 6))
        last = bisect.bisect_left(bounds, round(note.end, 6))
        for index in range(first, last):
            sounding[index].add(note.pitch)
    return [(end - begin, sorted(p))
            for begin, end, p in zip(bounds, bounds[1:], sounding)]


def longest_pitch_run(notes: Sequence[Note]) -> float:
    """The longest time (quarters) one pitch sounds without a break,
    whatever voice sounds it."""
    longest = 0.0
    since: Dict[int, float] = {}
    time = 0.0
    for duration, pitches in sounding_pitches(notes):
        since = {p: since.get(p, time) for p in pitches}
        time += duration
        longest = max([longest] + [time - start for start in since.values()])
    return longest


def chord_kind(pitch_classes: Iterable[int]) -> Optional[str]:
    """"triad" or "seventh" if the pitch classes form one (any root,
    any inversion), else None."""
    classes = frozenset(pitch_classes)
    for root in classes:
        relative = frozenset((pc - root) % 12 for pc in classes)
        if relative in _TRIADS:
            return "triad"
        if relative in _SEVENTHS:
            return "seventh"
    return None


def parallel_motions(notes: Sequence[Note], num_voices: int) -> Tuple[int, int]:
    """Counts `(parallel fifths and octaves, voice-pair motions)`."""
    parallels = motions = 0
    parts = segments(notes, num_voices)
    for (_, before), (_, after) in zip(parts, parts[1:]):
        for upper in range(num_voices):
            for lower in range(upper + 1, num_voices):
                pair = (before[upper], before[lower], after[upper],
                        after[lower])
                if None in pair:
                    continue
                upper_from, lower_from, upper_to, lower_to = pair
                if upper_from == upper_to and lower_from == lower_to:
                    continue
                motions += 1
                moves = (upper_to - upper_from, lower_to - lower_from)
                same_direction = (moves[0] * moves[1] > 0)
                interval_from = (upper_from - lower_from) % 12
                interval_to = (upper_to - lower_to) % 12
                if (same_direction and interval_from == interval_to
                        and interval_from in (0, 7)):
                    parallels += 1
    return parallels, motions


def longest_runs(notes: Sequence[Note], num_voices: int) -> List[float]:
    """Per voice, the longest time (quarters) on one pitch, held or repeated
    with no rest in between."""
    runs = [0.0] * num_voices
    for voice in range(num_voices):
        own = sorted((n for n in notes if n.voice == voice),
                     key=lambda n: (n.start, n.pitch))
        run_start = run_end = None
        run_pitch = None
        for note in own:
            continues = (run_pitch == note.pitch and run_end is not None
                         and abs(note.start - run_end) <= _EPSILON)
            if not continues:
                run_start, run_pitch = note.start, note.pitch
            run_end = note.end
            runs[voice] = max(runs[voice], run_end - run_start)
    return runs


def final_tonic_triad(notes: Sequence[Note], key: Key) -> bool:
    """Whether the last sonority is a root-position triad on the tonic."""
    if not notes:
        return False
    last_start = max(n.start for n in notes)
    sounding = [n.pitch for n in notes
                if n.start <= last_start + _EPSILON
                and n.end > last_start + _EPSILON]
    classes = {p % 12 for p in sounding}
    bass = min(sounding) % 12
    if bass != key.tonic or len(classes) != 3:
        return False
    relative = frozenset((pc - bass) % 12 for pc in classes)
    return relative in (frozenset((0, 4, 7)), frozenset((0, 3, 7)))


def sequence_statistics(sequence, encoder,
                        qpm: Optional[float] = None) -> Dict[str, float]:
    """Every statistic of a decoded piece, counting as voices only what
    `encoder` says are parts (`EventEncoder.voices_are_parts`).

    Args:
        sequence: A `NoteSequence` as `encoder` decodes one.
        encoder: The encoder of the run the piece comes from.
        qpm: Its tempo (see `notes_of`).
    """
    notes = notes_of(sequence, qpm=qpm)
    if not encoder.voices_are_parts:
        return piece_statistics(notes, 1)
    return piece_statistics(notes, encoder.num_voices, encoder.voice_names)


def piece_statistics(notes: Sequence[Note], num_voices: int,
                     voice_names: Optional[Sequence[str]] = None
                     ) -> Dict[str, float]:
    """Every statistic of one piece (see the module docstring).

    Args:
        notes: The piece's notes.
        num_voices: How many voices the encoding has.
        voice_names: Names for `pitch_range_<name>` (lower-cased); voice
            numbers by default.

    Returns:
        A dict of floats; a statistic with nothing to measure (no motions, no
        three-voice sonority) is NaN.
    """
    key = estimate_key(notes)
    scale = key.scale()
    stats: Dict[str, float] = {
        "in_key_share": _ratio(sum(n.pitch % 12 in scale for n in notes),
                               len(notes)),
        "final_tonic_triad": float(final_tonic_triad(notes, key)),
    }
    parts = segments(notes, num_voices)
    if num_voices < 2:
        full = sounding_pitches(notes)
    else:
        full = [(d, [p for p in pitches if p is not None])
                for d, pitches in parts]
    full = [(d, sounding) for d, sounding in full if len(sounding) >= 3]
    stats["chord_share"] = _ratio(
        sum(d for d, sounding in full
            if chord_kind(p % 12 for p in sounding) is not None),
        sum(d for d, _ in full))
    if num_voices < 2:
        stats["longest_run_quarters"] = longest_pitch_run(notes)
        return stats
    names = [str(n).lower() for n in (voice_names or range(num_voices))]
    for voice, name in enumerate(names):
        pitches = [n.pitch for n in notes if n.voice == voice]
        stats[f"pitch_range_{name}"] = (float(max(pitches) - min(pitches))
                                        if pitches else float("nan"))
    parallels, motions = parallel_motions(notes, num_voices)
    stats["parallels_per_100_motions"] = 100.0 * _ratio(parallels, motions)
    voiced = [pitches for _, pitches in parts
              if sum(p is not None for p in pitches) >= 2]
    stats["crossings_per_100_sonorities"] = 100.0 * _ratio(
        sum(_crossed(pitches) for pitches in voiced), len(voiced))
    runs = longest_runs(notes, num_voices)
    stats["longest_run_quarters"] = max(runs)
    if num_voices >= 3:
        stats["longest_inner_run_quarters"] = max(runs[1:-1])
    return stats


def summarize(rows: Sequence[Mapping[str, float]]) -> Dict[str, Dict[str, float]]:
    """Mean, 10th and 90th percentile and max of each statistic over pieces
    (NaNs ignored)."""
    summary = {}
    for name in sorted({k for row in rows for k in row}):
        values = np.asarray([row[name] for row in rows if name in row],
                            np.float64)
        values = values[np.isfinite(values)]
        if not values.size:
            continue
        low, high = np.percentile(values, SUMMARY_PERCENTILES)
        summary[name] = {"mean": round(float(values.mean()), 4),
                         "p10": round(float(low), 4),
                         "p90": round(float(high), 4),
                         "max": round(float(values.max()), 4),
                         "pieces": int(values.size)}
    return summary


def _crossed(pitches: Sequence[Optional[int]]) -> bool:
    sounding = [p for p in pitches if p is not None]
    return any(low > high for high, low in zip(sounding, sounding[1:]))


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else float("nan")
