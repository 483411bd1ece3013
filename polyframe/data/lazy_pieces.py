"""Collections of pieces that are read when they are used, not before.

A corpus of ten thousand long pieces does not fit comfortably in memory, as
NoteSequences or as event arrays. So a cache hands out `StoredRecords`: a
sequence of its records that knows how many there are and where each one
lies, and parses each only while it is iterated over (shard after shard, in
the order written). `subset` picks some records (a split) without reading
anything, and `MappedPieces` applies a function (e.g. moving to C major) to
each piece as it is read. Both are `collections.abc.Sequence`s, so code that
only iterates, counts or indexes cannot tell them from a list; indexing a
single record reads its shard up to it, so loops should iterate instead.
"""

import bisect
import collections.abc
import itertools
import struct
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from polyframe.errors import UserFacingError


def _tfrecords(path: str) -> Iterator[bytes]:
    """Yields the records of a TFRecord file, read in plain Python.

    A record is its length (8 bytes, little-endian), a checksum of the
    length (4), the data and a checksum of the data (4). The checksums are
    not recomputed: a cache's shards are checked against the SHA-256s in its
    manifest when it is opened. Reading without TensorFlow keeps the
    `tf.data` pipelines that stream these records from waiting on
    TensorFlow's own threads.

    Raises:
        OSError: if the file is missing or ends inside a record.
    """
    with open(path, "rb") as file:
        while True:
            header = file.read(12)
            if not header:
                return
            if len(header) < 12:
                raise OSError(f"{path} ends inside a record header")
            (length,) = struct.unpack("<Q", header[:8])
            data = file.read(length)
            if len(data) < length or len(file.read(4)) < 4:
                raise OSError(f"{path} ends inside a record")
            yield data


class _ListLike(collections.abc.Sequence):
    """Adds list concatenation (`a + b` gives a list) to a lazy sequence."""

    def __add__(self, other):
        return list(self) + list(other)

    def __radd__(self, other):
        return list(other) + list(self)


class StoredRecords(_ListLike):
    """The records of TFRecord shards, parsed one at a time when iterated.

    Args:
        shards: `(path, number of records)` of every shard, in order.
        parse: Turns one serialized record into what it stores.
        positions: Which records (indices over all shards, increasing) make
            up this sequence; None: all of them.
        where: The cache's directory, for messages.
    """

    def __init__(self, shards: Sequence[Tuple[str, int]],
                 parse: Callable[[bytes], Any],
                 positions: Optional[Sequence[int]] = None,
                 where: str = ""):
        self._shards = [(str(path), int(count)) for path, count in shards]
        self._starts = [0] + list(itertools.accumulate(
            count for _, count in self._shards))
        self._parse = parse
        total = self._starts[-1]
        if positions is None:
            self._positions = np.arange(total, dtype=np.int64)
        else:
            self._positions = np.asarray(positions, dtype=np.int64)
            if self._positions.size and (
                    np.any(np.diff(self._positions) <= 0) or
                    self._positions[0] < 0 or self._positions[-1] >= total):
                raise ValueError("positions must increase and lie in "
                                 f"[0, {total}), got {positions!r}")
        self._where = where

    def __len__(self) -> int:
        return int(self._positions.size)

    def __iter__(self) -> Iterator[Any]:
        positions = self._positions
        for shard, (path, _) in enumerate(self._shards):
            begin, end = self._starts[shard], self._starts[shard + 1]
            low, high = np.searchsorted(positions, [begin, end])
            if low == high:
                continue
            wanted = positions[low:high] - begin
            yield from self._read(path, wanted)

    def _read(self, path: str, wanted: np.ndarray) -> Iterator[Any]:
        """Yields the parsed records at indices `wanted` of one shard."""
        next_wanted = 0
        try:
            for index, record in enumerate(_tfrecords(path)):
                if index == wanted[next_wanted]:
                    yield self._parse(record)
                    next_wanted += 1
                    if next_wanted == len(wanted):
                        return
        except OSError as error:
            raise UserFacingError(
                f"the cache in {self._where or path} changed while this run "
                f"read it ({error}); another run replaced it. Run "
                "again.") from None
        raise UserFacingError(
            f"the cache in {self._where or path} changed while this run read "
            f"it: {path} has fewer records than its manifest says. Run "
            "again.")

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self.subset(range(len(self))[item])
        index = range(len(self))[item]  # Raises IndexError out of range.
        position = int(self._positions[index])
        shard = bisect.bisect_right(self._starts, position) - 1
        return next(self._read(self._shards[shard][0],
                               np.array([position - self._starts[shard]])))

    def subset(self, indices: Sequence[int]) -> "StoredRecords":
        """The records at `indices` (increasing) of this sequence, unread."""
        chosen = self._positions[np.asarray(indices, dtype=np.int64)]
        return StoredRecords(self._shards, self._parse, chosen, self._where)

    def __repr__(self) -> str:
        return (f"StoredRecords({len(self)} records in "
                f"{self._where or len(self._shards)})")


class MappedPieces(_ListLike):
    """`function(piece)` for every piece of `pieces`, computed on access."""

    def __init__(self, pieces: Sequence[Any], function: Callable[[Any], Any]):
        self._pieces = pieces
        self._function = function

    def __len__(self) -> int:
        return len(self._pieces)

    def __iter__(self) -> Iterator[Any]:
        return map(self._function, self._pieces)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return MappedPieces(self._pieces[item], self._function)
        return self._function(self._pieces[item])

    def subset(self, indices: Sequence[int]) -> "MappedPieces":
        """The pieces at `indices` (increasing), mapped when read."""
        return MappedPieces(subset(self._pieces, indices), self._function)


def subset(pieces: Sequence[Any], indices: Sequence[int]) -> Sequence[Any]:
    """The pieces at `indices` (increasing): unread where `pieces` is a
    lazy sequence, a list otherwise."""
    if isinstance(pieces, (StoredRecords, MappedPieces)):
        return pieces.subset(indices)
    return [pieces[i] for i in indices]


def first(pieces: Sequence[Any], count: int) -> List[Any]:
    """The first `count` pieces, reading no more than those."""
    return list(itertools.islice(pieces, count))
