"""The jobs `polyframe.main` runs: train (then sample), sample, harmonize.

Nothing here reads flags or gin: the binary passes in a built `Experiment`
(and, for sampling and harmonising, the user's music already read), so the
jobs can be called from Python as well.
"""

import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import tensorflow as tf
from absl import logging

from polyframe import (metrics as metrics_lib, musical_statistics, output,
                       piece_info, previews, provenance, sequence_model,
                       warm_start)
from polyframe.compose import Composer, Piece, constraint_chain
from polyframe.data import augmentation as augmentation_lib
from polyframe.data import lazy_pieces, pipeline, prepare
from polyframe.distribution import make_strategy, role_of
from polyframe.errors import UserFacingError
from polyframe.experiment import Experiment
from polyframe.model_dir import PRIMER_POOL, ModelDir, prepare_output_dir
from polyframe.music_input import GivenMusic
from polyframe.trainer import Trainer



def train(experiment: Experiment, model_dir: str, config_text: str,
          write_operative_config=None) -> Optional[Dict[str, float]]:
    """Trains, keeps the best checkpoint, and writes metrics.json.

    Under a multi-worker strategy every worker calls this; only the chief
    writes the model directory (the others train into a scratch directory
    that is removed) and returns metrics.

    Args:
        experiment: The run's components and settings.
        model_dir: Where everything is written; an existing run there is
            resumed.
        config_text: The full gin config, saved as config.gin.
        write_operative_config: Optional callable returning the operative gin
            config text once the model is built.

    Returns:
        The metrics written to metrics.json; None on a worker that is not
        the chief.
    """
    started = time.time()
    # First: a multi-worker strategy must exist before any TensorFlow op.
    strategy = make_strategy(experiment.distribution)
    role = role_of(strategy)
    experiment.check()
    warm = _warm_start(experiment, model_dir)
    run = ModelDir(model_dir)
    if role.is_chief:
        run.check_writable()
    encoder = experiment.encoder
    encoded = prepare.prepare(
        experiment.source, encoder, experiment.augmentation,
        fitted_encoder_state=warm.encoder_state if warm else None)
    if not role.is_chief:
        with tempfile.TemporaryDirectory(
                prefix=f"polyframe-{role.task.replace(':', '')}-") as scratch:
            _fit(experiment, encoded, run, strategy, warm,
                 writes=ModelDir(scratch))
        logging.info("%s finished; the chief writes the model directory",
                     role.task)
        return None
    run.prepare()
    run.write_config(config_text)
    run.save_encoder(encoder)
    valid = encoded["valid"]
    openings = lazy_pieces.first(zip(valid.sequences, valid.pieces),
                                 PRIMER_POOL)
    run.save_primers([s.id for s, _ in openings], [p for _, p in openings],
                     [piece_info.melody_of(s) for s, _ in openings])
    trainer, batches = _fit(experiment, encoded, run, strategy, warm,
                            writes=run,
                            write_operative_config=write_operative_config)
    model = trainer.model
    config = experiment.train
    steps_trained = int(trainer.step)
    best = trainer.restore_best()
    metrics = {"best_checkpoint": os.path.relpath(best, model_dir),
               "best_step": int(trainer.step),
               "steps_trained": steps_trained,
               "num_parameters": model.num_parameters(),
               "train_seconds": round(time.time() - started, 1),
               "time_profile": trainer.time_profile.report(),
               "provenance": provenance.describe(
                   {split: e.sequences for split, e in encoded.items()},
                   experiment.source, seed=config.seed)}
    for split in ("valid", "test"):
        if not encoded[split].pieces:
            logging.warning("no %s pieces: no %s metrics", split, split)
            continue
        scores = with_frames(encoder,
                             trainer.evaluate(batches(split)()))
        for key, value in scores.items():
            metrics[f"{split}_{key}"] = value
        metrics[f"{split}_musical_statistics"] = musical_statistics.summarize(
            [piece_statistics(encoder, piece)
             for piece in encoded[split].pieces])
    run.write_metrics(metrics)
    logging.info("best checkpoint %s: valid %.4f nats/note, test %.4f "
                 "nats/note", metrics["best_checkpoint"],
                 metrics.get("valid_nll_per_note", float("nan")),
                 metrics.get("test_nll_per_note", float("nan")))
    return metrics


def _fit(experiment: Experiment, encoded, run: ModelDir,
         strategy: tf.distribute.Strategy, warm, writes: ModelDir,
         write_operative_config=None):
    """Builds the trainer, resumes or warm-starts it, and trains; returns
    the trainer and the whole-piece batches of a split (a function of the
    split's name).

    `writes` is where checkpoints and TensorBoard logs go: the model
    directory for the chief, a scratch directory for the other workers.
    """
    config = experiment.train
    encoder = experiment.encoder
    trainer = Trainer(config, run, strategy, experiment.build_model,
                      writes=writes)
    model = trainer.model
    logging.info("model: %s, %d parameters (%.3fM)", type(model).__name__,
                 model.num_parameters(), model.num_parameters() / 1e6)
    if write_operative_config:
        run.write_operative_config(write_operative_config())
    resumed_step = trainer.restore_latest()
    if warm and not resumed_step:  # A resumed run keeps its own weights.
        warm.restore(model)

    framing = pipeline.framing_for(encoder, model.features,
                                   model.melody_voice)
    make_windows = training_epochs(encoded["train"], encoder, framing, config,
                                   experiment.augmentation)

    def batches(split):
        return lambda: pipeline.whole_pieces(encoded[split].pieces,
                                             config.eval_batch_size, framing)

    on_best = (_previewer(experiment, model, run) if writes is run
               else None)
    trainer.fit(make_windows, batches("valid"), on_best=on_best)
    return trainer, batches


def training_epochs(train: prepare.EncodedSplit, encoder, framing,
                    config, augmentation: augmentation_lib.Augmentation):
    """Returns the function that gives each epoch's training windows (see
    `Trainer.fit`): the pieces as they stream from the cache, transposed
    as `augmentation` says, cut and shuffled as `config` says."""
    transposed = augmentation_lib.TransposedPieces(
        train.sequences, train.pieces, encoder,
        augmentation.transpose_semitones)
    shapes = pipeline.piece_shapes(train.pieces, framing)

    def make_windows(rng):
        pieces = (transposed.epoch(rng) if augmentation.transpose_semitones
                  else lambda: iter(train.pieces))
        return pipeline.EpochWindows(pieces, shapes, config.window_length,
                                     framing, rng, config.shuffle_windows)

    return make_windows


def with_frames(encoder, values: Dict[str, float]) -> Dict[str, float]:
    """`values` plus the per-frame figures when the encoder's events are
    frames (`polyframe.metrics.per_frame`)."""
    if not encoder.events_are_frames:
        return values
    return {**values, **metrics_lib.per_frame(values)}


def _warm_start(experiment: Experiment,
                model_dir: str) -> Optional[warm_start.WarmStart]:
    """The run `TrainConfig.init_from` names, checked against this run's
    model before anything is written; None without one."""
    if not experiment.train.init_from:
        return None
    warm = warm_start.WarmStart(experiment.train.init_from, model_dir)
    warm.load_encoder(experiment.encoder)
    warm.check_model(experiment.build_model)
    return warm


def restore_model(experiment: Experiment, run: ModelDir):
    """Builds the model of a trained directory with its best weights."""
    checkpoint = run.best_checkpoint_or_fail()
    run.load_encoder(experiment.encoder)
    model = experiment.build_model()
    tf.train.Checkpoint(model=model).restore(checkpoint).expect_partial()
    return model


def sample(experiment: Experiment, model_dir: str,
           output_dir: Optional[str] = None,
           model: Optional[sequence_model.SequenceModel] = None,
           primer: Optional[GivenMusic] = None) -> List[str]:
    """Writes samples from the best checkpoint of `model_dir`.

    Without `primer` every sample continues a saved validation opening of
    `SampleConfig.primer_events` events (0: from silence); a model that
    harmonises a given melody harmonises saved validation melodies instead.
    With `primer` every sample continues the whole primer; voices it lacks
    are generated over its span.

    Args:
        experiment: The run's components; its encoder gets the saved state.
        model_dir: A trained model directory.
        output_dir: Where the samples go (default `<model_dir>/samples`).
        model: An already restored model, to skip rebuilding it.
        primer: The user's music to continue.

    Returns:
        The paths of the MIDI files written.
    """
    run = ModelDir(model_dir)
    run.best_checkpoint_or_fail()
    if model is None:
        model = restore_model(experiment, run)
    composer = make_composer(experiment, model)
    settings = experiment.sample
    started = time.time()
    if primer is not None:
        pieces = composer.around(primer, force_end=False, what="primer")
    elif composer.needs_melody:
        pieces = _harmonize_saved_melodies(composer, run)
    else:
        openings, piece_ids = run.load_primers(settings.num_samples,
                                               settings.primer_events)
        descriptions = [
            f"first {settings.primer_events} events of {pid}"
            if settings.primer_events else "silence" for pid in piece_ids]
        pieces = composer.continue_openings(
            openings, descriptions, run.load_piece_info(piece_ids))
    _log_pieces(pieces, time.time() - started)
    output_dir = output_dir or run.samples
    prepare_output_dir(output_dir, "--output_dir")
    return output.write_pieces(pieces, output_dir, "sample", experiment,
                               run)


def harmonize(experiment: Experiment, model_dir: str, melody: GivenMusic,
              output_dir: Optional[str] = None) -> List[str]:
    """Writes harmonisations of `melody`, best first by the model's NLL.

    The given voice is exactly the melody; the others are generated, and
    each piece ends where the melody ends.

    Returns:
        The paths of the MIDI files written.
    """
    run = ModelDir(model_dir)
    model = restore_model(experiment, run)
    composer = make_composer(experiment, model)
    if not composer.needs_melody:
        logging.info(
            "%s is causal: choosing a chord it cannot see where the melody "
            "goes next. A model that reads the melody ahead harmonises "
            "better: train one with --gin_file=gin_configs/harmonizer.gin.",
            type(model).__name__)
    started = time.time()
    pieces = composer.around(melody, force_end=True, what="melody")
    generated_voices = [v for v in range(experiment.encoder.num_voices)
                        if v not in melody.voices]
    composer.score(pieces, generated_voices)
    pieces.sort(key=lambda p: p.nll)
    _log_pieces(pieces, time.time() - started)
    output_dir = output_dir or run.harmonized
    prepare_output_dir(output_dir, "--output_dir")
    return output.write_pieces(pieces, output_dir, "harmonization",
                               experiment, run)


def evaluate(experiment: Experiment, model_dir: str,
             splits: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Scores the best checkpoint on the data `experiment.source` reads.

    The pieces are encoded with the run's own encoder state (never refitted;
    pieces it cannot hold are skipped and named in the log) and scored as
    training scores validation: the same NLL figures per event, token and
    note, `nll_end`, and the musical statistics of the pieces themselves.

    Args:
        experiment: The run's components, with the source to evaluate on.
        model_dir: A trained model directory.
        splits: Which splits to score: any of "train", "valid", "test" and
            "all" (every piece as one split). None: the source's own
            validation and test splits if it defines its splits (a JSB
            file, the bundled chorales), else all of it.

    Returns:
        What is written to `MODEL_DIR/evaluations/<name>.json`: per split
        `<split>_<metric>`, the provenance and the data's description.
    """
    run = ModelDir(model_dir)
    model = restore_model(experiment, run)
    encoder = experiment.encoder
    corpus = experiment.source.load()
    if experiment.augmentation.normalize_key:
        corpus = prepare.key_normalized(corpus)
    if splits is None:
        splits = (("valid", "test") if getattr(experiment.source,
                                                "defines_splits", False)
                  else ("all",))
    pieces_by_split = {split: prepare.split_pieces(corpus, split)
                       for split in splits}
    framing = pipeline.framing_for(encoder, model.features,
                                   model.melody_voice)
    score = tf.function(lambda batch: model.nll_sums(batch, training=False),
                        reduce_retracing=True)
    batch_size = experiment.train.eval_batch_size
    result: Dict[str, Any] = {
        "model_dir": os.path.abspath(model_dir),
        "checkpoint": os.path.relpath(run.best_checkpoint_or_fail(),
                                      model_dir),
        "provenance": provenance.describe(pieces_by_split,
                                          experiment.source)}
    for split, sequences in pieces_by_split.items():
        kept = prepare.encode_pieces(encoder, sequences, split)
        if not kept.pieces:
            logging.warning("%s: no piece the encoder can hold; not scored",
                            split)
            continue
        totals: Dict[str, float] = {}
        for batch in pipeline.whole_pieces(kept.pieces, batch_size, framing):
            for key, value in score(batch).items():
                totals[key] = totals.get(key, 0.0) + float(value)
        scores = with_frames(encoder, metrics_lib.from_sums(totals))
        for key, value in scores.items():
            result[f"{split}_{key}"] = value
        result[f"{split}_pieces_scored"] = len(kept.pieces)
        result[f"{split}_pieces_skipped"] = len(sequences) - len(kept.pieces)
        result[f"{split}_musical_statistics"] = musical_statistics.summarize(
            [piece_statistics(encoder, piece) for piece in kept.pieces])
    return result


def export(experiment: Experiment, model_dir: str,
           export_dir: Optional[str] = None) -> str:
    """Writes the best checkpoint as a SavedModel (see `polyframe.export`).

    Generation in the export uses the same constraints as `sample`.

    Args:
        experiment: The run's components; its encoder gets the saved state.
        model_dir: A trained model directory.
        export_dir: Where the SavedModel goes (default `<model_dir>/export`).

    Returns:
        The export directory.
    """
    from polyframe import export as export_lib  # Only this job needs it.
    run = ModelDir(model_dir)
    model = restore_model(experiment, run)
    constraints = constraint_chain(experiment.encoder, experiment.sample)
    started = time.time()
    path = export_lib.export(model, experiment.encoder, run.encoder_state,
                             export_dir or run.export, constraints)
    logging.info("exported %s to %s in %.1fs", type(model).__name__, path,
                 time.time() - started)
    return path


def _harmonize_saved_melodies(composer: Composer,
                              run: ModelDir) -> List[Piece]:
    """Harmonises saved validation melodies, one per sample; a melody the
    encoder cannot hold exactly (a duration only validation has) is skipped
    and logged."""
    pieces, skipped = [], []
    for piece_id, melody in run.load_melodies():
        if len(pieces) == composer.settings.num_samples:
            break
        try:
            pieces += composer.around(piece_info.given_from_saved(piece_id, melody),
                                      force_end=True, what="melody", count=1)
        except UserFacingError as error:
            skipped.append(piece_id)
            logging.info("skipped the melody of %s: %s", piece_id, error)
    if not pieces:
        raise UserFacingError(
            f"none of the {len(skipped)} saved validation melodies can be "
            "held by the encoder; harmonise your own with --mode=harmonize "
            "--melody=...")
    return pieces


def _previewer(experiment: Experiment, model, run: ModelDir):
    """The TensorBoard preview for this run, or None if it is off."""
    every = experiment.train.preview_every_minutes
    if not every or not previews.Previewer.applies_to(model):
        return None
    settings = experiment.sample
    return previews.Previewer(model, experiment.encoder, run, settings,
                              settings.sampler or default_sampler(), every)


def make_composer(experiment: Experiment, model) -> Composer:
    """Generates with `model` as the experiment's sample settings say (its
    sampler, or the default one)."""
    settings = experiment.sample
    sampler = settings.sampler or default_sampler()
    return Composer(model, experiment.encoder, settings, sampler)


def _log_pieces(pieces: Sequence[Piece], seconds: float) -> None:
    ended = sum(p.ended_by_end for p in pieces)
    logging.info("generated %d pieces in %.1fs (%d ended by END, %d by the "
                 "max_events limit)", len(pieces), seconds, ended,
                 len(pieces) - ended)


def piece_statistics(encoder, events) -> Dict[str, float]:
    """The musical statistics of an encoded piece, as its samples get them
    (decoded by the same encoder)."""
    return musical_statistics.sequence_statistics(
        encoder.decode(events, qpm=60.0), encoder, qpm=60.0)


def default_sampler():
    from polyframe.registries import SAMPLERS
    return SAMPLERS.get("temperature")()
