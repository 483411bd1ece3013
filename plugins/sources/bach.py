"""The Bach chorales that ship with music21, as 4-voice NoteSequences.

The first `load` parses every `.mxl` file of the corpus folder in parallel
worker processes (see `polyframe.data.ingest`), keeps the soprano, alto,
tenor and bass (the "strict" rule of `polyframe.data.voice_rules`) and caches the cleaned pieces
under `<cache_dir>/corpora/bach-v2/`. Later loads read only the cache.
Pieces are split into train/valid/test at load time by a hash of their id
(the file name without extension, e.g. "bwv66.6"), so changing the split
fractions never requires parsing again.
"""

import collections
import glob
import importlib.util
import json
import os
from typing import Dict, List, Optional, Tuple

from absl import logging
from note_seq import musicxml_reader
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.data import cache, ingest
from polyframe.data.corpus import (Corpus, log_skipped, split_by_hash,
                                   split_sizes)
from polyframe.data.directory_source import check_path, check_split_fractions
from polyframe.data.voice_rules import VoicedPiece, VoiceRule
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES

CACHE_NAME = "bach-v2"
REPORT_NAME = "report.json"
# The chorales are voice separated: a piece whose voices are not is skipped.
STRICT_VOICES = VoiceRule("strict")
COLLECTION_NAME = "bach"


@SOURCES.register("bach")
class BachChorales:
    """Bach's chorales, soprano/alto/tenor/bass in instruments 0..3.

    Args:
        cache_dir: Where to cache parsed pieces. None: the environment
            variable POLYFRAME_CACHE_DIR, else the user's cache folder.
        valid_fraction: Fraction of pieces in the validation split.
        test_fraction: Fraction of pieces in the test split.
        corpus_dir: Folder of `.mxl` chorales. None: music21's bundled corpus.
        num_workers: Processes that parse chorales when the cache is built;
            None: one per CPU core (see `ingest.resolve_num_workers`).

    Raises:
        checks.ConfigurationError: if an argument has the wrong type or lies
            out of range, e.g. fractions that leave nothing for training. A
            missing `corpus_dir` is reported by `load`.
        UserFacingError: if `corpus_dir` is None and music21 is not
            installed.

    Attributes:
        defines_splits: True: the split is part of the corpus (every
            published number depends on it), so `--mode=evaluate` scores its
            valid and test splits.
    """

    defines_splits = True

    def __init__(self,
                 cache_dir: Optional[str] = None,
                 valid_fraction: float = 0.1,
                 test_fraction: float = 0.1,
                 corpus_dir: Optional[str] = None,
                 num_workers: Optional[int] = None):
        owner = "sources.bach"
        cache_dir = check_path(owner, "cache_dir", cache_dir, optional=True)
        fractions = check_split_fractions(owner, valid_fraction, test_fraction)
        corpus_dir = check_path(owner, "corpus_dir", corpus_dir, optional=True)
        num_workers = checks.integer(owner, "num_workers", num_workers,
                                     minimum=1, optional=True)
        self.fractions = fractions
        self.num_workers = num_workers
        self.cache_dir = cache.resolve_cache_dir(cache_dir)
        self.corpus_dir = os.path.abspath(
            os.path.expanduser(corpus_dir or _music21_corpus_dir()))

    @property
    def cache_path(self) -> str:
        """The folder holding this corpus's cache."""
        return os.path.join(self.cache_dir, "corpora", CACHE_NAME)

    def load(self) -> Corpus:
        """Returns the chorales by split, parsing them only if not cached.

        Raises:
            UserFacingError: if the corpus must be parsed and its folder does
                not exist or holds no `.mxl` files.
        """
        key = self._cache_key()
        cached = cache.read_sharded(self.cache_path, key)
        if cached is not None:
            logging.info("Read %d Bach chorales from the cache in %s.",
                         len(cached.sequences), self.cache_path)
            report = json.loads(cached.files[REPORT_NAME])
            sequences = list(cached.sequences)  # 405 pieces: kept in memory.
            skipped = [tuple(item) for item in report["skipped"]]
            notes_dropped = report["notes_dropped"]
        else:
            sequences, skipped, notes_dropped = self._parse_corpus()
            with cache.ShardedCacheWriter(self.cache_path) as writer:
                for sequence in sequences:
                    writer.add(sequence.SerializeToString())
                writer.add_file(REPORT_NAME, json.dumps(
                    {"skipped": skipped, "notes_dropped": notes_dropped},
                    indent=1, sort_keys=True).encode("utf-8"))
                writer.commit(key)
            logging.info("Cached %d Bach chorales in %s.", len(sequences),
                         self.cache_path)
        return self._split(sequences, skipped, notes_dropped)

    def _cache_key(self):
        # The corpus folder and both packages decide what parsing yields;
        # none of them needs the corpus itself, so cached loads never touch it.
        return {
            "corpus_dir": self.corpus_dir,
            "music21": ingest.package_versions("music21")["music21"],
            "note_seq": ingest.package_versions("note-seq")["note-seq"],
        }

    def _parse_corpus(
        self
    ) -> Tuple[List[music_pb2.NoteSequence], List[Tuple[str, str]], Dict[
            str, int]]:
        """Parses and cleans every chorale; returns kept, skipped, dropped."""
        if not os.path.isdir(self.corpus_dir):
            raise UserFacingError(
                f"the Bach corpus folder {self.corpus_dir} does not exist; "
                "pass an existing folder of .mxl chorales as corpus_dir, or "
                "leave corpus_dir unset to use music21's bundled chorales.")
        paths = sorted(glob.glob(os.path.join(self.corpus_dir, "*.mxl")))
        if not paths:
            raise UserFacingError(
                f"the Bach corpus folder {self.corpus_dir} holds no .mxl "
                "files; point corpus_dir at a folder of MusicXML chorales.")
        logging.info("Parsing %d chorales in %s; this happens once.",
                     len(paths), self.corpus_dir)
        sequences, skipped = [], []
        notes_dropped = collections.Counter()
        names = [os.path.basename(path) for path in paths]
        for result in ingest.parse_files(
                _parse_chorale, self.corpus_dir, names, self.num_workers,
                COLLECTION_NAME, "Parsing Bach chorales"):
            piece_id = result.path[:-len(".mxl")]
            if result.record is None:
                skipped.append((piece_id, result.message))
                continue
            voices = music_pb2.NoteSequence.FromString(result.record)
            voices.id = piece_id
            voices.filename = piece_id
            sequences.append(voices)
            notes_dropped.update(result.notes_dropped)
        return sequences, skipped, dict(notes_dropped)

    def _split(self, sequences: List[music_pb2.NoteSequence],
               skipped: List[Tuple[str, str]],
               notes_dropped: Dict[str, int]) -> Corpus:
        """Splits by piece id and logs what was kept and what was not."""
        by_split = split_by_hash(sequences, self.fractions)
        dropped = ", ".join(f"{count} {reason}"
                            for reason, count in sorted(notes_dropped.items()))
        logging.info("Bach chorales: %d kept (%s), %d skipped; notes dropped: "
                     "%s.", len(sequences), split_sizes(by_split),
                     len(skipped), dropped or "none")
        log_skipped(skipped)
        return Corpus(**by_split, skipped=list(skipped),
                      notes_dropped=dict(notes_dropped))


def _music21_corpus_dir() -> str:
    """Returns music21's chorale folder without importing music21 (slow)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise UserFacingError(
            "music21 is not installed, and it provides the default Bach "
            "chorales; install it (pip install music21) or pass corpus_dir.")
    return os.path.join(spec.submodule_search_locations[0], "corpus", "bach")


def _parse_chorale(path: str, data: bytes) -> VoicedPiece:
    """Parses one chorale and keeps its soprano, alto, tenor and bass.

    Runs in parsing workers (see `polyframe.data.ingest`), which skip the
    chorale, with the reason, if the reader or the voice rule rejects it.
    """
    del data  # The reader opens the file by name (it decides how to unzip).
    score = musicxml_reader.musicxml_file_to_sequence_proto(path)
    return STRICT_VOICES.apply(score)
