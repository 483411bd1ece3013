"""A cache of encoded splits, keyed by the pieces and the encoder's settings.

Encoding a large corpus (and fitting the encoder's vocabularies on it) costs
time on every run; the result depends only on the exact pieces of each split
and on the encoder's class and settings. So the pieces are fingerprinted
(a SHA-256 of every serialized NoteSequence, split by split), the encoder's
settings are its state before `fit`, and under a key made of both the cache
keeps one TFRecord per split of `tf.train.Example`s (the piece's position
in its split, event shape, events) plus the fitted encoder state. Like every polyframe cache it is
built in a temporary folder and renamed into place with the manifest
written last, so a killed run never leaves one that a later run trusts.
"""

import hashlib
import json
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from note_seq.protobuf import music_pb2

from polyframe import fileio
from polyframe.encoding import EventEncoder

FORMAT_VERSION = 1
MANIFEST = "manifest.json"

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

    try:
        manifest = fileio.read_json(os.path.join(directory, MANIFEST))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != FORMAT_VERSION:
        return None
    encoded: Encoded = {}
    for split in manifest["splits"]:
        positions, pieces = [], []
        path = os.path.join(directory, f"{split}.tfrecord")
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            example = tf.train.Example.FromString(record)
            features = example.features.feature
            positions.append(features["position"].int64_list.value[0])
            shape = list(features["shape"].int64_list.value)
            pieces.append(np.asarray(features["events"].int64_list.value,
                                     np.int32).reshape(shape))
        if len(positions) != manifest["splits"][split]:
            return None
        encoded[split] = (positions, pieces)
    encoder.set_state(manifest["encoder_state"])
    return encoded, manifest["description"]


def write(directory: str, encoder: EventEncoder, encoded: Encoded) -> None:
    """Writes `encoded` and the fitted `encoder` state to `directory`."""
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(dir=parent, prefix=".tmp-encoded-")
    try:
        for split, (positions, pieces) in encoded.items():
            with tf.io.TFRecordWriter(
                    os.path.join(temporary, f"{split}.tfrecord")) as writer:
                for position, events in zip(positions, pieces):
                    writer.write(_example(position, events).SerializeToString())
        fileio.write_json(os.path.join(temporary, MANIFEST), {
            "version": FORMAT_VERSION,
            "encoder_state": encoder.get_state(),
            "description": encoder.describe(),
            "splits": {split: len(positions)
                       for split, (positions, _) in encoded.items()},
        })
        if os.path.exists(directory):
            shutil.rmtree(directory)
        os.replace(temporary, directory)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logging.info("cached the encoded splits in %s", directory)


def _example(position: int, events: np.ndarray):
    import tensorflow as tf  # Deferred: TensorFlow is slow to import.

    return tf.train.Example(features=tf.train.Features(feature={
        "position": tf.train.Feature(
            int64_list=tf.train.Int64List(value=[position])),
        "shape": tf.train.Feature(
            int64_list=tf.train.Int64List(value=list(events.shape))),
        "events": tf.train.Feature(
            int64_list=tf.train.Int64List(value=events.reshape(-1).tolist())),
    }))
