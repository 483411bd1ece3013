"""From encoded pieces to batches: training windows and whole pieces.

Every piece is an int array `[num_events, voices, fields]`; a START row is put
in front so the first event is predicted too, and, for encoders with an END
marker, the END row behind so the end is predicted as well. Training cuts
pieces into windows of `window_length` targets at a random offset that
changes every epoch (so window boundaries do not always fall in the same
places); evaluation runs over whole pieces so the NLL is the model's real
likelihood of each piece. The keys of a batch are documented in
`polyframe.sequence_model`.

Both read the pieces as they go (`EpochWindows`, `whole_pieces`), holding a
bounded number of windows or pieces at a time, so a corpus read from a cache
is never all in memory.
"""

import collections
import copy
import dataclasses
import hashlib
import itertools
import threading
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

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
# Pieces whose times and melody a framing remembers (see `Remembered`).
REMEMBERED_PIECES = 4096


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


class Remembered:
    """A function of a piece's events, remembered for the latest pieces.

    Event times and melodies are read by decoding the piece (milliseconds
    each), and every epoch frames the same pieces again, in one of a few
    transpositions. Remembering the answers for the last `size` distinct
    event arrays (keyed by a 128-bit hash of their bytes) makes later epochs
    and every evaluation read them for the cost of the hash, while memory
    stays bounded for corpora larger than `size`. The arrays handed out are
    read-only, since every caller gets the same ones.
    """

    def __init__(self, function: Callable[[np.ndarray], object],
                 size: int = REMEMBERED_PIECES):
        self._function = function
        self._size = size
        self._answers: "collections.OrderedDict[tuple, object]" = (
            collections.OrderedDict())
        self._lock = threading.Lock()

    def __call__(self, piece: np.ndarray):
        piece = np.ascontiguousarray(piece)
        key = (piece.shape, piece.dtype.str,
               hashlib.blake2b(piece.data, digest_size=16).digest())
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = self._function(piece)
        for array in (answer if isinstance(answer, tuple) else (answer,)):
            array.setflags(write=False)
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)
        return answer


def framing_for(encoder: EventEncoder, features: Sequence[str] = (),
                melody_voice: int = 0) -> Framing:
    """The framing a model with these `features` needs on this encoder."""
    wants_times = sequence_model.TIMES in features
    wants_melody = sequence_model.MELODY in features
    return Framing(
        note_starts=encoder.note_starts,
        end_row=encoder.end_row(),
        times=Remembered(lambda piece: features_lib.event_times(
            encoder, piece)) if wants_times else None,
        melody=Remembered(lambda piece: features_lib.piece_melody(
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


def count_windows(num_targets: np.ndarray, offsets: np.ndarray,
                  window_length: int) -> np.ndarray:
    """How many windows `training_windows` cuts from pieces of `num_targets`
    targets starting at `offsets` (the first window is `offset` long, or a
    whole window for offset 0)."""
    first = np.where(offsets == 0, window_length, offsets)
    rest = np.maximum(num_targets - first, 0)
    return np.where(num_targets > 0, 1 + -(-rest // window_length), 0)


def _windows_of(framed: _Piece, offset: int, window_length: int,
                melody_length: int) -> Iterator[Batch]:
    """The windows of one framed piece, in order (see `training_windows`)."""
    num_targets = len(framed.rows) - 1
    boundaries = [0] + list(range(offset or window_length, num_targets,
                                  window_length)) + [num_targets]
    for begin, end in zip(boundaries[:-1], boundaries[1:]):
        if end > begin:
            example = _example(framed, begin, end, window_length)
            if "melody_pitch" in example:
                _pad_melody(example, melody_length)
            yield example


def _pad_melody(example: Batch, length: int) -> None:
    example["melody_pitch"] = _pad(example["melody_pitch"], length,
                                   sequence_model.MELODY_PAD)
    example["melody_timing"] = _pad(example["melody_timing"], length, 0.0)


@dataclasses.dataclass(frozen=True)
class PieceShapes:
    """What cutting the training pieces into windows needs to know ahead.

    Attributes:
        num_targets: Targets of every piece (its events, plus END).
        melody_length: Every window's melody length (the longest melody,
            rounded up to `MELODY_BUCKET`), so every batch has one shape;
            0 when the model reads no melody.
    """

    num_targets: np.ndarray
    melody_length: int


def piece_shapes(pieces: Iterable[np.ndarray], framing: Framing
                 ) -> PieceShapes:
    """Reads the pieces once and measures them (see `PieceShapes`)."""
    targets, longest = [], 0
    for piece in pieces:
        targets.append(len(_with_end(piece, framing.end_row)))
        if framing.melody is not None:
            longest = max(longest, len(framing.melody(piece)[0]))
    return PieceShapes(np.asarray(targets, np.int64),
                       -(-longest // MELODY_BUCKET) * MELODY_BUCKET)


class EpochWindows:
    """One epoch of training windows, cut from the pieces as they are read.

    Each piece starts its windows at a random offset in [0, window_length):
    the first window is shorter, and every event is a target exactly once.
    Notes are counted on the whole piece, so a note held across a window
    boundary is not new in the second window. The windows come out in a
    random order: an epoch of at most `shuffle_windows` windows is shuffled
    whole; a longer one passes through a shuffle buffer of that many
    windows, so memory stays bounded whatever the size of the corpus.

    Every draw is made from `rng` (offsets when the epoch is made, the
    order as it is read), and iterating again gives the same windows in the
    same order, so a resumed epoch repeats exactly.

    Args:
        pieces: Returns an iterator over the epoch's pieces, afresh at each
            call, in the same order as `shapes` measured them.
        shapes: The pieces' measurements (`piece_shapes`).
        window_length: Most targets per window.
        framing: How pieces become examples.
        rng: Draws the offsets and the order.
        shuffle_windows: Size of the shuffle buffer, in windows.
    """

    def __init__(self, pieces: Callable[[], Iterator[np.ndarray]],
                 shapes: PieceShapes, window_length: int, framing: Framing,
                 rng: np.random.Generator, shuffle_windows: int):
        self._pieces = pieces
        self._shapes = shapes
        self._window_length = window_length
        self._framing = framing
        self._offsets = rng.integers(window_length,
                                     size=len(shapes.num_targets))
        self._rng_state = copy.deepcopy(rng.bit_generator.state)
        self._shuffle_windows = shuffle_windows
        self.num_windows = int(count_windows(
            shapes.num_targets, self._offsets, window_length).sum())

    def windows(self) -> Iterator[Batch]:
        """Yields the epoch's windows one by one, in their random order."""
        rng = np.random.default_rng()
        rng.bit_generator.state = copy.deepcopy(self._rng_state)
        in_order = self._in_order()
        if self.num_windows <= self._shuffle_windows:
            held = list(in_order)
            for index in rng.permutation(len(held)):
                yield held[index]
            return
        held = list(itertools.islice(in_order, self._shuffle_windows))
        for window in in_order:
            index = int(rng.integers(len(held)))
            yield held[index]
            held[index] = window
        for index in rng.permutation(len(held)):
            yield held[index]

    def chunks(self, size: int = 256, start: int = 0,
               limit: Optional[int] = None) -> Iterator[Batch]:
        """Yields the windows stacked `size` at a time (the last chunk may
        be smaller), which a `tf.data` pipeline reads faster: windows
        `start` (a resumed epoch's first) to `limit` (the last a whole
        batch takes), or to the end of the epoch."""
        windows = itertools.islice(self.windows(), start, limit)
        while True:
            chunk = list(itertools.islice(windows, size))
            if not chunk:
                return
            yield _stack(chunk)

    def signature(self) -> Dict[str, tf.TensorSpec]:
        """The `tf.TensorSpec` of a chunk of windows, key by key."""
        piece = next(iter(self._pieces()))
        example = next(_windows_of(_frame(piece, self._framing), 0,
                                   self._window_length,
                                   self._shapes.melody_length))
        return {key: tf.TensorSpec((None,) + value.shape,
                                   tf.as_dtype(value.dtype))
                for key, value in example.items()}

    def _in_order(self) -> Iterator[Batch]:
        count = 0
        for index, piece in enumerate(self._pieces()):
            framed = _frame(piece, self._framing)
            for window in _windows_of(framed, int(self._offsets[index]),
                                      self._window_length,
                                      self._shapes.melody_length):
                count += 1
                yield window
        if count != self.num_windows:
            raise RuntimeError(
                f"the training pieces gave {count} windows, "
                f"{self.num_windows} were expected; they changed since "
                "they were measured")


def epoch_of(pieces: Sequence[np.ndarray], window_length: int,
             framing: Framing, rng: np.random.Generator,
             shuffle_windows: int = np.iinfo(np.int64).max) -> EpochWindows:
    """An epoch of windows of pieces held in memory (see `EpochWindows`)."""
    return EpochWindows(lambda: iter(pieces), piece_shapes(pieces, framing),
                        window_length, framing, rng, shuffle_windows)


def training_windows(pieces: Sequence[np.ndarray], window_length: int,
                     framing: Framing, rng: np.random.Generator) -> Batch:
    """Every window of `pieces` (see `EpochWindows`), stacked, in a random
    order: for small sets of pieces held in memory."""
    return _stack(list(epoch_of(pieces, window_length, framing,
                                rng).windows()))


def whole_pieces(pieces: Iterable[np.ndarray], batch_size: int,
                 framing: Framing,
                 sort_pieces: int = 1024) -> Iterator[Batch]:
    """Yields batches of whole pieces, padded to the longest in the batch.

    Pieces are read `sort_pieces` at a time (rounded up to whole batches)
    and sorted by length, so that little padding is computed while memory
    stays bounded.
    """
    group_size = -(-max(sort_pieces, batch_size) // batch_size) * batch_size
    remaining = iter(pieces)
    while True:
        by_length = sorted(itertools.islice(remaining, group_size), key=len)
        if not by_length:
            return
        for begin in range(0, len(by_length), batch_size):
            group = [_frame(p, framing)
                     for p in by_length[begin:begin + batch_size]]
            length = max(len(p.rows) - 1 for p in group)
            yield _stack([_example(p, 0, len(p.rows) - 1, length)
                          for p in group])


def to_dataset(arrays: Batch, batch_size: int) -> tf.data.Dataset:
    """Batches stacked training windows; the last partial batch is dropped so
    that every step has the same shape (one trace, one XLA compile)."""
    return (tf.data.Dataset.from_tensor_slices(arrays)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
