"""Transposition: more training music from the same pieces.

Every epoch each training piece is played in a key drawn at random within
`transpose_semitones` of its own (the original duration RNN used +-5). A
shift that would push any note out of the encoder's pitch range is not used
for that piece (it keeps its own key that epoch), so augmentation never
deletes or folds notes. Validation and test pieces are never transposed, so
their NLL stays comparable across configs.

`normalize_key` instead (or as well) moves every piece of every split to C
major / A minor before anything else, using the piece's first key signature;
pieces without one are left as they are.
"""

import dataclasses
from typing import Callable, Dict, Iterator, Sequence, Tuple

import numpy as np
from absl import logging
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.data.corpus import UnusableSequenceError
from polyframe.encoding import EventEncoder

MINOR = music_pb2.NoteSequence.KeySignature.MINOR


@dataclasses.dataclass
class Augmentation:
    """How the training split is augmented.

    Attributes:
        transpose_semitones: Each epoch, each training piece is shifted by a
            whole number of semitones drawn uniformly from
            [-transpose_semitones, transpose_semitones]; 0 turns it off.
        normalize_key: Move every piece to C major / A minor first.
    """

    transpose_semitones: int = 0
    normalize_key: bool = False

    def __post_init__(self):
        checks.integer("Augmentation", "transpose_semitones",
                       self.transpose_semitones, minimum=0, maximum=24)
        checks.boolean("Augmentation", "normalize_key", self.normalize_key)


def transpose(sequence: music_pb2.NoteSequence,
              semitones: int) -> music_pb2.NoteSequence:
    """Returns `sequence` shifted by `semitones`, key signatures included.

    No note is dropped here; the encoder rejects pitches it cannot hold.
    """
    shifted, _ = sequences_lib.transpose_note_sequence(
        sequence, semitones, min_allowed_pitch=-1000, max_allowed_pitch=1000)
    return shifted


def key_normalized(sequence: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
    """Returns `sequence` moved to C major or A minor by the nearest shift."""
    if not sequence.key_signatures:
        return sequence
    first = min(sequence.key_signatures, key=lambda k: k.time)
    target = 9 if first.mode == MINOR else 0
    shift = (target - first.key) % 12
    return transpose(sequence, shift - 12 if shift > 6 else shift)


class TransposedPieces:
    """Encodes training pieces in random keys, drawn anew every epoch.

    An encoder that can move a piece's events directly (`transposed`) does
    so, and the NoteSequences are not read. Otherwise each piece is
    transposed and encoded again; those encodings are kept per (piece,
    shift) up to `max_kept_events` events in all, so a small corpus is
    encoded in each key once while a large one is re-encoded as it streams
    past, in bounded memory.

    Args:
        sequences: The training pieces.
        encoded: Their encodings in their own key (the fallback), in the
            same order.
        encoder: The fitted encoder.
        max_semitones: The largest shift up or down.
        max_kept_events: The most events of transposed encodings kept.
    """

    def __init__(self, sequences: Sequence[music_pb2.NoteSequence],
                 encoded: Sequence[np.ndarray], encoder: EventEncoder,
                 max_semitones: int, max_kept_events: int = 1_000_000):
        self._sequences = sequences
        self._encoded = encoded
        self._encoder = encoder
        self._max = int(max_semitones)
        self._kept: Dict[Tuple[int, int], np.ndarray] = {}
        self._kept_events = 0
        self._max_kept_events = max_kept_events
        self._out_of_range = 0
        nothing = np.zeros((0, encoder.num_voices, len(encoder.fields)),
                           np.int32)
        self._from_events = encoder.transposed(nothing, 0) is not None

    def epoch(self, rng: np.random.Generator
              ) -> Callable[[], Iterator[np.ndarray]]:
        """Draws a key for every piece; returns a function that iterates
        over the pieces in those keys (afresh at each call)."""
        shifts = rng.integers(-self._max, self._max + 1,
                              size=len(self._encoded))

        def pieces() -> Iterator[np.ndarray]:
            if self._from_events:  # The NoteSequences are not needed.
                for own, shift in zip(self._encoded, shifts):
                    yield self._shifted(own, int(shift))
                return
            for index, (sequence, own) in enumerate(
                    zip(self._sequences, self._encoded)):
                yield self._transposed(index, int(shifts[index]), sequence,
                                       own)

        return pieces

    def _shifted(self, own: np.ndarray, shift: int) -> np.ndarray:
        """`own` moved by `shift` through the encoder's ids."""
        if shift == 0:
            return own
        try:
            return self._encoder.transposed(own, shift)
        except UnusableSequenceError:
            self._note_out_of_range()
            return own

    def _note_out_of_range(self) -> None:
        self._out_of_range += 1
        if self._out_of_range == 1:
            logging.info("a transposition that leaves the encoder's pitch "
                         "range is replaced by the piece's own key")

    def _transposed(self, index: int, shift: int,
                    sequence: music_pb2.NoteSequence,
                    own: np.ndarray) -> np.ndarray:
        if shift == 0:
            return own
        key = (index, shift)
        if key in self._kept:
            return self._kept[key]
        try:
            events = self._encoder.encode(transpose(sequence, shift))
        except UnusableSequenceError:
            self._note_out_of_range()
            events = own
        if self._kept_events + len(events) <= self._max_kept_events:
            self._kept[key] = events
            self._kept_events += len(events)
        return events
