"""The main job: data -> train -> best checkpoint -> metrics -> samples.

`Experiment` holds the user's choices (built by gin at the binary); the
functions here run them. What a trained model directory holds:

    config.gin            every binding the run was started with
    operative_config.gin  the bindings that were actually used
    encoder.json          the vocabularies the encoder learned
    primers.json          opening events of validation pieces, for sampling
    checkpoints/, best/   the latest state and the best-on-validation weights
    tensorboard/          train and valid scalars
    metrics.json          NLL of the best checkpoint on valid and test
    samples/              generated MIDI and WAV files
"""

import dataclasses
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from absl import logging

from polyframe import fileio
from polyframe.data import pipeline
from note_seq.protobuf import music_pb2

from polyframe.data import cache, encoded_cache
from polyframe.data.augmentation import Augmentation
from polyframe.data.corpus import SPLITS, Corpus, UnusableSequenceError
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError
from polyframe.sampling import SampleConfig
from polyframe.trainer import BEST_DIR, TrainConfig

ENCODER_FILE = "encoder.json"
PRIMERS_FILE = "primers.json"
METRICS_FILE = "metrics.json"
PRIMER_POOL = 32


@dataclasses.dataclass
class Experiment:
    """Everything a run needs, as chosen in gin.

    Attributes:
        source: A data source (registered in `sources`) with `load()`.
        encoder: An `EventEncoder` (registered in `encoders`).
        model: Factory of the model, called with the encoder's `fields` and
            `num_voices` (e.g. `@EventRNN` with its cell and head bound).
        train: A `TrainConfig`.
        sample: A `SampleConfig`.
        augmentation: How the training split is augmented.
        distribution: The `tf.distribute` strategy: see
            `polyframe.distribution.make_strategy`.
    """

    source: Any = None
    encoder: Optional[EventEncoder] = None
    model: Optional[Callable[..., Any]] = None
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    sample: SampleConfig = dataclasses.field(default_factory=SampleConfig)
    augmentation: Augmentation = dataclasses.field(
        default_factory=Augmentation)
    distribution: str = "auto"

    def check(self) -> None:
        """Raises UserFacingError naming the first choice left unmade."""
        for name in ("source", "encoder", "model"):
            if getattr(self, name) is None:
                raise UserFacingError(
                    f"no {name} chosen: bind Experiment.{name} in a gin file "
                    "(see gin_configs/duration_rnn.gin).")


@dataclasses.dataclass
class EncodedSplit:
    """The pieces of one split that the encoder could represent.

    Attributes:
        sequences: The NoteSequences kept.
        pieces: Their encodings, in the same order.
    """

    sequences: List[music_pb2.NoteSequence]
    pieces: List[np.ndarray]


def encode_corpus(encoder: EventEncoder, corpus: Corpus,
                  cache_dir: Optional[str] = None) -> Dict[str, EncodedSplit]:
    """Fits the encoder on train and encodes every split.

    Pieces the encoder cannot represent are skipped and logged. The result
    (and the fitted vocabularies) is cached under `<cache_dir>/encoded/`,
    keyed by the exact pieces and the encoder's settings, so a rerun on the
    same data does not encode again.

    Args:
        encoder: The unfitted encoder; it is fitted (or loaded) here.
        corpus: The pieces.
        cache_dir: The cache root (default: see `cache.resolve_cache_dir`).

    Raises:
        UserFacingError: if train or valid is left empty.
    """
    splits = {split: corpus.split(split) for split in SPLITS}
    directory = os.path.join(
        cache.resolve_cache_dir(cache_dir), "encoded",
        encoded_cache.cache_key(splits, encoder)[:32])
    found = encoded_cache.read(directory, encoder)
    if found is not None:
        cached, description = found
        logging.info("reusing the encoded splits cached in %s", directory)
    else:
        cached = _encode_splits(encoder, corpus)
        description = encoder.describe()
        try:
            encoded_cache.write(directory, encoder, cached)
        except OSError as error:
            logging.warning("could not cache the encoded splits in %s: %s",
                            directory, error)
    encoded = {split: EncodedSplit([splits[split][i] for i in positions],
                                   list(pieces))
               for split, (positions, pieces) in cached.items()}
    counts = {s: len(e.pieces) for s, e in encoded.items()}
    events = {s: int(sum(len(x) for x in e.pieces))
              for s, e in encoded.items()}
    logging.info("encoded pieces %s, events %s; %s", counts, events,
                 description)
    if not counts["train"] or not counts["valid"]:
        raise UserFacingError(
            f"the data has {counts['train']} training and {counts['valid']} "
            "validation pieces after encoding; both need at least one. Use a "
            "larger corpus or other split fractions.")
    return encoded


def _encode_splits(encoder: EventEncoder,
                   corpus: Corpus) -> encoded_cache.Encoded:
    encoder.fit(corpus.train)
    result = {}
    for split in SPLITS:
        positions, pieces = [], []
        for position, sequence in enumerate(corpus.split(split)):
            try:
                pieces.append(encoder.encode(sequence))
                positions.append(position)
            except UnusableSequenceError as error:
                logging.info("skipped %s (%s): %s", sequence.id, split, error)
        skipped = len(corpus.split(split)) - len(pieces)
        if skipped:
            logging.info("%s: %d pieces the encoder cannot represent were "
                         "skipped", split, skipped)
        result[split] = (positions, pieces)
    return result


def prepare_output_dir(path: str, flag: str = "--model_dir") -> None:
    """Creates the directory `path` and checks that it can be written.

    Args:
        path: The directory.
        flag: The command-line flag that names it, for the error message.

    Raises:
        UserFacingError: if it cannot be created or written.
    """
    what = "model directory" if flag == "--model_dir" else "output directory"
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write_test")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise UserFacingError(
            f"cannot write the {what} {path!r}: {error.strerror or error}. "
            f"Choose another {flag}.") from None


def save_primers(model_dir: str, split: EncodedSplit,
                 length: int = 64) -> None:
    """Keeps the openings of validation pieces so sampling needs no data."""
    chosen = list(zip([s.id for s in split.sequences],
                      split.pieces))[:PRIMER_POOL]
    fileio.write_json(os.path.join(model_dir, PRIMERS_FILE), {
        "piece_ids": [piece_id for piece_id, _ in chosen],
        "events": [piece[:length].tolist() for _, piece in chosen]})


def load_primers(model_dir: str, num_samples: int,
                 primer_events: int) -> (np.ndarray, List[str]):
    """Returns `[num_samples, 1 + primer_events, V, F]` primers (START row
    first) cut from the saved validation openings, and their piece ids."""
    path = os.path.join(model_dir, PRIMERS_FILE)
    if not os.path.exists(path):
        raise UserFacingError(f"{path!r} is missing; {model_dir!r} is not a "
                              "complete polyframe model directory.")
    saved = fileio.read_json(path)
    usable = [(pid, np.asarray(e, np.int32))
              for pid, e in zip(saved["piece_ids"], saved["events"])
              if len(e) >= primer_events]
    if not usable:
        raise UserFacingError(
            f"no saved validation opening has {primer_events} events; lower "
            "SampleConfig.primer_events.")
    chosen = [usable[i % len(usable)] for i in range(num_samples)]
    primers = np.stack([pipeline.with_start(e[:primer_events])
                        for _, e in chosen])
    return primers, [pid for pid, _ in chosen]


def best_checkpoint_or_fail(model_dir: str) -> str:
    """Returns the best checkpoint's path, or says how to get one."""
    import tensorflow as tf  # Deferred: only needed once a model exists.
    path = tf.train.latest_checkpoint(os.path.join(model_dir, BEST_DIR))
    if not path:
        raise UserFacingError(
            f"no trained model in {model_dir!r} (no checkpoint under "
            f"{os.path.join(model_dir, BEST_DIR)!r}). Train one first: python "
            "-m polyframe.main --gin_file=... --model_dir=" + model_dir)
    return path


def elapsed_since(start: float) -> float:
    """Seconds since `start`, rounded for reports."""
    return round(time.time() - start, 1)


def write_metrics(model_dir: str, metrics: Dict[str, Any]) -> None:
    """Writes metrics.json atomically."""
    fileio.write_json(os.path.join(model_dir, METRICS_FILE), metrics)


def encoder_state_path(model_dir: str) -> str:
    return os.path.join(model_dir, ENCODER_FILE)


def save_encoder(model_dir: str, encoder: EventEncoder) -> None:
    fileio.write_json(encoder_state_path(model_dir), encoder.get_state())


def load_encoder_state(model_dir: str, encoder: EventEncoder) -> None:
    path = encoder_state_path(model_dir)
    if not os.path.exists(path):
        raise UserFacingError(f"{path!r} is missing; {model_dir!r} is not a "
                              "complete polyframe model directory.")
    encoder.set_state(json.loads(open(path).read()))
