"""The one on-disk store for everything polyframe caches, and NoteSequence
TFRecords.

A TFRecord of serialized `NoteSequence` protos is Magenta's corpus format;
sources read it (`read_note_sequences`).

Every cache (a parsed corpus, the encoded splits of a run) is a directory
written by `ShardedCacheWriter` and read by `read_sharded`: TFRecord shards
`shard-00000-of-00012.tfrecord` of at most `shard_size` records each,
written as records arrive, any files that belong with them (a report, an
encoder's state), and `manifest.json`, which lists every shard and file with
its SHA-256 and the key the cache was built for (everything it depends on).

Kills and concurrent runs. The whole directory is built under a temporary
name beside its final place, the manifest last, and only then renamed into
place. A killed run leaves a temporary directory that no reader looks at
(writers remove it once it is an hour old), or no directory at all;
`read_sharded` trusts a directory only if its manifest has this format
version and key and every listed file matches. Two runs that build the same
cache at once both finish: the first to publish wins, the second keeps the
valid cache it finds in place and discards its own copy, and a reader whose
directory is replaced under it reads it as missing (and builds its own)
rather than failing.
"""

import dataclasses
import datetime
import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from absl import logging
from google.protobuf import message
from note_seq.protobuf import music_pb2
import platformdirs

from polyframe.data.lazy_pieces import StoredRecords
from polyframe.errors import UserFacingError

CACHE_DIR_ENV = "POLYFRAME_CACHE_DIR"
MANIFEST_NAME = "manifest.json"
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600
SHARDED_FORMAT_VERSION = 1
SHARD_NAME = "shard-{index:05d}-of-{count:05d}.tfrecord"
_OLD_SUFFIX = ".old"


def _tensorflow():
    """Returns TensorFlow, imported on first use.

    Parsing workers import this module through the sources; TensorFlow would
    add seconds and hundreds of megabytes to each of them, and they never
    touch a TFRecord.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return tf


@dataclasses.dataclass
class ShardedCache:
    """What a valid cache holds.

    Attributes:
        directory: Where it was read from.
        records: Every record of every shard, in the order written, parsed
            by the reader's `parse` (NoteSequences by default) only when
            iterated over (see `polyframe.data.lazy_pieces`), so a cache
            larger than memory can be used.
        files: The contents of the other files the manifest lists, by name.
        manifest: The whole manifest.
    """

    directory: str
    records: StoredRecords
    files: Dict[str, bytes]
    manifest: Dict[str, Any]

    @property
    def sequences(self) -> StoredRecords:
        """The records of a cache of NoteSequences."""
        return self.records


def resolve_cache_dir(cache_dir: Optional[str] = None) -> str:
    """Returns where polyframe caches data.

    Args:
        cache_dir: An explicit choice; wins if given.

    Returns:
        `cache_dir`, else the `POLYFRAME_CACHE_DIR` environment variable,
        else the platform's user cache folder for "polyframe".
    """
    if cache_dir:
        return os.path.expanduser(cache_dir)
    from_env = os.environ.get(CACHE_DIR_ENV)
    if from_env:
        return os.path.expanduser(from_env)
    return platformdirs.user_cache_dir("polyframe")


def write_note_sequences(path: str,
                         sequences: Iterable[music_pb2.NoteSequence]) -> int:
    """Writes `sequences` to a TFRecord at `path`; returns how many."""
    count = 0
    with _tensorflow().io.TFRecordWriter(path) as writer:
        for sequence in sequences:
            writer.write(sequence.SerializeToString())
            count += 1
    return count


def read_note_sequences(path: str) -> Iterator[music_pb2.NoteSequence]:
    """Yields the NoteSequences of the TFRecord at `path`.

    Raises:
        UserFacingError: if the file is missing or is not a TFRecord of
            NoteSequences.
    """
    tf = _tensorflow()
    records = iter(tf.data.TFRecordDataset(path))
    number = 0
    while True:
        number += 1
        try:
            record = next(records)
        except StopIteration:
            return
        except tf.errors.NotFoundError:
            raise UserFacingError(
                f"{path} does not exist; check the path.") from None
        except tf.errors.DataLossError as e:
            raise _corrupt(path, number, e.message) from None
        try:
            sequence = music_pb2.NoteSequence.FromString(record.numpy())
        except message.DecodeError as e:
            raise _corrupt(path, number, str(e)) from None
        yield sequence


def _corrupt(path: str, number: int, detail: str) -> UserFacingError:
    first_line = (detail.strip().splitlines() or ["unreadable"])[0]
    return UserFacingError(
        f"{path} is not a valid TFRecord of NoteSequences: record {number} "
        f"is corrupt ({first_line}); re-create or remove the file.")


def _load_manifest(directory: str,
                   quiet: bool = False) -> Optional[Dict[str, Any]]:
    """Returns the parsed manifest of `directory`, or None (and logs why,
    unless `quiet`)."""
    try:
        with open(os.path.join(directory, MANIFEST_NAME),
                  encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        if not quiet:
            logging.info("No complete cache in %s.", directory)
    except (OSError, ValueError) as e:
        if not quiet:
            logging.info("Ignoring cache in %s: unreadable manifest (%s).",
                         directory, e)
    return None


def _as_json(value: Any) -> Any:
    """Returns `value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _fsync(path: str) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardedCacheWriter:
    """Builds a sharded cache beside `directory` and then puts it in place.

    Use it as a context manager: `add` records as they arrive (shards are
    written as they fill), `add_file` what belongs with them, and `commit`.
    Leaving the block without committing (an error, Ctrl-C) removes the
    partial cache; see the module docstring for a killed process.

    Args:
        directory: Where the finished cache goes; its parent is created.
        shard_size: Most records per shard.
        parse: Turns one record back into what it stores (used to check
            the cache by reading it back before it is published).
    """

    def __init__(self, directory: str, shard_size: int = 1000,
                 parse: Callable[[bytes], Any] = (
                     music_pb2.NoteSequence.FromString)):
        if shard_size < 1:
            raise ValueError(f"shard_size must be positive, not {shard_size}")
        self.directory = os.path.abspath(directory)
        self._shard_size = shard_size
        self._parse = parse
        parent, name = os.path.split(self.directory)
        os.makedirs(parent, exist_ok=True)
        _remove_stale_builds(self.directory)
        self._temp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.",
                                      suffix=_TEMP_SUFFIX)
        self._writer = None
        self._shard_sizes: List[int] = []
        self._files: Dict[str, bytes] = {}

    def __enter__(self) -> "ShardedCacheWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self._close_shard()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def add(self, record: bytes) -> None:
        """Appends one serialized record, starting a new shard when full."""
        if self._writer is None or self._shard_sizes[-1] >= self._shard_size:
            self._close_shard()
            self._writer = _tensorflow().io.TFRecordWriter(
                self._unfinished_shard(len(self._shard_sizes)))
            self._shard_sizes.append(0)
        self._writer.write(record)
        self._shard_sizes[-1] += 1

    def add_file(self, name: str, data: bytes) -> None:
        """Adds a file that the manifest vouches for, e.g. a report."""
        if name == MANIFEST_NAME or name.startswith("shard-"):
            raise ValueError(f"{name!r} is a reserved name in a cache")
        self._files[name] = data

    def commit(self, key: Dict[str, Any]) -> ShardedCache:
        """Writes the manifest, checks the cache by reading it, and moves it
        into place (replacing an older one, unless another run has just put
        a valid cache for the same key there).

        Args:
            key: JSON-serialisable description of everything the cache
                depends on; `read_sharded` must be given an equal key.

        Returns:
            The cache as read back.
        """
        self._close_shard()
        count = len(self._shard_sizes)
        shards = []
        for index, size in enumerate(self._shard_sizes):
            name = SHARD_NAME.format(index=index, count=count)
            path = os.path.join(self._temp, name)
            os.replace(self._unfinished_shard(index), path)
            _fsync(path)
            shards.append({"name": name, "num_records": size,
                           "sha256": _sha256(path)})
        for name, data in self._files.items():
            _write_synced(os.path.join(self._temp, name), data)
        manifest = {
            "format_version": SHARDED_FORMAT_VERSION,
            "key": key,
            "shards": shards,
            "num_records": sum(self._shard_sizes),
            "files": {name: hashlib.sha256(data).hexdigest()
                      for name, data in self._files.items()},
            "created": datetime.datetime.now(
                datetime.timezone.utc).isoformat(),
        }
        _write_synced(os.path.join(self._temp, MANIFEST_NAME),
                      (json.dumps(manifest, indent=1, sort_keys=True) +
                       "\n").encode("utf-8"))
        _fsync_directory(self._temp)
        built = read_sharded(self._temp, key, parse=self._parse)
        if built is None or sum(1 for _ in built.records) != len(built.records):
            raise RuntimeError(f"the cache just built in {self._temp} does "
                               "not read back; see the log above")
        self._publish(key)
        published = read_sharded(self.directory, key, parse=self._parse)
        if published is None:
            raise UserFacingError(
                f"another run replaced the cache in {self.directory} while "
                "this one wrote it; run again.")
        return published

    def _unfinished_shard(self, index: int) -> str:
        return os.path.join(self._temp, f"shard-{index:05d}.unfinished")

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _publish(self, key: Dict[str, Any]) -> None:
        """Swaps the finished build in for the old cache, unless the cache
        in place is already a valid one for `key` (another run built the
        same cache at the same time and published first)."""
        if (_load_manifest(self.directory, quiet=True) is not None and
                _problem(self.directory, key) is None):
            logging.info("Keeping the cache that another run just put in "
                         "%s.", self.directory)
            return
        parent, name = os.path.split(self.directory)
        old = os.path.join(parent, f".{name}.{uuid.uuid4().hex}{_OLD_SUFFIX}")
        try:
            os.rename(self.directory, old)
        except FileNotFoundError:
            old = None
        try:
            os.rename(self._temp, self.directory)
        except OSError as error:
            # Another run put its cache in place between the two renames.
            logging.info("Not replacing the cache in %s that another run "
                         "just wrote (%s).", self.directory, error)
        else:
            self._temp = None
            _fsync_directory(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def read_sharded(directory: str, key: Dict[str, Any],
                 parse: Callable[[bytes], Any] = (
                     music_pb2.NoteSequence.FromString)
                 ) -> Optional[ShardedCache]:
    """Returns the cache in `directory` if it is valid for `key`.

    Why a cache is not used is logged, so a rebuild is never a mystery.

    Args:
        directory: The cache's directory.
        key: What the cache must have been built for.
        parse: Turns one record into what the cache stores.

    Returns:
        The cache, or None if there is none, it was built for another key,
        any listed file is missing or does not match the manifest, or the
        directory changed while it was checked (another run replaced it).
        Its records are read when they are iterated over.
    """
    manifest = _load_manifest(directory)
    if manifest is None:
        return None
    try:
        problem = _problem(directory, key, manifest)
        if problem:
            logging.info("Ignoring cache in %s: %s.", directory, problem)
            return None
        files = {name: _read_bytes(os.path.join(directory, name))
                 for name in manifest["files"]}
    except (OSError, KeyError, TypeError) as e:
        logging.info("Ignoring cache in %s: it changed while being read "
                     "(%s).", directory, str(e).splitlines()[0])
        return None
    if None in files.values():
        logging.info("Ignoring cache in %s: it changed while being read.",
                     directory)
        return None
    records = StoredRecords(
        [(os.path.join(directory, shard["name"]), shard["num_records"])
         for shard in manifest["shards"]], parse, where=directory)
    return ShardedCache(directory=directory, records=records, files=files,
                        manifest=manifest)


def _problem(directory: str, key: Dict[str, Any],
             manifest: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Why the cache in `directory` cannot be trusted for `key`, or None:
    its manifest (read unless given) and every file it lists are checked."""
    if manifest is None:
        manifest = _load_manifest(directory, quiet=True)
        if manifest is None:
            return "no manifest"
    problem = _sharded_manifest_problem(manifest, key)
    if problem:
        return problem
    for name, digest in manifest["files"].items():
        data = _read_bytes(os.path.join(directory, name))
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            return f"{name} is missing or does not match the manifest"
    for shard in manifest["shards"]:
        path = os.path.join(directory, shard["name"])
        if not os.path.exists(path) or _sha256(path) != shard["sha256"]:
            return f"{shard['name']} is missing or does not match the manifest"
    return None


def _sharded_manifest_problem(manifest: Any,
                              key: Dict[str, Any]) -> Optional[str]:
    """Returns why a sharded manifest cannot be trusted, or None."""
    if not isinstance(manifest, dict):
        return "manifest is not a JSON object"
    if manifest.get("format_version") != SHARDED_FORMAT_VERSION:
        return (f"format version {manifest.get('format_version')}, this "
                f"version of polyframe reads {SHARDED_FORMAT_VERSION}")
    for field in ("key", "shards", "files", "num_records"):
        if field not in manifest:
            return f"manifest lacks {field!r}"
    try:
        listed = sum(int(shard["num_records"]) for shard in manifest["shards"])
    except (KeyError, TypeError, ValueError):
        return "manifest lists its shards wrongly"
    if listed != manifest["num_records"]:
        return (f"manifest lists {listed} records in its shards, "
                f"{manifest['num_records']} in all")
    expected = _as_json(key)
    if manifest["key"] != expected:
        return ("it was built for other inputs or settings "
                f"({describe_change(manifest['key'], expected)})")
    return None


def describe_change(old: Any, new: Any) -> str:
    """Says briefly how key `new` differs from key `old`.

    Dict fields are compared entry by entry, so a changed input file is
    named rather than the two whole keys printed.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return f"{old!r} is now {new!r}"
    changes = []
    for field in sorted(set(old) | set(new), key=str):
        before, after = old.get(field), new.get(field)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            kinds = (("changed", [k for k in after
                                  if k in before and before[k] != after[k]]),
                     ("added", [k for k in after if k not in before]),
                     ("removed", [k for k in before if k not in after]))
            summary = ", ".join(f"{len(names)} {kind} (e.g. {names[0]})"
                                for kind, names in kinds if names)
            changes.append(f"{field}: {summary}")
        else:
            changes.append(f"{field} was {before!r}, is {after!r}")
    return "; ".join(changes)


def _remove_stale_builds(directory: str) -> None:
    """Removes unfinished or replaced builds of `directory` that a killed
    run left behind long ago."""
    parent, name = os.path.split(directory)
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for pattern in (f".{name}.*{_TEMP_SUFFIX}", f".{name}.*{_OLD_SUFFIX}"):
        for path in glob.glob(os.path.join(glob.escape(parent), pattern)):
            try:
                if os.path.getmtime(path) < cutoff:
                    shutil.rmtree(path)
            except OSError:
                pass  # Another run removed or replaced it meanwhile.


def _read_bytes(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write_synced(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_directory(path: str) -> None:
    """Makes renames inside `path` durable."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
