"""Preparing the data of a run: load the corpus, normalise, fit, encode.

This is the one place where a source's pieces become encoded splits; the
jobs in `polyframe.jobs` start from its result.
"""

import dataclasses
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from absl import logging
from note_seq.protobuf import music_pb2

from polyframe.data import augmentation as augmentation_lib
from polyframe.data import cache, encoded_cache, lazy_pieces
from polyframe.data.corpus import SPLITS, Corpus
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError

# Temporary encoded caches of this process (see `encode_corpus`).
_SCRATCH_CACHES: List[tempfile.TemporaryDirectory] = []


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
    """The corpus with every piece moved to C major / A minor (as each piece
    is read)."""
    for split in SPLITS:
        setattr(corpus, split, lazy_pieces.MappedPieces(
            corpus.split(split), augmentation_lib.key_normalized))
    return corpus


def split_pieces(corpus: Corpus,
                 split: str) -> Sequence[music_pb2.NoteSequence]:
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
    return corpus.split(split)


@dataclasses.dataclass
class EncodedSplit:
    """The pieces of one split that the encoder could represent.

    For a corpus read from a cache both sequences are read as they are
    iterated over, so a split larger than memory can be used; iterate over
    them rather than index them.

    Attributes:
        sequences: The NoteSequences kept.
        pieces: Their encodings, in the same order.
        lengths: Their numbers of events, in the same order.
    """

    sequences: Sequence[music_pb2.NoteSequence]
    pieces: Sequence[np.ndarray]
    lengths: np.ndarray


def encode_corpus(encoder: EventEncoder, corpus: Corpus,
                  cache_dir: Optional[str] = None,
                  fit: bool = True) -> Dict[str, EncodedSplit]:
    """Fits the encoder on train and encodes every split.

    Pieces the encoder cannot represent are skipped and logged. The result
    (and the fitted vocabularies) is cached under `<cache_dir>/encoded/`,
    keyed by the exact pieces and the encoder's settings, so a rerun on the
    same data does not encode again. Pieces are encoded one at a time into
    the cache and read back from it when used, so memory does not grow with
    the corpus; where the cache cannot be written, a temporary one that
    lasts as long as the process is used instead.

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
        logging.info("reusing the encoded splits cached in %s", directory)
    else:
        if fit:
            encoder.fit(splits["train"])
        found = _encode_into_cache(directory, encoder, splits)
    stored, description = found
    encoded = {split: EncodedSplit(
        lazy_pieces.subset(splits[split], stored[split].positions),
        stored[split].pieces,
        np.asarray(stored[split].lengths, np.int64))
        for split in SPLITS}
    counts = {s: len(e.pieces) for s, e in encoded.items()}
    events = {s: int(e.lengths.sum()) for s, e in encoded.items()}
    logging.info("encoded pieces %s, events %s; %s", counts, events,
                 description)
    if not counts["train"] or not counts["valid"]:
        raise UserFacingError(
            f"the data has {counts['train']} training and {counts['valid']} "
            "validation pieces after encoding; both need at least one. Use a "
            "larger corpus or other split fractions.")
    return encoded


def _encode_into_cache(directory: str, encoder: EventEncoder, splits):
    """Encodes `splits` into the cache at `directory` (or, if it cannot be
    written, into a temporary one) and reads it back."""
    try:
        encoded_cache.write(directory, encoder, splits)
    except OSError as error:
        logging.warning("could not cache the encoded splits in %s (%s); "
                        "using a temporary cache for this run", directory,
                        error)
        scratch = tempfile.TemporaryDirectory(prefix="polyframe-encoded-")
        _SCRATCH_CACHES.append(scratch)  # Removed when the process ends.
        directory = os.path.join(scratch.name, os.path.basename(directory))
        encoded_cache.write(directory, encoder, splits)
    found = encoded_cache.read(directory, None)
    if found is None:
        raise UserFacingError(
            f"the encoded splits cached in {directory} do not read back "
            "(another run replaced them?); run again.")
    return found


def encode_pieces(encoder: EventEncoder,
                  sequences: Sequence[music_pb2.NoteSequence],
                  split: str) -> EncodedSplit:
    """Encodes `sequences` in memory with the encoder's current state,
    skipping (and naming in the log) the pieces it cannot represent."""
    kept = list(encoded_cache.encode_each(encoder, sequences, split))
    positions = [position for position, _ in kept]
    pieces = [events for _, events in kept]
    return EncodedSplit(lazy_pieces.subset(sequences, positions), pieces,
                        np.asarray([len(p) for p in pieces], np.int64))
