"""Preparing the data of a run: load the corpus, normalise, fit, encode.

This is the one place where a source's pieces become encoded splits; the
jobs in `polyframe.jobs` start from its result.
"""

import dataclasses
import os
from typing import Any, Dict, List, Optional

import numpy as np
from absl import logging
from note_seq.protobuf import music_pb2

from polyframe.data import augmentation as augmentation_lib
from polyframe.data import cache, encoded_cache
from polyframe.data.corpus import SPLITS, Corpus, UnusableSequenceError
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError


def prepare(source, encoder: EventEncoder,
            augmentation: augmentation_lib.Augmentation,
            cache_dir: Optional[str] = None,
            fitted_encoder_state: Optional[Dict[str, Any]] = None
            ) -> Dict[str, "EncodedSplit"]:
    """Loads the source's corpus, normalises keys if asked, fits the encoder
    on train and encodes every split (see `encode_corpus`).

    Args:
        fitted_encoder_state: A learned encoder state to use as it is
            instead of fitting (a warm start keeps the vocabularies of the
            run it starts from); tokens it lacks are handled as the encoder
            handles them outside the training split.
    """
    corpus = source.load()
    if augmentation.normalize_key:
        corpus = key_normalized(corpus)
    if fitted_encoder_state is not None:
        encoder.set_state(fitted_encoder_state)
    return encode_corpus(encoder, corpus, cache_dir,
                         fit=fitted_encoder_state is None)


def key_normalized(corpus: Corpus) -> Corpus:
    """The corpus with every piece moved to C major / A minor."""
    for split in SPLITS:
        setattr(corpus, split, [augmentation_lib.key_normalized(s)
                                for s in corpus.split(split)])
    return corpus


def split_pieces(corpus: Corpus, split: str) -> List[music_pb2.NoteSequence]:
    """The pieces of `split`, or of every split for "all".

    Raises:
        UserFacingError: for another name.
    """
    if split == "all":
        return [s for name in SPLITS for s in corpus.split(name)]
    if split not in SPLITS:
        raise UserFacingError(
            f"unknown split {split!r}; choose from {', '.join(SPLITS)} or "
            "'all'.")
    return list(corpus.split(split))


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
                  cache_dir: Optional[str] = None,
                  fit: bool = True) -> Dict[str, EncodedSplit]:
    """Fits the encoder on train and encodes every split.

    Pieces the encoder cannot represent are skipped and logged. The result
    (and the fitted vocabularies) is cached under `<cache_dir>/encoded/`,
    keyed by the exact pieces and the encoder's settings, so a rerun on the
    same data does not encode again.

    Args:
        encoder: The unfitted encoder; it is fitted (or loaded) here.
        corpus: The pieces.
        cache_dir: The cache root (default: see `cache.resolve_cache_dir`).
        fit: False keeps the state `encoder` already holds (it is part of
            the cache key, so such encodings are cached apart).

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
        cached = _encode_splits(encoder, corpus, fit)
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


def encode_pieces(encoder: EventEncoder,
                  sequences: List[music_pb2.NoteSequence],
                  split: str) -> EncodedSplit:
    """Encodes `sequences` with the encoder's current state, skipping (and
    naming in the log) the pieces it cannot represent."""
    positions, pieces = _encode(encoder, sequences, split)
    return EncodedSplit([sequences[i] for i in positions], pieces)


def _encode_splits(encoder: EventEncoder, corpus: Corpus,
                   fit: bool = True) -> encoded_cache.Encoded:
    if fit:
        encoder.fit(corpus.train)
    return {split: _encode(encoder, corpus.split(split), split)
            for split in SPLITS}


def _encode(encoder: EventEncoder, sequences, split: str):
    """Positions of the encodable pieces and their encodings."""
    positions, pieces = [], []
    for position, sequence in enumerate(sequences):
        try:
            pieces.append(encoder.encode(sequence))
            positions.append(position)
        except UnusableSequenceError as error:
            logging.info("skipped %s (%s): %s", sequence.id, split, error)
    skipped = len(sequences) - len(pieces)
    if skipped:
        logging.info("%s: %d pieces the encoder cannot represent were "
                     "skipped", split, skipped)
    return positions, pieces
