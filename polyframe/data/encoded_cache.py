"""A cache of encoded splits, keyed by the pieces and the encoder's settings.

Encoding a large corpus (and fitting the encoder's vocabularies on it) costs
time on every run; the result depends only on the exact pieces of each split
and on the encoder's class and settings. So the pieces are fingerprinted
(a SHA-256 of every serialized NoteSequence, split by split), the encoder's
settings are its state before `fit`, and under a key made of both the cache
keeps a `tf.train.Example` per piece (event shape, events), split after
split, and, in `encoder.json`, the fitted encoder state and each split's
kept positions and lengths. Pieces are encoded into it one at a time and
read from it as they are used, so neither step holds the corpus. It
is stored like every polyframe cache (`polyframe.data.cache`), so a killed
run never leaves one that a later run trusts, and two runs encoding the
same corpus at once both finish.
"""

import dataclasses
import hashlib
import json
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from note_seq.protobuf import music_pb2

from polyframe.data import cache
from polyframe.data.corpus import UnusableSequenceError
from polyframe.encoding import EventEncoder

FORMAT_VERSION = 3
ENCODER_STATE = "encoder.json"


def cache_key(splits: Dict[str, Sequence[music_pb2.NoteSequence]],
              encoder: EventEncoder) -> str:
    """Returns the key of these pieces encoded by this (unfitted) encoder.

    The encoder's settings are its state before `fit` together with its
    plain attributes (numbers, strings, booleans, None), which is where
    encoders keep their constructor arguments.
    """
    plain = {name: value for name, value in sorted(vars(encoder).items())
             if isinstance(value, (bool, int, float, str, type(None)))}
    digest = hashlib.sha256()
    digest.update(json.dumps({
        "version": FORMAT_VERSION,
        "encoder": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        "state": encoder.get_state(), "attributes": plain},
        sort_keys=True, default=str).encode("utf-8"))
    for split in sorted(splits):
        digest.update(f"\0{split}\0".encode("utf-8"))
        for sequence in splits[split]:
            data = sequence.SerializeToString(deterministic=True)
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


@dataclasses.dataclass
class StoredSplit:
    """One split as the cache holds it.

    Attributes:
        positions: Where the kept pieces are in the corpus split.
        lengths: Their numbers of events.
        pieces: Their events, read from the cache when iterated over.
    """

    positions: List[int]
    lengths: List[int]
    pieces: Sequence[np.ndarray]


def read(directory: str, encoder: Optional[EventEncoder]
         ) -> Optional[Tuple[Dict[str, StoredSplit], str]]:
    """Opens the cache in `directory` and loads its encoder state into
    `encoder` (unless None: the encoder that just wrote it keeps its own).

    Returns:
        The encoded splits (their events unread) and the encoder's
        description from when they were encoded, or None if there is no
        complete cache.
    """
    cached = cache.read_sharded(directory, _store_key(directory),
                                parse=decode_events)
    if cached is None:
        return None
    saved = json.loads(cached.files[ENCODER_STATE])
    if encoder is not None:
        encoder.set_state(saved["encoder_state"])
    splits = {}
    for split, stored in saved["splits"].items():
        begin = stored["first_record"]
        end = begin + len(stored["positions"])
        splits[split] = StoredSplit(stored["positions"], stored["lengths"],
                                    cached.records.subset(range(begin, end)))
    return splits, saved["description"]


def write(directory: str, encoder: EventEncoder,
          splits: Dict[str, Sequence[music_pb2.NoteSequence]]) -> None:
    """Encodes every split, piece by piece, into a cache in `directory`,
    with the (already fitted) `encoder`'s state.

    Pieces the encoder cannot represent are skipped and named in the log.
    """
    positions = {split: [] for split in splits}
    lengths = {split: [] for split in splits}
    first_record, written = {}, 0
    with cache.ShardedCacheWriter(directory, parse=decode_events) as writer:
        for split, sequences in splits.items():
            first_record[split] = written
            for position, events in encode_each(encoder, sequences, split):
                writer.add(encode_events(events))
                written += 1
                positions[split].append(position)
                lengths[split].append(len(events))
        writer.add_file(ENCODER_STATE, json.dumps({
            "encoder_state": encoder.get_state(),
            "description": encoder.describe(),
            "splits": {split: {"first_record": first_record[split],
                               "positions": positions[split],
                               "lengths": lengths[split]}
                       for split in splits},
        }, sort_keys=True).encode("utf-8"))
        writer.commit(_store_key(directory))
    logging.info("cached the encoded splits in %s", directory)


def encode_each(encoder: EventEncoder,
                sequences: Sequence[music_pb2.NoteSequence],
                split: str) -> Iterator[Tuple[int, np.ndarray]]:
    """Yields `(position, events)` of every piece of `sequences` that the
    encoder can represent, one at a time; the others are named in the log."""
    skipped = 0
    for position, sequence in enumerate(sequences):
        try:
            events = encoder.encode(sequence)
        except UnusableSequenceError as error:
            logging.info("skipped %s (%s): %s", sequence.id, split, error)
            skipped += 1
            continue
        yield position, events
    if skipped:
        logging.info("%s: %d pieces the encoder cannot represent were "
                     "skipped", split, skipped)


def _store_key(directory: str) -> Dict[str, object]:
    # The directory is named by `cache_key`, which covers everything the
    # encoding depends on; the format version guards the layout.
    return {"encoded_splits": FORMAT_VERSION,
            "cache_key": os.path.basename(os.path.normpath(directory))}


def encode_events(events: np.ndarray) -> bytes:
    """One piece's events as a serialized `tf.train.Example` (its shape,
    and its values as little-endian int32 bytes)."""
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    return tf.train.Example(features=tf.train.Features(feature={
        "shape": tf.train.Feature(
            int64_list=tf.train.Int64List(value=list(events.shape))),
        "events": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[np.ascontiguousarray(events, "<i4").tobytes()])),
    })).SerializeToString()


def decode_events(record: bytes) -> np.ndarray:
    """The events `encode_events` stored."""
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    features = tf.train.Example.FromString(record).features.feature
    shape = list(features["shape"].int64_list.value)
    return np.frombuffer(features["events"].bytes_list.value[0],
                         "<i4").astype(np.int32).reshape(shape)
