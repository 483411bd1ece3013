"""The layout of a model directory: every path a run reads or writes.

    config.gin            every binding the run was started with
    operative_config.gin  the bindings that were actually used
    encoder.json          the vocabularies the encoder learned
    primers.json          openings (and melodies) of validation pieces
    checkpoints/          the latest state, for resuming
    best/                 the best-on-validation weights
    tensorboard/          train and valid scalars (and sample previews)
    metrics.json          NLL of the best checkpoint on valid and test
    samples/              generated pieces and their gallery page
    harmonized/           harmonisations of a given melody
    evaluations/          `--mode=evaluate` results, one JSON per data set
    export/               the SavedModel of `--mode=export`

Nothing else in polyframe spells these names.
"""

import fractions
import json
import os
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from polyframe import fileio
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError

PRIMER_POOL = 32
PRIMER_LENGTH = 64


class ModelDir:
    """One run's directory.

    Args:
        root: The directory (`--model_dir`).
    """

    def __init__(self, root: str):
        self.root = root

    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def config(self) -> str:
        return self._path("config.gin")

    @property
    def operative_config(self) -> str:
        return self._path("operative_config.gin")

    @property
    def encoder_state(self) -> str:
        return self._path("encoder.json")

    @property
    def primers(self) -> str:
        return self._path("primers.json")

    @property
    def metrics(self) -> str:
        return self._path("metrics.json")

    @property
    def checkpoints(self) -> str:
        return self._path("checkpoints")

    @property
    def best(self) -> str:
        return self._path("best")

    @property
    def tensorboard(self) -> str:
        return self._path("tensorboard")

    @property
    def samples(self) -> str:
        return self._path("samples")

    @property
    def harmonized(self) -> str:
        return self._path("harmonized")

    @property
    def evaluations(self) -> str:
        return self._path("evaluations")

    @property
    def export(self) -> str:
        return self._path("export")

    def check_writable(self) -> None:
        """Says in one line, before any data is read, if the directory could
        not be created or written; creates nothing."""
        existing = os.path.abspath(self.root)
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing) or not os.access(existing,
                                                        os.W_OK | os.X_OK):
            reason = ("is not a directory" if not os.path.isdir(existing)
                      else "is not writable")
            raise UserFacingError(
                f"cannot write the model directory {self.root!r}: "
                f"{existing!r} {reason}. Choose another --model_dir.")

    def prepare(self) -> None:
        """Creates the directory; says so in one line if it cannot."""
        prepare_output_dir(self.root)

    def best_checkpoint_or_fail(self) -> str:
        """Returns the best checkpoint's path, or says how to get one."""
        import tensorflow as tf  # Deferred: only needed once a model exists.
        path = tf.train.latest_checkpoint(self.best)
        if not path:
            raise UserFacingError(
                f"no trained model in {self.root!r} (no checkpoint under "
                f"{self.best!r}). Train one first: python -m polyframe.main "
                f"--gin_file=... --model_dir={self.root}")
        return path

    def write_config(self, text: str) -> None:
        fileio.write_atomically(self.config, text.encode("utf-8"))

    def write_operative_config(self, text: str) -> None:
        fileio.write_atomically(self.operative_config, text.encode("utf-8"))

    def read_config(self) -> str:
        return self._read_text(self.config)

    def save_encoder(self, encoder: EventEncoder) -> None:
        fileio.write_json(self.encoder_state, encoder.get_state())

    def load_encoder(self, encoder: EventEncoder) -> None:
        """Restores what the encoder learned in training."""
        encoder.set_state(json.loads(self._read_text(self.encoder_state)))

    def write_metrics(self, metrics: Dict[str, Any]) -> None:
        fileio.write_json(self.metrics, metrics)

    def read_metrics(self) -> Dict[str, Any]:
        """The run's metrics, or {} before training finished."""
        if not os.path.exists(self.metrics):
            return {}
        return fileio.read_json(self.metrics)

    def save_primers(self, piece_ids: Sequence[str],
                     pieces: Sequence[np.ndarray],
                     melodies: Sequence[Dict[str, Any]]) -> None:
        """Keeps openings and melodies of validation pieces, so sampling and
        harmonising need no data."""
        chosen = list(zip(piece_ids, pieces, melodies))[:PRIMER_POOL]
        fileio.write_json(self.primers, {
            "piece_ids": [piece_id for piece_id, _, _ in chosen],
            "events": [piece[:PRIMER_LENGTH].tolist()
                       for _, piece, _ in chosen],
            "melodies": [melody for _, _, melody in chosen]})

    def load_primers(self, num_samples: int,
                     primer_events: int) -> Tuple[List[np.ndarray], List[str]]:
        """Returns `num_samples` openings of `primer_events` events each (no
        START row), cycling through the saved ones, and their piece ids."""
        saved = self._read_primers()
        usable = [(pid, np.asarray(e, np.int32))
                  for pid, e in zip(saved["piece_ids"], saved["events"])
                  if len(e) >= primer_events]
        if not usable:
            raise UserFacingError(
                f"no saved validation opening has {primer_events} events; "
                "lower SampleConfig.primer_events.")
        chosen = [usable[i % len(usable)] for i in range(num_samples)]
        return [e[:primer_events] for _, e in chosen], [p for p, _ in chosen]

    def load_melodies(self) -> List[Tuple[str, Dict[str, Any]]]:
        """The saved validation melodies as `(piece id, melody)` pairs."""
        saved = self._read_primers()
        return list(zip(saved["piece_ids"], saved.get("melodies", [])))

    def load_piece_info(self, piece_ids: Sequence[str]) -> List[Dict[str, Any]]:
        """Time signature, key and pickup of saved validation pieces, by id, as
        keyword arguments of `polyframe.compose.Piece`."""
        by_id = dict(self.load_melodies())
        info = []
        for piece_id in piece_ids:
            melody = by_id.get(piece_id, {})
            entry = {}
            if "time_signature" in melody:
                entry["time_signature"] = tuple(melody["time_signature"])
            if "key_fifths" in melody:
                entry["key_fifths"] = melody["key_fifths"]
            if "pickup" in melody:
                entry["pickup_quarters"] = fractions.Fraction(
                    melody["pickup"])
            info.append(entry)
        return info

    def _read_primers(self) -> Dict[str, Any]:
        return json.loads(self._read_text(self.primers))

    def _read_text(self, path: str) -> str:
        if not os.path.exists(path):
            raise UserFacingError(
                f"{path!r} is missing; {self.root!r} is not a complete "
                "polyframe model directory.")
        with open(path, encoding="utf-8") as handle:
            return handle.read()


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
