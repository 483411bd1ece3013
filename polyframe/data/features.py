"""What conditioned models read besides the events: times and the melody.

A melody-aware model must see the melody as notes (pitch, onset, duration),
never as its column of the event array: with the duration encoder that
column holds HOLD wherever another voice moves, so it would leak the other
voices' rhythm. These helpers derive both features from an encoded piece the
same way in training and from a user's melody in generation.
"""

from typing import Sequence, Tuple

import numpy as np

from polyframe import sequence_model
from polyframe.encoding import EventEncoder

# At 60 quarter notes per minute a second is a quarter note.
_QUARTERS = 60.0

Note = Tuple[int, float, float]  # MIDI pitch, onset and end in quarters


def event_times(encoder: EventEncoder, piece: np.ndarray) -> np.ndarray:
    """Start of every event of `piece`, then its end, in quarters (float32)."""
    return encoder.event_start_times(piece, qpm=_QUARTERS).astype(np.float32)


def piece_melody(encoder: EventEncoder, piece: np.ndarray,
                 voice: int) -> Tuple[np.ndarray, np.ndarray]:
    """The notes and rests of `voice` in an encoded piece (see
    `melody_arrays`)."""
    sequence = encoder.decode(piece, qpm=_QUARTERS)
    notes = [(n.pitch, n.start_time, n.end_time) for n in sequence.notes
             if n.instrument == voice]
    return melody_arrays(notes, sequence.total_time)


def melody_arrays(notes: Sequence[Note],
                  end: float) -> Tuple[np.ndarray, np.ndarray]:
    """A melody as the model features `melody_pitch` and `melody_timing`.

    Gaps between notes (and after the last, up to `end`) become rests, so the
    melody covers the piece without holes.

    Args:
        notes: The melody's notes, in any order; they must not overlap.
        end: Where the piece ends, in quarters.

    Returns:
        `pitch` int32 `[M]` (MIDI pitch or `MELODY_REST`) and `timing`
        float32 `[M, 2]` (onset and duration in quarters).
    """
    pitches, timing = [], []
    cursor = 0.0
    for pitch, start, stop in sorted(notes, key=lambda n: n[1]):
        if start > cursor + 1e-9:
            pitches.append(sequence_model.MELODY_REST)
            timing.append((cursor, start - cursor))
        pitches.append(pitch)
        timing.append((start, stop - start))
        cursor = max(cursor, stop)
    if end > cursor + 1e-9:
        pitches.append(sequence_model.MELODY_REST)
        timing.append((cursor, end - cursor))
    return (np.asarray(pitches, np.int32).reshape(-1),
            np.asarray(timing, np.float32).reshape(-1, 2))
