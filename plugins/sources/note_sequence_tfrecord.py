"""NoteSequences from TFRecord files, Magenta's corpus format.

`path` is one file, a glob of shards ("data/train-*.tfrecord"), or a list of
files and globs. Each piece goes through
`polyframe.data.voices.select_voices`: parts named Soprano, Alto, Tenor and
Bass are picked by name, and sequences without part names whose notes are
already voice-separated (instruments, or parts, numbered 0..num_voices-1)
are taken as they are. Pieces are split by a hash of `sequence.id`, else
`sequence.filename`, else "<shard file name>:<record index>"; whichever is
used becomes the piece's id.
"""

import collections
import os
from typing import List, Sequence, Union

from absl import logging
import tensorflow as tf

from polyframe.data import cache
from polyframe.data.corpus import (SPLITS, Corpus, SplitFractions,
                                   UnusableSequenceError, split_of)
from polyframe.data.voices import select_voices
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES


@SOURCES.register("note_sequence_tfrecord")
class NoteSequenceTFRecord:
    """Pieces read from NoteSequence TFRecords, voices in instruments.

    Args:
        path: A TFRecord file, a glob matching several, or a list of files
            and globs.
        valid_fraction: Fraction of pieces in the validation split.
        test_fraction: Fraction of pieces in the test split.
        num_voices: Voices per piece; pieces that do not have them are skipped.

    Raises:
        UserFacingError: if the fractions leave nothing for training.
    """

    def __init__(self,
                 path: Union[str, Sequence[str]],
                 valid_fraction: float = 0.1,
                 test_fraction: float = 0.1,
                 num_voices: int = 4):
        self.path = path
        self.fractions = SplitFractions(valid_fraction, test_fraction)
        self.num_voices = num_voices

    def load(self) -> Corpus:
        """Returns the pieces of every matching file, split by id.

        Raises:
            UserFacingError: if no file matches `path`, or a file is not a
                TFRecord of NoteSequences.
        """
        files = self._files()
        by_split = {name: [] for name in SPLITS}
        skipped = []
        notes_dropped = collections.Counter()
        for file in files:
            name = os.path.basename(file)
            for index, sequence in enumerate(cache.read_note_sequences(file)):
                piece_id = (sequence.id or sequence.filename or
                            f"{name}:{index}")
                try:
                    voices, dropped = select_voices(sequence, self.num_voices)
                except UnusableSequenceError as e:
                    skipped.append((piece_id, str(e)))
                    continue
                voices.id = piece_id
                notes_dropped.update(dropped)
                by_split[split_of(piece_id, self.fractions)].append(voices)

        sizes = ", ".join(f"{name} {len(by_split[name])}" for name in SPLITS)
        kept = sum(len(pieces) for pieces in by_split.values())
        logging.info("%s: %d pieces kept (%s) from %d file(s), %d skipped.",
                     self.path, kept, sizes, len(files), len(skipped))
        for piece_id, reason in skipped:
            logging.info("Skipped %s: %s", piece_id, reason)
        return Corpus(**by_split, skipped=skipped,
                      notes_dropped=dict(notes_dropped))

    def _files(self) -> List[str]:
        """Returns the files `path` names, sorted so ids are reproducible.

        Raises:
            UserFacingError: if `path` is empty, or a file or glob in it
                matches nothing.
        """
        patterns = [self.path] if isinstance(self.path, str) else list(
            self.path or [])
        if not any(patterns):
            raise UserFacingError(
                "note_sequence_tfrecord needs a path: a TFRecord file of "
                "NoteSequences, a glob of shards, or a list of them.")
        files = set()
        for pattern in patterns:
            try:
                matches = tf.io.gfile.glob(pattern)
            except tf.errors.OpError as e:
                raise UserFacingError(
                    f"cannot list NoteSequence TFRecords at {pattern}: "
                    f"{e.message}") from None
            matches = [f for f in matches if not tf.io.gfile.isdir(f)]
            if not matches:
                raise UserFacingError(
                    f"no NoteSequence TFRecord matches {pattern}; check the "
                    "path (a file, or a glob such as 'data/*.tfrecord').")
            files.update(matches)
        return sorted(files)
