"""NoteSequences from TFRecord files, Magenta's corpus format.

`path` is one file, a glob of shards ("data/train-*.tfrecord"), or a list of
files and globs. Each piece goes through the "strict" voice rule
(`polyframe.data.voice_rules`): parts named Soprano, Alto, Tenor and
Bass are picked by name, and sequences without part names whose notes are
already voice-separated (instruments, or parts, numbered 0..num_voices-1)
are taken as they are. Pieces are split by a hash of `sequence.id`, else
`sequence.filename`, else "<shard file name>:<record index>"; whichever is
used becomes the piece's id. The pieces kept are cached (keyed by the files'
contents) and streamed from the cache, like a folder's.
"""

import collections
import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

from absl import logging
import tensorflow as tf

from polyframe import checks
from polyframe.data import cache, lazy_pieces
from polyframe.data.corpus import (Corpus, UnusableSequenceError,
                                   log_skipped, split_positions, split_sizes)
from polyframe.data.directory_source import check_path, check_split_fractions
from polyframe.data.voice_rules import VoiceRule
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES


# Bump when reading or the voice rule changes what a record yields.
CACHE_VERSION = 1
PIECES_NAME = "pieces.json"
REPORT_NAME = "report.json"


def _sha256(path: str) -> str:
    """The SHA-256 of a file (local or remote, through `tf.io.gfile`)."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

        The pieces kept (voices applied) are written once into a cache
        keyed by the files' contents, and read from it as they are used, so
        a corpus larger than memory can be trained on.

        Raises:
            UserFacingError: if no file matches `path`, or a file is not a
                TFRecord of NoteSequences.
        """
        files = self._files()
        key = {"source": "note_sequence_tfrecord", "version": CACHE_VERSION,
               "num_voices": self.num_voices,
               "files": {file: _sha256(file) for file in files}}
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode(
            "utf-8")).hexdigest()[:16]
        directory = os.path.join(cache.resolve_cache_dir(), "corpora",
                                 f"note_sequence_tfrecord-{name}")
        cached = cache.read_sharded(directory, key) or self._build(
            files, directory, key)
        ids = json.loads(cached.files[PIECES_NAME])
        report = json.loads(cached.files[REPORT_NAME])
        skipped = [tuple(item) for item in report["skipped"]]
        by_split = {split: lazy_pieces.subset(cached.records, positions)
                    for split, positions in split_positions(
                        ids, self.fractions).items()}
        logging.info("%s: %d pieces kept (%s) from %d file(s), %d skipped.",
                     self.path, len(ids), split_sizes(by_split), len(files),
                     len(skipped))
        log_skipped(skipped)
        return Corpus(**by_split, skipped=skipped,
                      notes_dropped=dict(report["notes_dropped"]))

    def _build(self, files: List[str], directory: str,
               key: Dict[str, Any]) -> cache.ShardedCache:
        """Reads every file, applies the voice rule, and caches the pieces
        kept, one at a time."""
        ids, skipped = [], []
        notes_dropped = collections.Counter()
        with cache.ShardedCacheWriter(directory) as writer:
            for file in files:
                name = os.path.basename(file)
                for index, sequence in enumerate(
                        cache.read_note_sequences(file)):
                    piece_id = (sequence.id or sequence.filename or
                                f"{name}:{index}")
                    try:
                        piece = self._voices.apply(sequence)
                    except UnusableSequenceError as e:
                        skipped.append((piece_id, str(e)))
                        continue
                    piece.sequence.id = piece_id
                    notes_dropped.update(piece.notes_dropped)
                    writer.add(piece.sequence.SerializeToString())
                    ids.append(piece_id)
            writer.add_file(PIECES_NAME, json.dumps(ids).encode("utf-8"))
            writer.add_file(REPORT_NAME, json.dumps(
                {"skipped": skipped, "notes_dropped": dict(notes_dropped)},
                indent=1, sort_keys=True).encode("utf-8"))
            return writer.commit(key)

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
