"""NoteSequence TFRecords, and the on-disk cache of cleaned corpora.

A TFRecord of serialized `NoteSequence` protos is Magenta's corpus format;
sources read it and the cache stores cleaned pieces in it. A cache directory
holds two files:

* `sequences.tfrecord`: the cleaned pieces.
* `manifest.json`: the format version, the key the cache was built for (what
  it depends on, e.g. the corpus folder and parser version), the SHA-256 and
  count of the records, and what was skipped or dropped while building.

Every file is written under a temporary name in the same directory and moved
into place with `os.replace`, the manifest last, after the old manifest was
removed. So a run killed at any point leaves either no manifest or one that
does not match the records, and `read` trusts a cache only if its manifest
exists, has this format version and key, and matches the records.
"""

import contextlib
import dataclasses
import datetime
import glob
import hashlib
import json
import os
import tempfile
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from absl import logging
from google.protobuf import message
from note_seq.protobuf import music_pb2
import platformdirs
import tensorflow as tf

from polyframe.errors import UserFacingError

CACHE_DIR_ENV = "POLYFRAME_CACHE_DIR"
FORMAT_VERSION = 1
RECORDS_NAME = "sequences.tfrecord"
MANIFEST_NAME = "manifest.json"
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600


@dataclasses.dataclass
class CachedCorpus:
    """What a valid cache holds.

    Attributes:
        sequences: The cached pieces, in the order they were written.
        skipped: `(piece id, reason)` of the pieces left out when building.
        notes_dropped: Counts of notes dropped inside cached pieces, by reason.
        manifest: The whole manifest, for logging.
    """

    sequences: List[music_pb2.NoteSequence]
    skipped: List[Tuple[str, str]]
    notes_dropped: Dict[str, int]
    manifest: Dict[str, Any]


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
    with tf.io.TFRecordWriter(path) as writer:
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


def read(directory: str, key: Dict[str, Any]) -> Optional[CachedCorpus]:
    """Returns the cache in `directory` if it is valid for `key`, else None.

    Why a cache is not used is logged, so a rebuild is never a mystery.
    """
    manifest_path = os.path.join(directory, MANIFEST_NAME)
    records_path = os.path.join(directory, RECORDS_NAME)
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        logging.info("No complete cache in %s.", directory)
        return None
    except (OSError, ValueError) as e:
        logging.info("Ignoring cache in %s: unreadable manifest (%s).",
                     directory, e)
        return None
    problem = _manifest_problem(manifest, key, records_path)
    if problem:
        logging.info("Ignoring cache in %s: %s.", directory, problem)
        return None
    sequences = list(read_note_sequences(records_path))
    if len(sequences) != manifest["num_sequences"]:
        logging.info("Ignoring cache in %s: %d records, manifest says %d.",
                     directory, len(sequences), manifest["num_sequences"])
        return None
    return CachedCorpus(
        sequences=sequences,
        skipped=[tuple(item) for item in manifest["skipped"]],
        notes_dropped=dict(manifest["notes_dropped"]),
        manifest=manifest)


def write(directory: str, key: Dict[str, Any],
          sequences: List[music_pb2.NoteSequence],
          skipped: List[Tuple[str, str]], notes_dropped: Dict[str, int]) -> None:
    """Atomically replaces the cache in `directory` (see the module docstring).

    Args:
        directory: The cache directory; created if missing.
        key: JSON-serialisable description of everything the cache depends
            on; `read` must be given an equal key to trust the cache.
        sequences: The pieces to cache.
        skipped: `(piece id, reason)` of pieces left out.
        notes_dropped: Counts of notes dropped inside `sequences`, by reason.
    """
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temporaries(directory)
    manifest_path = os.path.join(directory, MANIFEST_NAME)
    records_path = os.path.join(directory, RECORDS_NAME)
    # The old manifest must not vouch for the records about to replace it.
    if os.path.exists(manifest_path):
        os.remove(manifest_path)

    with _temporary(directory, RECORDS_NAME) as temp_records:
        write_note_sequences(temp_records, sequences)
        _fsync(temp_records)
        digest = _sha256(temp_records)
        os.replace(temp_records, records_path)

    manifest = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "records": RECORDS_NAME,
        "num_sequences": len(sequences),
        "records_sha256": digest,
        "num_skipped": len(skipped),
        "skipped": [list(item) for item in skipped],
        "notes_dropped": dict(notes_dropped),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    with _temporary(directory, MANIFEST_NAME) as temp_manifest:
        with open(temp_manifest, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        _fsync(temp_manifest)
        os.replace(temp_manifest, manifest_path)


def _manifest_problem(manifest: Any, key: Dict[str, Any],
                      records_path: str) -> Optional[str]:
    """Returns why the manifest cannot be trusted, or None if it can."""
    if not isinstance(manifest, dict):
        return "manifest is not a JSON object"
    if manifest.get("format_version") != FORMAT_VERSION:
        return (f"format version {manifest.get('format_version')}, this "
                f"version of polyframe reads {FORMAT_VERSION}")
    if manifest.get("key") != _as_json(key):
        return f"built for {manifest.get('key')}, need {key}"
    for field in ("num_sequences", "records_sha256", "skipped",
                  "notes_dropped"):
        if field not in manifest:
            return f"manifest lacks {field!r}"
    if not os.path.exists(records_path):
        return f"{RECORDS_NAME} is missing"
    if _sha256(records_path) != manifest["records_sha256"]:
        return f"{RECORDS_NAME} does not match the manifest"
    return None


def _as_json(value: Any) -> Any:
    """Returns `value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


@contextlib.contextmanager
def _temporary(directory: str, name: str) -> Iterator[str]:
    """Yields a temporary path next to `name`, removed unless moved away."""
    fd, path = tempfile.mkstemp(
        dir=directory, prefix=f".{name}.", suffix=_TEMP_SUFFIX)
    os.close(fd)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.remove(path)


def _remove_stale_temporaries(directory: str) -> None:
    """Removes temporaries that a killed run left behind long ago."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for path in glob.glob(os.path.join(directory, f".*{_TEMP_SUFFIX}")):
        try:
            if os.path.getmtime(path) < cutoff:
                os.remove(path)
        except OSError:
            pass  # Another run removed or replaced it meanwhile.


def _fsync(path: str) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
