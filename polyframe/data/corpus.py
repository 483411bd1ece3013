"""What every data source returns: NoteSequences split by piece.

A source reads music from somewhere (a bundled corpus, a TFRecord, a folder),
keeps what it can use and says why it dropped the rest. Voices are stored in
`NoteSequence.notes[].instrument` as 0..num_voices-1, highest voice first
(soprano = 0), so encoders never have to guess which note belongs to whom.

A source that does not ship its own split splits its pieces with
`split_by_hash`, and every source logs its splits and skipped pieces with
`split_sizes` and `log_skipped`.
"""

import dataclasses
import hashlib
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence, Sized,
                    Tuple)

from absl import logging
from note_seq.protobuf import music_pb2

from polyframe.errors import UserFacingError

SPLITS = ("train", "valid", "test")


class UnusableSequenceError(ValueError):
    """A piece that cannot be used; the message is the reason, for the log."""


@dataclasses.dataclass
class Corpus:
    """NoteSequences by split, plus the pieces that were skipped.

    Attributes:
        train, valid, test: The pieces of each split, voices in `instrument`:
            a list, or a sequence that reads them from a cache as they are
            iterated over (`polyframe.data.lazy_pieces`).
        skipped: `(piece id, reason)` for every piece that was dropped.
        notes_dropped: Counts of notes dropped inside kept pieces, by reason
            (e.g. zero-length grace notes).
    """

    train: Sequence[music_pb2.NoteSequence]
    valid: Sequence[music_pb2.NoteSequence]
    test: Sequence[music_pb2.NoteSequence]
    skipped: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    notes_dropped: Dict[str, int] = dataclasses.field(default_factory=dict)

    def split(self, name: str) -> Sequence[music_pb2.NoteSequence]:
        """Returns the pieces of split `name` ("train", "valid" or "test")."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)


@dataclasses.dataclass(frozen=True)
class SplitFractions:
    """Fractions of pieces in valid and test; train gets the rest."""

    valid: float = 0.1
    test: float = 0.1

    def __post_init__(self):
        if self.valid < 0 or self.test < 0 or self.valid + self.test >= 1:
            raise UserFacingError(
                f"split fractions valid={self.valid}, test={self.test} must be "
                "non-negative and leave something for training (sum < 1).")


def split_of(piece_id: str, fractions: SplitFractions) -> str:
    """Assigns a piece to a split by a stable hash of its id.

    The same id lands in the same split on every machine and Python version,
    whatever else is in the corpus, so adding pieces never moves old ones.

    Args:
        piece_id: A stable identifier, e.g. the file name "bwv66.6".
        fractions: Target fractions of valid and test.

    Returns:
        "train", "valid" or "test".
    """
    digest = hashlib.sha256(piece_id.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0**64
    if position < fractions.valid:
        return "valid"
    if position < fractions.valid + fractions.test:
        return "test"
    return "train"


def split_by_hash(pieces: Iterable[music_pb2.NoteSequence],
                  fractions: SplitFractions
                  ) -> Dict[str, List[music_pb2.NoteSequence]]:
    """The pieces by split (`split_of` their ids), in their given order."""
    pieces = list(pieces)
    return {name: [pieces[i] for i in chosen] for name, chosen in
            split_positions([p.id for p in pieces], fractions).items()}


def split_positions(ids: Iterable[str], fractions: SplitFractions
                    ) -> Dict[str, List[int]]:
    """Where the pieces of each split are among `ids` (`split_of` each id),
    for sources that split pieces they have not read yet."""
    positions: Dict[str, List[int]] = {name: [] for name in SPLITS}
    for position, piece_id in enumerate(ids):
        positions[split_of(piece_id, fractions)].append(position)
    return positions


def split_sizes(by_split: Mapping[str, Sized]) -> str:
    """"train 314, valid 40, test 51": the size of every split, for logs."""
    return ", ".join(f"{name} {len(by_split[name])}" for name in SPLITS)


def log_skipped(skipped: Sequence[Tuple[str, str]],
                limit: Optional[int] = None,
                listed_in: Optional[str] = None) -> None:
    """Logs "Skipped <piece>: <reason>" for the first `limit` (None: all)
    skipped pieces, and where the rest are listed."""
    shown = skipped if limit is None else skipped[:limit]
    for piece_id, reason in shown:
        logging.info("Skipped %s: %s", piece_id, reason)
    if len(skipped) > len(shown):
        logging.info("... and %d more skipped files, listed in %s.",
                     len(skipped) - len(shown), listed_in)
