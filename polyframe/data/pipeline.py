"""From encoded pieces to batches: training windows and whole pieces.

Every piece is an int array `[num_events, voices, fields]`; a START row is put
in front so the first event is predicted too, and, for encoders with an END
marker, the END row behind so the end is predicted as well. Training cuts
pieces into windows of `window_length` targets at a random offset that
changes every epoch (so window boundaries do not always fall in the same
places); evaluation runs over whole pieces so the NLL is the model's real
likelihood of each piece. The keys of a batch are documented in
`polyframe.sequence_model`.
"""

import dataclasses
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from polyframe import sequence_model
from polyframe.data import features as features_lib
from polyframe.encoding import START_ID, EventEncoder

Batch = Dict[str, np.ndarray]
NoteStarts = Callable[[np.ndarray], np.ndarray]
# Melodies are padded to a multiple of this, so shapes (and compiled steps)
# rarely change between batches.
MELODY_BUCKET = 32


@dataclasses.dataclass(frozen=True)
class Framing:
    """How pieces become examples.

    Attributes:
        note_starts: bool `[events, voices]` where notes start.
        end_row: The END event appended to every piece, or None.
        times: Start of every event and then the piece's end, in quarters
            (`[events + 1]`), for models that read `TIMES`; None otherwise.
        melody: The melody's `(pitch [M], timing [M, 2])`, for models that
            read `MELODY`; None otherwise.
    """

    note_starts: NoteStarts
    end_row: Optional[np.ndarray] = None
    times: Optional[Callable[[np.ndarray], np.ndarray]] = None
    melody: Optional[Callable[[np.ndarray],
                              Tuple[np.ndarray, np.ndarray]]] = None


def framing_for(encoder: EventEncoder, features: Sequence[str] = (),
                melody_voice: int = 0) -> Framing:
    """The framing a model with these `features` needs on this encoder."""
    wants_times = sequence_model.TIMES in features
    wants_melody = sequence_model.MELODY in features
    return Framing(
        note_starts=encoder.note_starts,
        end_row=encoder.end_row(),
        times=(lambda piece: features_lib.event_times(encoder, piece))
        if wants_times else None,
        melody=(lambda piece: features_lib.piece_melody(
            encoder, piece, melody_voice)) if wants_melody else None)


def with_start(piece: np.ndarray) -> np.ndarray:
    """Prepends the START row to a piece."""
    start = np.full((1,) + piece.shape[1:], START_ID, dtype=np.int32)
    return np.concatenate([start, piece.astype(np.int32)], axis=0)


def _with_end(piece: np.ndarray, end_row: Optional[np.ndarray]) -> np.ndarray:
    """Appends END unless the piece has it already (or there is none)."""
    if end_row is None or (len(piece) and np.array_equal(piece[-1], end_row)):
        return piece
    return np.concatenate([piece, end_row[None].astype(piece.dtype)])


def _pad(rows: np.ndarray, length: int, value=START_ID) -> np.ndarray:
    padding = np.full((length - len(rows),) + rows.shape[1:], value,
                      dtype=rows.dtype)
    return np.concatenate([rows, padding], axis=0)


@dataclasses.dataclass
class _Piece:
    """A piece framed once: its rows and per-event arrays, for cutting."""

    rows: np.ndarray  # START, the events, END
    notes: np.ndarray  # [targets, voices]
    end: np.ndarray  # [targets]
    times: Optional[np.ndarray]  # [targets]
    melody: Optional[Tuple[np.ndarray, np.ndarray]]


def _frame(piece: np.ndarray, framing: Framing) -> _Piece:
    framed = _with_end(piece, framing.end_row)
    notes = framing.note_starts(framed).astype(np.float32)
    end = np.zeros(len(framed), np.float32)
    if framing.end_row is not None:
        end[-1] = 1.0
        notes[-1] = 0.0
    times = None
    if framing.times is not None:  # END starts where the piece ends.
        times = framing.times(piece)[:len(framed)]
    melody = framing.melody(piece) if framing.melody is not None else None
    return _Piece(with_start(framed), notes, end, times, melody)


def _example(piece: _Piece, begin: int, end: int, length: int) -> Batch:
    """Targets `begin..end` of `piece` (input rows one earlier), padded to
    `length` targets."""
    num_targets = end - begin
    mask = np.zeros(length, np.float32)
    mask[:num_targets] = 1.0
    example = {"events": _pad(piece.rows[begin:end + 1], length + 1),
               "mask": mask,
               "end": _pad(piece.end[begin:end], length, 0.0),
               "notes": _pad(piece.notes[begin:end], length, 0.0)}
    if piece.times is not None:
        example[sequence_model.TIMES] = _pad(piece.times[begin:end], length,
                                             0.0)
    if piece.melody is not None:
        example["melody_pitch"], example["melody_timing"] = piece.melody
    return example


def _stack(examples: List[Batch]) -> Batch:
    """Stacks examples, padding melodies to a common bucketed length."""
    if "melody_pitch" in examples[0]:
        longest = max(len(e["melody_pitch"]) for e in examples)
        size = -(-longest // MELODY_BUCKET) * MELODY_BUCKET
        for e in examples:
            e["melody_pitch"] = _pad(e["melody_pitch"], size,
                                     sequence_model.MELODY_PAD)
            e["melody_timing"] = _pad(e["melody_timing"], size, 0.0)
    return {key: np.stack([e[key] for e in examples]) for key in examples[0]}


def training_windows(pieces: Sequence[np.ndarray], window_length: int,
                     framing: Framing, rng: np.random.Generator) -> Batch:
    """Cuts every piece into windows of at most `window_length` targets.

    Each piece starts its windows at a random offset in [0, window_length):
    the first window is shorter, and every event is a target exactly once.
    Notes are counted on the whole piece, so a note held across a window
    boundary is not new in the second window.

    Returns:
        Stacked arrays (see `polyframe.sequence_model` for the keys), the
        windows in a random order.
    """
    examples = []
    for piece in pieces:
        framed = _frame(piece, framing)
        num_targets = len(framed.rows) - 1
        offset = int(rng.integers(window_length))
        boundaries = [0] + list(range(offset or window_length, num_targets,
                                      window_length)) + [num_targets]
        for begin, end in zip(boundaries[:-1], boundaries[1:]):
            if end > begin:
                examples.append(_example(framed, begin, end, window_length))
    order = rng.permutation(len(examples))
    return _stack([examples[i] for i in order])


def whole_pieces(pieces: Sequence[np.ndarray], batch_size: int,
                 framing: Framing) -> Iterator[Batch]:
    """Yields batches of whole pieces, padded to the longest in the batch.

    Pieces are sorted by length first so that little padding is computed.
    """
    by_length = sorted(pieces, key=len)
    for begin in range(0, len(by_length), batch_size):
        group = [_frame(p, framing) for p in by_length[begin:begin + batch_size]]
        length = max(len(p.rows) - 1 for p in group)
        yield _stack([_example(p, 0, len(p.rows) - 1, length) for p in group])


def to_dataset(arrays: Batch, batch_size: int) -> tf.data.Dataset:
    """Batches stacked training windows; the last partial batch is dropped so
    that every step has the same shape (one trace, one XLA compile)."""
    return (tf.data.Dataset.from_tensor_slices(arrays)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
