"""Writing generated pieces: every chosen format, `samples.json`, the gallery.

Samples, primer continuations and harmonisations all leave through here, so
they get the same files: the writers chosen in `SampleConfig.writers` (all
formats by default), a `samples.json` that says per piece what it starts
from, how long it is and how it ended, and an `index.html` gallery.
"""

import math
import os
from typing import Dict, List, Optional, Sequence

from absl import logging

from polyframe import fileio, musical_statistics
from polyframe.compose import Piece
from polyframe.experiment import Experiment
from polyframe.model_dir import ModelDir

MANIFEST = "samples.json"


def write_pieces(pieces: Sequence[Piece], output_dir: str, prefix: str,
                 experiment: Experiment, run: ModelDir) -> List[str]:
    """Writes every piece in every chosen format.

    Args:
        pieces: The pieces, in the order they are numbered.
        output_dir: The folder (created by the caller).
        prefix: File name prefix, e.g. "sample" -> `sample_000.mid`.
        experiment: For the encoder's voice names and the sample settings.
        run: The model directory, for the run's metrics and config.

    Returns:
        The MIDI paths written.
    """
    from polyframe import writer as writer_lib  # Pulls in music21, verovio.
    settings = experiment.sample
    writers = settings.writers
    if writers is None:
        writers = writer_lib.make_writers(
            writer_lib.DEFAULT_WRITERS,
            {"wav": {"renderer": settings.renderer}})
    encoder = experiment.encoder
    generated, statistics = [], []
    for index, piece in enumerate(pieces):
        stem = os.path.join(output_dir, f"{prefix}_{index:03d}")
        metadata = piece.metadata()
        metadata["seed"] = settings.seed
        metadata["index"] = index
        statistics.append(musical_statistics.sequence_statistics(
            piece.sequence, encoder, qpm=settings.qpm))
        metadata["statistics"] = _rounded(statistics[-1])
        generated.append(writer_lib.GeneratedPiece(
            sequence=piece.sequence, stem=stem,
            voice_names=experiment.encoder.voice_names,
            primer_end_time=piece.primer_end_time or None,
            time_signature=piece.time_signature,
            key_fifths=piece.key_fifths,
            pickup_quarters=piece.pickup_quarters,
            title=f"{prefix.capitalize()} {index + 1}",
            metadata=metadata))
    written = writer_lib.write_all(writers, generated)
    metrics = run.read_metrics()
    summary = {"pieces": musical_statistics.summarize(statistics),
               "validation": metrics.get("valid_musical_statistics", {})}
    fileio.write_json(os.path.join(output_dir, MANIFEST), {
        "statistics": summary,
        "pieces": [dict(p.metadata, files=sorted(
            os.path.basename(f) for f in written.get(p.stem, [])))
            for p in generated]})
    _log_statistics(summary)
    for piece in generated:
        logging.info("wrote %s.* (%s)", piece.stem, ", ".join(
            f"{k}: {v}" for k, v in piece.metadata.items()
            if k in ("primer", "num_events", "ended_by",
                     "nll_per_generated_note")))
    from polyframe import gallery  # Deferred like the writers.
    gallery.write_gallery(output_dir, generated, {
        "config": os.path.basename(run.root.rstrip("/")),
        "metrics": metrics, "statistics": summary})
    return [p.stem + ".mid" for p in generated]


def _rounded(values: Dict[str, float]) -> Dict[str, Optional[float]]:
    """JSON-ready statistics: 4 decimals, NaN (nothing to measure) as null."""
    return {k: (round(v, 4) if math.isfinite(v) else None)
            for k, v in values.items()}


def _log_statistics(summary: Dict[str, Dict]) -> None:
    """One line: each statistic's mean over the pieces, with the validation
    pieces' 10th-90th percentile range where the run recorded it."""
    parts = []
    for name, values in summary["pieces"].items():
        reference = summary["validation"].get(name)
        parts.append(f"{name} {values['mean']:.3g}" + (
            f" ({reference['p10']:.3g}-{reference['p90']:.3g})"
            if reference else ""))
    logging.info("musical statistics, mean (validation 10th-90th "
                 "percentile): %s", ", ".join(parts))
