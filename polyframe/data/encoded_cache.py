"""A cache of encoded splits, keyed by the pieces and the encoder's settings.

Encoding a large corpus (and fitting the encoder's vocabularies on it) costs
time on every run; the result depends only on the exact pieces of each split
and on the encoder's class and settings. So the pieces are fingerprinted
(a SHA-256 of every serialized NoteSequence, split by split), the encoder's
settings are its state before `fit`, and under a key made of both the cache
keeps a `tf.train.Example` per piece (its split, its position in the split,
event shape, events) and, in `encoder.json`, the fitted encoder state. It
is stored like every polyframe cache (`polyframe.data.cache`), so a killed
run never leaves one that a later run trusts, and two runs encoding the
same corpus at once both finish.
"""

import hashlib
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from note_seq.protobuf import music_pb2

from polyframe.data import cache
from polyframe.encoding import EventEncoder

FORMAT_VERSION = 2
ENCODER_STATE = "encoder.json"

# Per split: the positions (in the corpus split) of the pieces kept, and
# their events.
Encoded = Dict[str, Tuple[List[int], List[np.ndarray]]]


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


def read(directory: str,
         encoder: EventEncoder) -> Optional[Tuple[Encoded, str]]:
    """Loads the cache in `directory` into `encoder`'s state.

    Returns:
        The encoded splits and the encoder's description from when they were
        encoded, or None if there is no complete cache.
    """
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    cached = cache.read_sharded(directory, _store_key(directory),
                                parse=tf.train.Example.FromString)
    if cached is None:
        return None
    saved = json.loads(cached.files[ENCODER_STATE])
    encoded: Encoded = {split: ([], []) for split in saved["splits"]}
    for example in cached.records:
        features = example.features.feature
        split = features["split"].bytes_list.value[0].decode("utf-8")
        positions, pieces = encoded[split]
        positions.append(features["position"].int64_list.value[0])
        shape = list(features["shape"].int64_list.value)
        pieces.append(np.asarray(features["events"].int64_list.value,
                                 np.int32).reshape(shape))
    encoder.set_state(saved["encoder_state"])
    return encoded, saved["description"]


def write(directory: str, encoder: EventEncoder, encoded: Encoded) -> None:
    """Writes `encoded` and the fitted `encoder` state to `directory`."""
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    with cache.ShardedCacheWriter(
            directory, parse=tf.train.Example.FromString) as writer:
        for split, (positions, pieces) in encoded.items():
            for position, events in zip(positions, pieces):
                writer.add(_example(split, position,
                                    events).SerializeToString())
        writer.add_file(ENCODER_STATE, json.dumps({
            "encoder_state": encoder.get_state(),
            "description": encoder.describe(),
            "splits": {split: len(positions)
                       for split, (positions, _) in encoded.items()},
        }, sort_keys=True).encode("utf-8"))
        writer.commit(_store_key(directory))
    logging.info("cached the encoded splits in %s", directory)


def _store_key(directory: str) -> Dict[str, object]:
    # The directory is named by `cache_key`, which covers everything the
    # encoding depends on; the format version guards the layout.
    return {"encoded_splits": FORMAT_VERSION,
            "cache_key": os.path.basename(os.path.normpath(directory))}


def _example(split: str, position: int, events: np.ndarray):
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    return tf.train.Example(features=tf.train.Features(feature={
        "split": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[split.encode("utf-8")])),
        "position": tf.train.Feature(
            int64_list=tf.train.Int64List(value=[position])),
        "shape": tf.train.Feature(
            int64_list=tf.train.Int64List(value=list(events.shape))),
        "events": tf.train.Feature(
            int64_list=tf.train.Int64List(value=events.reshape(-1).tolist())),
    }))
