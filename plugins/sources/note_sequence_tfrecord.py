"""NoteSequences from TFRecord files, Magenta's corpus format.

`path` is one file, a glob of shards ("data/train-*.tfrecord"), or a list of
files and globs. Each piece goes through the "strict" voice rule
(`polyframe.data.voice_rules`): parts named Soprano, Alto, Tenor and
Bass are picked by name, and sequences without part names whose notes are
already voice-separated (instruments, or parts, numbered 0..num_voices-1)
are taken as they are. Pieces are split by a hash of `sequence.id`, else
`sequence.filename`, else "<shard file name>:<record index>"; whichever is
used becomes the piece's id.
"""

import collections
import os
from typing import Any, List, Optional, Sequence, Union

from absl import logging
import tensorflow as tf

from polyframe import checks
from polyframe.data import cache
from polyframe.data.corpus import (Corpus, UnusableSequenceError,
                                   log_skipped, split_by_hash, split_sizes)
from polyframe.data.directory_source import check_path, check_split_fractions
from polyframe.data.voice_rules import VoiceRule
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES


@SOURCES.register("note_sequence_tfrecord")
class NoteSequenceTFRecord:
    """Pieces read from NoteSequence TFRecords, voices in instruments.

    Args:
        path: A TFRecord file, a glob matching several, or a non-empty list
            of files and globs. None (the gin config's default) is reported
            by `load`, as files that do not exist are.
        valid_fraction: Fraction of pieces in the validation split.
        test_fraction: Fraction of pieces in the test split.
        num_voices: Voices per piece; pieces that do not have them are skipped.

    Raises:
        checks.ConfigurationError: if an argument has the wrong type or lies
            out of range, e.g. fractions that leave nothing for training.
    """

    def __init__(self,
                 path: Optional[Union[str, Sequence[str]]],
                 valid_fraction: float = 0.1,
                 test_fraction: float = 0.1,
                 num_voices: int = 4):
        owner = "sources.note_sequence_tfrecord"
        path = _check_patterns(owner, path)
        fractions = check_split_fractions(owner, valid_fraction, test_fraction)
        num_voices = checks.integer(owner, "num_voices", num_voices, minimum=1)
        self.path = path
        self.fractions = fractions
        self.num_voices = num_voices
        self._voices = VoiceRule("strict", num_voices)

    def load(self) -> Corpus:
        """Returns the pieces of every matching file, split by id.

        Raises:
            UserFacingError: if no file matches `path`, or a file is not a
                TFRecord of NoteSequences.
        """
        files = self._files()
        kept, skipped = [], []
        notes_dropped = collections.Counter()
        for file in files:
            name = os.path.basename(file)
            for index, sequence in enumerate(cache.read_note_sequences(file)):
                piece_id = (sequence.id or sequence.filename or
                            f"{name}:{index}")
                try:
                    piece = self._voices.apply(sequence)
                except UnusableSequenceError as e:
                    skipped.append((piece_id, str(e)))
                    continue
                piece.sequence.id = piece_id
                notes_dropped.update(piece.notes_dropped)
                kept.append(piece.sequence)
        by_split = split_by_hash(kept, self.fractions)
        logging.info("%s: %d pieces kept (%s) from %d file(s), %d skipped.",
                     self.path, len(kept), split_sizes(by_split), len(files),
                     len(skipped))
        log_skipped(skipped)
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


def _check_patterns(owner: str,
                    path: Any) -> Optional[Union[str, Sequence[str]]]:
    """Checks `path`: None, a non-empty string, or a non-empty list of them.

    Returns:
        None, the string, or the list (or tuple) of files and globs.

    Raises:
        checks.ConfigurationError: naming `owner.path` (or the bad item, as
            `owner.path[index]`) and the value.
    """
    if not isinstance(path, (list, tuple)):
        return check_path(owner, "path", path, optional=True)
    if not path:
        raise checks.ConfigurationError(
            f"{owner}.path must be a non-empty string, a non-empty list of "
            f"them, or None, got {path!r}.")
    patterns = [check_path(owner, f"path[{index}]", pattern)
                for index, pattern in enumerate(path)]
    return tuple(patterns) if isinstance(path, tuple) else patterns
