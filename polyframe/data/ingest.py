"""Reads folders of music files, in parallel, into sharded corpus caches.

`ingest` turns the files of a folder into a cached corpus:

1. Fingerprint. Every file's bytes are hashed (SHA-256). The cache key is
   the source's name and settings, the parser versions, and the hash of
   every file by its path. Content hashes rather than sizes and modification
   times: an edit that keeps both (a tool that restores times, a copy with
   `cp -p`, a coarse-grained file system) is still noticed, and touching
   files, or restoring them from a backup, does not force a rebuild. Reading
   the bytes costs little next to parsing them (see
   `benchmarks/ingest_throughput.py`).
2. If a complete cache has that key, it is read and nothing is parsed.
3. Otherwise the files are parsed in worker processes (`parse_files`), in
   chunks of a few files, with a bounded number of chunks in flight, and each
   result is written to the current TFRecord shard as soon as it arrives, in
   file order: memory holds a few chunks, not the corpus, and the cache does
   not depend on the number of workers. Each file is parsed within limits
   (`FileLimits`): a file larger than the size limit is not read, and a
   parse that runs past the time limit is stopped; either skips just that
   file, with its reason.
4. `report.json` and the manifest complete the cache, which is then moved
   into place atomically (`cache.ShardedCacheWriter`).

The report, `report.json` in the cache directory, says what happened to
every file (paths are relative to the root, '/'-separated; reasons are the
phrases of `polyframe.data.skip_reasons`, note reasons those of the voice
rules):

    {"source": "midi_dir", "root": "/data/midi", "settings": {...},
     "num_files": 1000, "num_kept": 950, "num_skipped": 50,
     "skipped_by_reason": {"not a MIDI file": 30, "only drum notes": 20},
     "skipped": [{"path": "rock/x.mid", "reason": "only drum notes",
                  "detail": "all 812 note(s) are drum notes ..."}, ...],
     "num_notes_kept": 401234,
     "notes_dropped": {"drum note": 5230, "zero-length note": 3},
     "notes_shortened": {"cut short where the next note ...": 17},
     "notes_dropped_by_file": {"pop/y.mid": {"drum note": 410}, ...}}

`notes_dropped` and `notes_shortened` count inside kept files only.

A parse function takes a file's path and bytes and returns a
`voice_rules.VoicedPiece`; it raises `UnusableSequenceError` (best a
`skip_reasons.UnusableFileError`, which carries a reason) for a file that
cannot be used. Any other exception it raises also skips just that file, as
a parser error. It runs in worker processes, so it must be picklable: a
module-level function, or a `functools.partial` of one. `parse_file` is what
runs for every file, in the workers or, with one worker, in this process.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import math
import multiprocessing
import os
import signal
import threading
import time
import warnings
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

from absl import logging
from tqdm import tqdm

from polyframe.data import cache, skip_reasons
from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.lazy_pieces import StoredRecords
from polyframe.data.voice_rules import VoicedPiece
from polyframe.errors import UserFacingError

# Bump when parsing or the voice rules change what a file yields, or the
# cache's layout changes, so that caches built by older code are not trusted.
INGEST_VERSION = 3
REPORT_NAME = "report.json"
# The ids of the cached pieces, in record order, so a corpus is split
# without reading its pieces.
PIECES_NAME = "pieces.json"
# Chunks of at most this many files go to a worker at once: enough to make
# the cost of sending them negligible, few enough to balance the load.
MAX_CHUNK_SIZE = 16
# Chunks in flight per worker: keeps workers busy while results are written,
# and bounds how many parsed pieces wait in memory.
CHUNKS_IN_FLIGHT_PER_WORKER = 2
# Starting a worker costs about a second (it imports note_seq), as much as
# parsing a few hundred small files; by default each worker gets at least
# this many files.
MIN_FILES_PER_WORKER = 200

ParseFunction = Callable[[str, bytes], VoicedPiece]


@dataclasses.dataclass(frozen=True)
class FileLimits:
    """What parsing one file may cost; a file beyond a limit is skipped.

    Hostile or broken files can make parsers run for hours or fill memory;
    the limits turn them into skipped files instead of a stuck or killed
    ingestion.

    Attributes:
        seconds: Longest a file's parse may run, wall-clock; past it the
            parse is stopped and the file skipped as `skip_reasons.TOO_SLOW`.
            None: no limit. A SIGALRM timer enforces it, so only where the
            parsing thread is its process's main thread (always in worker
            processes; with one worker, when ingestion runs in the main
            thread) and on POSIX systems; it interrupts Python code, not a
            single long call into C.
        max_bytes: Largest file parsed; larger ones are skipped as
            `skip_reasons.TOO_LARGE` without being read into memory. None:
            no limit. Parsers of compressed formats may apply it to the
            unpacked size too.
    """

    seconds: Optional[float] = None
    max_bytes: Optional[int] = None


class _OutOfTime(BaseException):
    """Raised inside a parse that ran past its time limit.

    Not an Exception: parsers turn the Exceptions of malformed files into
    reasons of their own (`except Exception`), and must let this through.
    """


@dataclasses.dataclass
class FileResult:
    """What parsing one file gave.

    Attributes:
        path: The file's path relative to the root, '/'-separated; also the
            piece's id.
        sha256: Hex SHA-256 of the bytes parsed ("" if unreadable).
        record: The serialized NoteSequence, or None if the file is skipped.
        reason: Why it was skipped (a `skip_reasons` reason), else "".
        detail: What exactly was wrong, else "".
        notes_dropped: Notes dropped inside a kept file, by reason.
        notes_shortened: Notes cut short inside a kept file, by reason.
        num_notes: Notes kept.
    """

    path: str
    sha256: str
    record: Optional[bytes] = None
    reason: str = ""
    detail: str = ""
    notes_dropped: Dict[str, int] = dataclasses.field(default_factory=dict)
    notes_shortened: Dict[str, int] = dataclasses.field(default_factory=dict)
    num_notes: int = 0

    @property
    def message(self) -> str:
        """`reason: detail`, for logs and `Corpus.skipped`."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclasses.dataclass
class Ingested:
    """A folder's pieces and the report about them.

    Attributes:
        sequences: The kept pieces in path order, ids = relative paths,
            read from the cache when iterated over.
        ids: Their ids, in the same order.
        report: The contents of `report.json`.
        report_path: Where `report.json` is.
        from_cache: Whether nothing had to be parsed.
        seconds: How long fingerprinting plus reading or parsing took.
        num_workers: Worker processes used (0 when read from the cache).
    """

    sequences: StoredRecords
    ids: List[str]
    report: Dict[str, Any]
    report_path: str
    from_cache: bool
    seconds: float
    num_workers: int


def default_num_workers() -> int:
    """Returns the number of CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def resolve_num_workers(num_workers: Optional[int], num_files: int) -> int:
    """Returns how many processes parse `num_files` files.

    Args:
        num_workers: The number asked for; None: one per CPU core, but no
            more than one per `MIN_FILES_PER_WORKER` files.
        num_files: How many files there are; never fewer than one per worker.
    """
    if num_workers is None:
        num_workers = min(default_num_workers(),
                          math.ceil(num_files / MIN_FILES_PER_WORKER))
    return max(1, min(num_workers, num_files))


def package_versions(*packages: str) -> Dict[str, str]:
    """Returns the installed version of each package ("unknown" if none)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def find_files(root: str, extensions: Sequence[str]) -> List[str]:
    """Returns the files under `root` with one of `extensions`.

    The search is recursive and ignores case in extensions. Hidden files and
    folders (".git", macOS "._x.mid" companions) are not music and are left
    out.

    Returns:
        Paths relative to `root`, '/'-separated, sorted.

    Raises:
        UserFacingError: if `root` is missing or not a folder.
    """
    if not os.path.exists(root):
        raise UserFacingError(f"the folder {root} does not exist; check the "
                              "path.")
    if not os.path.isdir(root):
        raise UserFacingError(f"{root} is a file, not a folder; give the "
                              "folder that holds the music files.")
    wanted = tuple(extension.lower() for extension in extensions)
    found = []

    def warn(error: OSError) -> None:
        logging.warning("Cannot list %s (%s); its files are left out.",
                        error.filename, error.strerror)

    for folder, subfolders, names in os.walk(root, onerror=warn):
        subfolders[:] = [name for name in subfolders
                         if not name.startswith(".")]
        relative = os.path.relpath(folder, root)
        for name in names:
            if not name.startswith(".") and name.lower().endswith(wanted):
                path = (name if relative == "." else
                        os.path.join(relative, name))
                found.append(path.replace(os.sep, "/"))
    return sorted(found)


def fingerprint(root: str, paths: Sequence[str]) -> Dict[str, str]:
    """Returns the hex SHA-256 of every file's bytes ("" if unreadable)."""
    digests = {}
    for path in tqdm(paths, desc="Checking files", unit="file", disable=None,
                     leave=False):
        digests[path] = _sha256_of_file(_on_disk(root, path))
    return digests


def cache_path(cache_dir: str, source: str, root: str,
               settings: Dict[str, Any]) -> str:
    """Returns where the cache of one folder under one set of settings lives.

    Each folder and settings get their own directory, so switching settings
    keeps both caches, while a changed file replaces the folder's cache
    instead of leaving the old one behind.
    """
    identity = json.dumps({"root": root, "settings": settings},
                          sort_keys=True)
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    return os.path.join(cache_dir, "corpora", f"{source}-{digest}")


def parse_files(parse: ParseFunction,
                root: str,
                paths: Sequence[str],
                num_workers: Optional[int] = None,
                collection: str = "",
                description: str = "Reading files",
                limits: FileLimits = FileLimits()) -> Iterator[FileResult]:
    """Parses files in worker processes; yields one result per file, in order.

    Args:
        parse: See the module docstring.
        root: The folder `paths` are relative to.
        paths: '/'-separated paths under `root`.
        num_workers: Worker processes (see `resolve_num_workers`). With one,
            everything runs in this process.
        collection: Stored as every piece's `collection_name`.
        description: Label of the progress bar.
        limits: What parsing one file may cost.

    Yields:
        A `FileResult` per path, in the order of `paths`.

    Raises:
        UserFacingError: if a worker process dies (e.g. killed for memory).
    """
    workers = resolve_num_workers(num_workers, len(paths))
    with tqdm(total=len(paths), desc=description, unit="file", disable=None,
              leave=False) as progress:
        if workers <= 1:
            for path in paths:
                yield parse_file(parse, root, path, collection, limits)
                progress.update(1)
            return
        chunk_size = max(1, min(MAX_CHUNK_SIZE,
                                len(paths) // (workers * 4)))
        chunks = iter([paths[i:i + chunk_size]
                       for i in range(0, len(paths), chunk_size)])
        # Workers are started fresh ("spawn"): forking a process that has
        # TensorFlow's threads running can deadlock the child.
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            in_flight = collections.deque()

            def submit_next() -> None:
                chunk = next(chunks, None)
                if chunk is not None:
                    in_flight.append((chunk, pool.submit(
                        _parse_chunk, parse, root, chunk, collection,
                        limits)))

            for _ in range(workers * CHUNKS_IN_FLIGHT_PER_WORKER):
                submit_next()
            try:
                while in_flight:
                    chunk, future = in_flight.popleft()
                    try:
                        results = future.result()
                    except concurrent.futures.process.BrokenProcessPool:
                        suspects = list(chunk) + [
                            path for pending, _ in in_flight
                            for path in pending]
                        raise UserFacingError(
                            "a parsing worker process died (killed for "
                            f"memory?) while reading files in {root}, one "
                            f"of: {_some(suspects)}; move it away, or lower "
                            "num_workers if memory is short.") from None
                    submit_next()
                    yield from results
                    progress.update(len(results))
            finally:
                for _, future in in_flight:
                    future.cancel()


def ingest(parse: ParseFunction,
           source: str,
           root: str,
           paths: Sequence[str],
           settings: Dict[str, Any],
           versions: Dict[str, str],
           directory: str,
           num_workers: Optional[int] = None,
           shard_size: int = 1000,
           limits: FileLimits = FileLimits()) -> Ingested:
    """Returns the pieces of `paths`, from the cache or parsed into it.

    Args:
        parse: See the module docstring.
        source: The source's name; also every piece's `collection_name`.
        root: The folder `paths` are relative to, absolute.
        paths: The files to read (see `find_files`).
        settings: Everything about the source that changes what a file
            yields (voice rule, number of voices...), JSON-serialisable.
        versions: Versions of the parsing packages.
        directory: The cache directory (see `cache_path`).
        num_workers: Worker processes for parsing (see
            `resolve_num_workers`).
        shard_size: Most pieces per TFRecord shard.
        limits: What parsing one file may cost; they change what is kept,
            so they belong in `settings` too.

    Returns:
        The kept pieces, their report, and how they were obtained.
    """
    start = time.time()
    key = {
        "source": source,
        "root": root,
        "settings": settings,
        "versions": dict(versions, polyframe_ingest=INGEST_VERSION),
        "inputs": fingerprint(root, paths),
    }
    cached = cache.read_sharded(directory, key)
    if cached is not None:
        return Ingested(
            sequences=cached.sequences,
            ids=json.loads(cached.files[PIECES_NAME]),
            report=json.loads(cached.files[REPORT_NAME]),
            report_path=os.path.join(directory, REPORT_NAME),
            from_cache=True, seconds=time.time() - start, num_workers=0)

    workers = resolve_num_workers(num_workers, len(paths))
    logging.info("Reading %d files in %s with %d worker process(es); later "
                 "runs read the cache in %s.", len(paths), root, workers,
                 directory)
    report = _Report(source, root, settings)
    parsed_inputs = {}
    ids = []
    with cache.ShardedCacheWriter(directory, shard_size) as writer:
        for result in parse_files(parse, root, paths, workers, source,
                                  f"Reading {source}", limits):
            parsed_inputs[result.path] = result.sha256
            report.add(result)
            if result.record is not None:
                writer.add(result.record)
                ids.append(result.path)
        changed = [path for path in paths
                   if parsed_inputs[path] != key["inputs"][path]]
        if changed:
            logging.warning(
                "%d file(s) changed while being read, e.g. %s; the cache "
                "holds what was read, and the next run reads them again.",
                len(changed), changed[0])
            key["inputs"] = parsed_inputs
        writer.add_file(REPORT_NAME, report.to_json())
        writer.add_file(PIECES_NAME, json.dumps(ids).encode("utf-8"))
        built = writer.commit(key)
    return Ingested(
        sequences=built.sequences, ids=ids, report=report.as_dict(),
        report_path=os.path.join(directory, REPORT_NAME), from_cache=False,
        seconds=time.time() - start, num_workers=workers)


class _Report:
    """Collects what happened to every file into the report's dictionary."""

    def __init__(self, source: str, root: str, settings: Dict[str, Any]):
        self._source = source
        self._root = root
        self._settings = settings
        self._num_files = 0
        self._num_notes = 0
        self._skipped: List[Dict[str, str]] = []
        self._dropped = collections.Counter()
        self._shortened = collections.Counter()
        self._dropped_by_file: Dict[str, Dict[str, int]] = {}

    def add(self, result: FileResult) -> None:
        self._num_files += 1
        if result.record is None:
            self._skipped.append({"path": result.path,
                                  "reason": result.reason,
                                  "detail": result.detail})
            return
        self._num_notes += result.num_notes
        self._dropped.update(result.notes_dropped)
        self._shortened.update(result.notes_shortened)
        if result.notes_dropped:
            self._dropped_by_file[result.path] = dict(
                sorted(result.notes_dropped.items()))

    def as_dict(self) -> Dict[str, Any]:
        by_reason = collections.Counter(item["reason"]
                                        for item in self._skipped)
        return {
            "source": self._source,
            "root": self._root,
            "settings": self._settings,
            "num_files": self._num_files,
            "num_kept": self._num_files - len(self._skipped),
            "num_skipped": len(self._skipped),
            "skipped_by_reason": dict(sorted(by_reason.items())),
            "skipped": self._skipped,
            "num_notes_kept": self._num_notes,
            "notes_dropped": dict(sorted(self._dropped.items())),
            "notes_shortened": dict(sorted(self._shortened.items())),
            "notes_dropped_by_file": self._dropped_by_file,
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=1) + "\n").encode("utf-8")


def _parse_chunk(parse: ParseFunction, root: str, paths: Sequence[str],
                 collection: str, limits: FileLimits) -> List[FileResult]:
    """Runs in a worker: parses a few files."""
    return [parse_file(parse, root, path, collection, limits)
            for path in paths]


def parse_file(parse: ParseFunction, root: str, path: str,
               collection: str = "",
               limits: FileLimits = FileLimits()) -> FileResult:
    """Parses one file; never raises for anything wrong with the file.

    What every worker runs for each of its files: the file is read (unless
    it is larger than `limits.max_bytes`), parsed within `limits.seconds`,
    and either kept or skipped with one of the `skip_reasons`.

    Args:
        parse: See the module docstring.
        root: The folder `path` is relative to.
        path: A '/'-separated path under `root`.
        collection: Stored as the piece's `collection_name`.
        limits: What parsing the file may cost.
    """
    try:
        data, digest, size = _read(_on_disk(root, path), limits.max_bytes)
    except OSError as error:
        return FileResult(path, "", reason=skip_reasons.UNREADABLE,
                          detail=error.strerror or str(error))
    if data is None:
        return FileResult(
            path, digest, reason=skip_reasons.TOO_LARGE,
            detail=f"{size:,} bytes, more than the limit of "
            f"{limits.max_bytes:,} bytes")
    if not data:
        return FileResult(path, digest, reason=skip_reasons.EMPTY_FILE,
                          detail="the file has 0 bytes")
    try:
        with warnings.catch_warnings():
            # Parsers warn about oddities of single files; the report says
            # what happened to every file, and warnings would only clutter
            # the progress bar.
            warnings.simplefilter("ignore")
            with _time_limit(limits.seconds):
                piece = parse(_on_disk(root, path), data)
    except _OutOfTime:
        return FileResult(path, digest, reason=skip_reasons.TOO_SLOW,
                          detail=f"stopped after {limits.seconds:g} s")
    except UnusableSequenceError as error:
        reason, detail = skip_reasons.reason_and_detail(error)
        return FileResult(path, digest, reason=reason, detail=detail)
    except Exception as error:  # pylint: disable=broad-except
        # Parsers fail on malformed files with many error types; any of them
        # only means that this one file is unusable.
        return FileResult(path, digest, reason=skip_reasons.PARSER_ERROR,
                          detail=describe_error(error))
    sequence = piece.sequence
    sequence.id = path
    sequence.filename = path
    sequence.collection_name = collection
    return FileResult(path, digest, record=sequence.SerializeToString(),
                      notes_dropped=dict(piece.notes_dropped),
                      notes_shortened=dict(piece.notes_shortened),
                      num_notes=len(sequence.notes))


def _read(path: str, max_bytes: Optional[int]
          ) -> Tuple[Optional[bytes], str, int]:
    """Returns a file's bytes (None if over `max_bytes`), SHA-256 and size.

    A file over the limit is hashed block by block, never held whole.
    """
    with open(path, "rb") as f:
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        if max_bytes is None or len(data) <= max_bytes:
            return data, hashlib.sha256(data).hexdigest(), len(data)
        digest, size = hashlib.sha256(data), len(data)
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return None, digest.hexdigest(), size


@contextlib.contextmanager
def _time_limit(seconds: Optional[float]) -> Iterator[None]:
    """Raises `_OutOfTime` in the code it wraps once `seconds` have passed.

    Uses the process's real-time timer (SIGALRM), and the previous handler
    is back afterwards. Where no timer can be used (not the main thread, no
    `signal.setitimer`), or `seconds` is None, nothing is limited.
    """
    if (seconds is None or not hasattr(signal, "setitimer") or
            threading.current_thread() is not threading.main_thread()):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _out_of_time)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM,
                      signal.SIG_DFL if previous is None else previous)


def _out_of_time(signum, frame) -> None:
    del signum, frame
    raise _OutOfTime()


def _some(paths: Sequence[str], shown: int = 10) -> str:
    listed = ", ".join(paths[:shown])
    more = len(paths) - shown
    return f"{listed} and {more} more" if more > 0 else listed


def _on_disk(root: str, path: str) -> str:
    return os.path.join(root, *path.split("/"))


def _sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def describe_error(error: Exception) -> str:
    """Returns `Type: first line of the message`, for reports."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(
        error).__name__


def summarize(counts: Dict[str, int]) -> str:
    """`3 reason a, 1 reason b`, most frequent first; "none" if empty."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count} {reason}"
                     for reason, count in ordered) or "none"


def skipped_pairs(report: Dict[str, Any]) -> List[Tuple[str, str]]:
    """Returns `(path, "reason: detail")` of every skipped file."""
    return [(item["path"], f"{item['reason']}: {item['detail']}"
             if item["detail"] else item["reason"])
            for item in report["skipped"]]
