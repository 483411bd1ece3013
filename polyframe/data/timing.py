"""Exact musical time: NoteSequence seconds <-> quarter notes as Fractions.

NoteSequences store time in float seconds, but music is written in exact
fractions of a quarter note. Encoders compare and subtract positions, so they
work in quarters as `fractions.Fraction`: float noise is removed by snapping to
the nearest fraction with a small denominator, and tempo changes are followed
piece by piece through `sequence.tempos`.
"""

import bisect
import fractions
from typing import List

from note_seq.protobuf import music_pb2

DEFAULT_QPM = 120.0

# Snapping to denominators up to 960 keeps every duplet, triplet, quintuplet
# and their sums exact, while float noise (~1e-12) is far below the smallest
# gap between two such fractions (~1e-6).
MAX_DENOMINATOR = 960
# A value this close to a multiple of 1/max_denominator is that multiple,
# for denominators up to the second bound (1e-9 < 1 / (2 * 10000**2)).
_ON_GRID = 1e-9
_MAX_GRID_DENOMINATOR = 10000


def snap(value: float,
         max_denominator: int = MAX_DENOMINATOR) -> fractions.Fraction:
    """Returns the fraction nearest to `value` with a bounded denominator."""
    # Nearly every position is within float noise of a multiple of
    # 1/max_denominator, and then that multiple is the answer: two distinct
    # fractions with such denominators lie at least 1/max_denominator**2
    # apart. Checking it first spares the costly general search.
    if max_denominator <= _MAX_GRID_DENOMINATOR:
        scaled = value * max_denominator
        nearest = round(scaled)
        if abs(scaled - nearest) < _ON_GRID * max_denominator:
            return fractions.Fraction(nearest, max_denominator)
    return fractions.Fraction(value).limit_denominator(max_denominator)


def quarters_to_seconds(quarters, qpm: float = DEFAULT_QPM) -> float:
    """Returns the seconds of `quarters` at a constant tempo of `qpm`."""
    return float(quarters) * 60.0 / qpm


class TempoMap:
    """Converts between seconds and quarters through a sequence's tempos.

    Before the first tempo event (or without any), `DEFAULT_QPM` applies.
    Several tempo events at the same time: the last one listed wins.

    Args:
        sequence: The NoteSequence whose `tempos` define the map.
        max_denominator: Largest denominator quarter positions snap to.
    """

    def __init__(self, sequence: music_pb2.NoteSequence,
                 max_denominator: int = MAX_DENOMINATOR):
        self._max_denominator = max_denominator
        changes = {}
        for tempo in sorted(sequence.tempos, key=lambda t: t.time):
            if tempo.qpm > 0:
                changes[max(tempo.time, 0.0)] = tempo.qpm
        changes.setdefault(0.0, DEFAULT_QPM)
        self._seconds: List[float] = sorted(changes)
        self._qpms: List[float] = [changes[t] for t in self._seconds]
        self._quarters: List[fractions.Fraction] = [fractions.Fraction(0)]
        for i in range(1, len(self._seconds)):
            span = self._seconds[i] - self._seconds[i - 1]
            self._quarters.append(self._quarters[-1] +
                                  self._snap(span * self._qpms[i - 1] / 60.0))

    def _snap(self, value: float) -> fractions.Fraction:
        return snap(value, self._max_denominator)

    def to_quarters(self, seconds: float) -> fractions.Fraction:
        """Returns the exact quarter-note position of a time in seconds."""
        i = max(bisect.bisect_right(self._seconds, seconds) - 1, 0)
        elapsed = (seconds - self._seconds[i]) * self._qpms[i] / 60.0
        return self._quarters[i] + self._snap(elapsed)

    def to_seconds(self, quarters) -> float:
        """Returns the time in seconds of a quarter-note position."""
        i = max(bisect.bisect_right(self._quarters, quarters) - 1, 0)
        return (self._seconds[i] +
                float(quarters - self._quarters[i]) * 60.0 / self._qpms[i])
