"""From encoded pieces to batches: training windows and whole pieces.

Every piece is an int array `[num_events, voices, fields]`; a START row is put
in front so the first event is predicted too. Training cuts pieces into
windows of `window_length` targets at a random offset that changes every
epoch (so window boundaries do not always fall in the same places);
evaluation runs over whole pieces so the NLL is the model's real likelihood
of each piece.
"""

from typing import Callable, Dict, Iterator, Sequence

import numpy as np
import tensorflow as tf

from polyframe.encoding import START_ID

Batch = Dict[str, np.ndarray]
NoteStarts = Callable[[np.ndarray], np.ndarray]


def with_start(piece: np.ndarray) -> np.ndarray:
    """Prepends the START row to a piece."""
    start = np.full((1,) + piece.shape[1:], START_ID, dtype=np.int32)
    return np.concatenate([start, piece.astype(np.int32)], axis=0)


def _pad(rows: np.ndarray, length: int) -> np.ndarray:
    padding = np.full((length - len(rows),) + rows.shape[1:], START_ID,
                      dtype=np.int32)
    return np.concatenate([rows, padding], axis=0)


def _example(rows: np.ndarray, notes: np.ndarray, length: int) -> Batch:
    """`rows` has `len(notes) + 1` real rows (input first); pads to `length`.

    Args:
        rows: The input row followed by the target events.
        notes: Notes starting in each target event, counted on the whole
            piece (so a note held across a window boundary is not new).
        length: Targets per example after padding.
    """
    num_targets = len(notes)
    mask = np.zeros(length, np.float32)
    mask[:num_targets] = 1.0
    return {"events": _pad(rows, length + 1),
            "mask": mask,
            "notes": np.pad(notes.astype(np.float32),
                            (0, length - num_targets))}


def _notes_per_event(piece: np.ndarray, note_starts: NoteStarts) -> np.ndarray:
    return note_starts(piece).sum(axis=-1)


def training_windows(pieces: Sequence[np.ndarray], window_length: int,
                     note_starts: NoteStarts, rng: np.random.Generator) -> Batch:
    """Cuts every piece into windows of at most `window_length` targets.

    Each piece starts its windows at a random offset in [0, window_length):
    the first window is shorter, and every event is a target exactly once.

    Returns:
        Stacked arrays: `events [N, window_length + 1, V, F]`, `mask` and
        `notes` `[N, window_length]`, in a random order.
    """
    examples = []
    for piece in pieces:
        rows = with_start(piece)
        notes = _notes_per_event(piece, note_starts)
        num_targets = len(rows) - 1
        offset = int(rng.integers(window_length))
        boundaries = [0] + list(range(offset or window_length, num_targets,
                                      window_length)) + [num_targets]
        for begin, end in zip(boundaries[:-1], boundaries[1:]):
            if end > begin:
                examples.append(_example(rows[begin:end + 1],
                                         notes[begin:end], window_length))
    order = rng.permutation(len(examples))
    return {key: np.stack([examples[i][key] for i in order])
            for key in examples[0]}


def whole_pieces(pieces: Sequence[np.ndarray], batch_size: int,
                 note_starts: NoteStarts) -> Iterator[Batch]:
    """Yields batches of whole pieces, padded to the longest in the batch.

    Pieces are sorted by length first so that little padding is computed.
    """
    by_length = sorted(pieces, key=len)
    for begin in range(0, len(by_length), batch_size):
        group = by_length[begin:begin + batch_size]
        length = max(len(p) for p in group)
        examples = [_example(with_start(p), _notes_per_event(p, note_starts),
                             length) for p in group]
        yield {key: np.stack([e[key] for e in examples]) for key in examples[0]}


def to_dataset(arrays: Batch, batch_size: int) -> tf.data.Dataset:
    """Batches stacked training windows; the last partial batch is dropped so
    that every step has the same shape (one trace, one XLA compile)."""
    return (tf.data.Dataset.from_tensor_slices(arrays)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
