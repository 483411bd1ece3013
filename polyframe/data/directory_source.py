"""What every folder-of-files source shares: options, caching, splitting.

A subclass names its format and extensions and supplies a parse function
(see `polyframe.data.ingest`); this base finds the files (recursively,
extensions in any case, hidden files and folders left out), ingests them in
parallel into a cache under `<cache_dir>/corpora/`, splits the pieces and
logs what was kept and what was not (each skipped file with its reason is in
the cache's `report.json`, whose path is logged).

Limits. Folders gathered from anywhere hold broken and hostile files, so
each file is parsed within limits (`ingest.FileLimits`): files larger than
`max_file_mb` are not read, and a parse running longer than
`parse_timeout_s` is stopped. Either skips just that file, with its reason.

Splits. A piece's id is its path relative to the folder, e.g.
"bach/bwv66.6.mid". When every kept file lies under a top-level folder named
train, valid (or validation) or test, the corpus ships its own split and
those folders are the split. Otherwise pieces are split by a hash of their
id (`polyframe.data.corpus.split_of`), so a piece stays in its split when
files are added or removed.
"""

import abc
import collections.abc
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.data import cache, ingest, lazy_pieces
from polyframe.data.corpus import (SPLITS, Corpus, SplitFractions,
                                   log_skipped, split_positions, split_sizes)
from polyframe.data.voice_rules import RULES, VoiceRule
from polyframe.errors import UserFacingError

FOLDER_SPLITS = {"train": "train", "valid": "valid", "validation": "valid",
                 "test": "test"}
# Skipped files named one by one in the log; the report has them all.
LOGGED_SKIPS = 20
BYTES_PER_MB = 1 << 20


class DirectorySource(abc.ABC):
    """Pieces from every file of one format under a folder (recursively).

    Args:
        path: The folder.
        voices: How instruments or parts become voices: "auto", "satb",
            "top_n", "split" or "strict" (see
            `polyframe.data.voice_rules`).
        num_voices: Voices per piece.
        voice_names: Names of the voices, highest first, matched against
            part names; None: soprano, alto, tenor, bass for 4 voices.
        min_pitch: Lowest MIDI pitch kept; lower notes are dropped. Keep it
            equal to the encoder's.
        max_pitch: Highest MIDI pitch kept.
        valid_fraction: Fraction of pieces in the validation split.
        test_fraction: Fraction of pieces in the test split.
        num_workers: Processes that parse files; None: one per CPU core,
            fewer for small folders (see `ingest.resolve_num_workers`).
        shard_size: Most pieces per cached TFRecord shard.
        cache_dir: Where to cache parsed pieces. None: the environment
            variable POLYFRAME_CACHE_DIR, else the user's cache folder.
        parse_timeout_s: Longest one file's parse may run, in seconds; a
            slower file is skipped ("took too long to parse"). None: no
            limit. Real scores parse in well under a second, hostile files
            can take hours.
        max_file_mb: Largest file read, in MiB (for `.mxl`, also the
            unpacked size); larger ones are skipped ("file too large").
            None: no limit. Parsing holds several times a file's size in
            memory, per worker.

    Raises:
        checks.ConfigurationError: if an option has the wrong type or lies
            out of range (the message names `sources.<name>.<option>`).
        UserFacingError: if the voice names do not fit the voices. A missing
            `path` is reported by `load`, as every problem with the folder is.
    """

    name = ""  # The registered name, e.g. "midi_dir".
    format_name = ""  # For messages, e.g. "MIDI".
    extensions: Tuple[str, ...] = ()

    def __init__(self,
                 path: Optional[str] = None,
                 voices: str = "auto",
                 num_voices: int = 4,
                 voice_names: Optional[Sequence[str]] = None,
                 min_pitch: int = 21,
                 max_pitch: int = 108,
                 valid_fraction: float = 0.1,
                 test_fraction: float = 0.1,
                 num_workers: Optional[int] = None,
                 shard_size: int = 1000,
                 cache_dir: Optional[str] = None,
                 parse_timeout_s: Optional[float] = 60.0,
                 max_file_mb: Optional[float] = 64.0):
        owner = f"sources.{self.name}"
        path = check_path(owner, "path", path, optional=True)
        checks.choice(owner, "voices", voices, RULES)
        num_voices = checks.integer(owner, "num_voices", num_voices, minimum=1)
        voice_names = check_names(owner, "voice_names", voice_names)
        min_pitch = checks.integer(owner, "min_pitch", min_pitch, minimum=0,
                                   maximum=127)
        max_pitch = checks.integer(owner, "max_pitch", max_pitch,
                                   minimum=min_pitch, maximum=127)
        fractions = check_split_fractions(owner, valid_fraction, test_fraction)
        num_workers = checks.integer(owner, "num_workers", num_workers,
                                     minimum=1, optional=True)
        shard_size = checks.integer(owner, "shard_size", shard_size, minimum=1)
        cache_dir = check_path(owner, "cache_dir", cache_dir, optional=True)
        parse_timeout_s = checks.real(owner, "parse_timeout_s",
                                      parse_timeout_s, above=0, optional=True)
        max_file_mb = checks.real(owner, "max_file_mb", max_file_mb, above=0,
                                  optional=True)
        self.path = path
        self.rule = VoiceRule(voices, num_voices, voice_names or None,
                              min_pitch, max_pitch)
        self.fractions = fractions
        self.num_workers = num_workers
        self.shard_size = shard_size
        self.cache_dir = os.path.abspath(cache.resolve_cache_dir(cache_dir))
        self.parse_timeout_s = parse_timeout_s
        self.max_file_mb = max_file_mb
        self.limits = ingest.FileLimits(
            seconds=parse_timeout_s,
            max_bytes=None if max_file_mb is None else
            max(1, int(max_file_mb * BYTES_PER_MB)))

    @abc.abstractmethod
    def parser(self) -> ingest.ParseFunction:
        """Returns the picklable function that parses one file."""

    @abc.abstractmethod
    def versions(self) -> Dict[str, str]:
        """Returns the versions of the packages that parse the files."""

    def settings(self) -> Dict[str, Any]:
        """Returns what changes the parsed pieces, for the cache key."""
        return {"voices": self.rule.settings(),
                "extensions": list(self.extensions),
                "limits": {"parse_timeout_s": self.parse_timeout_s,
                           "max_file_mb": self.max_file_mb}}

    @property
    def root(self) -> str:
        """The folder, absolute.

        Raises:
            UserFacingError: if no folder was given.
        """
        if not self.path:
            raise UserFacingError(
                f"{self.name} needs the folder of {self.format_name} files: "
                f"set {self.name}.path, or give --gin_param=\"DATA_PATH="
                f"'/my/folder'\" with gin_configs/sources/{self.name}.gin.")
        return os.path.abspath(os.path.expanduser(str(self.path)))

    @property
    def cache_path(self) -> str:
        """The folder holding this corpus's cache and `report.json`."""
        return ingest.cache_path(self.cache_dir, self.name, self.root,
                                 self.settings())

    @property
    def report_path(self) -> str:
        """Where the report of the last ingestion is."""
        return os.path.join(self.cache_path, ingest.REPORT_NAME)

    def load(self) -> Corpus:
        """Returns the pieces by split, parsing only files not cached.

        Raises:
            UserFacingError: if no folder was given, or it is missing, holds
                no file of this format, or none of its files is usable.
        """
        root = self.root
        paths = ingest.find_files(root, self.extensions)
        if not paths:
            raise UserFacingError(
                f"{root} holds no {self.format_name} files (searched "
                f"recursively for {', '.join(self.extensions)}); point "
                f"{self.name}.path at a folder of {self.format_name} files.")
        ingested = ingest.ingest(
            self.parser(), self.name, root, paths, self.settings(),
            self.versions(), self.cache_path, self.num_workers,
            self.shard_size, self.limits)
        report = ingested.report
        if not ingested.sequences:
            raise UserFacingError(
                f"{root} holds no usable music: all {len(paths)} "
                f"{self.format_name} files were skipped "
                f"({ingest.summarize(report['skipped_by_reason'])}); "
                f"{ingested.report_path} names each file and its reason.")
        positions, how = self._split(ingested.ids)
        by_split = {name: lazy_pieces.subset(ingested.sequences, chosen)
                    for name, chosen in positions.items()}
        self._log(root, ingested, by_split, how)
        return Corpus(**by_split, skipped=ingest.skipped_pairs(report),
                      notes_dropped=dict(report["notes_dropped"]))

    def _split(self, ids: Sequence[str]
               ) -> Tuple[Dict[str, List[int]], str]:
        """Returns the positions of the pieces of every split, and how they
        were split."""
        folders = [piece_id.split("/")[0].lower() if "/" in piece_id else ""
                   for piece_id in ids]
        if all(folder in FOLDER_SPLITS for folder in folders):
            return ({name: [i for i, folder in enumerate(folders)
                            if FOLDER_SPLITS[folder] == name]
                     for name in SPLITS}, "by its train/valid/test folders")
        return (split_positions(ids, self.fractions),
                "by a hash of each path")

    def _log(self, root: str, ingested: ingest.Ingested,
             by_split: Dict[str, Sequence[music_pb2.NoteSequence]],
             how: str) -> None:
        report = ingested.report
        sizes = split_sizes(by_split)
        obtained = ("read from the cache" if ingested.from_cache else
                    f"parsed with {ingested.num_workers} worker(s)")
        logging.info(
            "%s: kept %d of %d files in %s (%s in %.1f s); split %s: %s. "
            "Skipped %d: %s. Notes dropped: %s; notes shortened: %s. "
            "Report: %s", self.name, report["num_kept"], report["num_files"],
            root, obtained, ingested.seconds, how, sizes,
            report["num_skipped"],
            ingest.summarize(report["skipped_by_reason"]),
            ingest.summarize(report["notes_dropped"]),
            ingest.summarize(report["notes_shortened"]),
            ingested.report_path)
        log_skipped(ingest.skipped_pairs(report), LOGGED_SKIPS,
                    ingested.report_path)
        missing = [name for name in SPLITS if not by_split[name]]
        if missing:
            logging.warning("%s: the %s split(s) have no pieces.", self.name,
                            " and ".join(missing))


def check_path(owner: str, name: str, value: Any, *,
               optional: bool = False) -> Optional[str]:
    """Checks a path option: a non-empty string (or `os.PathLike`).

    Whether the path exists is left to the code that reads it, which says
    so with the path. Returns the path as a string (None stays None where
    `optional`).

    Raises:
        checks.ConfigurationError: naming `owner.name` and the value.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return checks.text(owner, name, value, optional=optional)


def check_names(owner: str, name: str,
                value: Any) -> Optional[Tuple[str, ...]]:
    """Checks a list (or tuple) of non-empty strings, or None.

    Returns the names as a tuple, or None. A single string is refused: it
    would be read as one name per character.

    Raises:
        checks.ConfigurationError: naming `owner.name` (or the bad item, as
            `owner.name[index]`) and the value.
    """
    if value is None:
        return None
    if (isinstance(value, (str, bytes)) or
            not isinstance(value, collections.abc.Sequence)):
        raise checks.ConfigurationError(
            f"{owner}.{name} must be a list of non-empty strings or None, "
            f"got {value!r}.")
    return tuple(checks.text(owner, f"{name}[{index}]", item)
                 for index, item in enumerate(value))


def check_split_fractions(owner: str, valid_fraction: Any,
                          test_fraction: Any) -> SplitFractions:
    """Checks the fractions of pieces in the valid and test splits.

    Each must be a finite number in [0, 1), and together they must leave
    pieces for training (sum < 1).

    Returns:
        The checked fractions.

    Raises:
        checks.ConfigurationError: naming `owner.valid_fraction` or
            `owner.test_fraction` and the value.
    """
    valid = checks.real(owner, "valid_fraction", valid_fraction, minimum=0,
                        below=1)
    test = checks.real(owner, "test_fraction", test_fraction, minimum=0,
                       below=1)
    if valid + test >= 1:
        raise checks.ConfigurationError(
            f"{owner}.test_fraction must be < 1 - valid_fraction "
            f"({valid_fraction!r}), so that training keeps some pieces, got "
            f"{test_fraction!r}.")
    return SplitFractions(valid, test)
