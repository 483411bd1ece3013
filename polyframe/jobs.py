"""The jobs `polyframe.main` runs: train (then evaluate and sample), sample.

Nothing here reads flags or gin: the binary passes in a built `Experiment`
and the config text to save, so the jobs can be called from Python as well.
"""

import os
import time
from typing import Dict, List, Optional

import tensorflow as tf
from absl import logging

from polyframe import audio, experiment as exp_lib, fileio, midi_output
from polyframe.data import augmentation as augmentation_lib, pipeline
from polyframe.distribution import make_strategy
from polyframe.experiment import Experiment
from polyframe.sampling import Generator
from polyframe.trainer import Trainer

SAMPLES_DIR = "samples"


def train(experiment: Experiment, model_dir: str, config_text: str,
          write_operative_config=None) -> Dict[str, float]:
    """Trains, keeps the best checkpoint, and writes metrics.json.

    Args:
        experiment: The run's components and settings.
        model_dir: Where everything is written; an existing run there is
            resumed.
        config_text: The full gin config, saved as config.gin.
        write_operative_config: Optional callable returning the operative gin
            config text once the model is built.

    Returns:
        The metrics written to metrics.json.
    """
    started = time.time()
    experiment.check()
    corpus = experiment.source.load()
    augmentation = experiment.augmentation
    if augmentation.normalize_key:
        for split in ("train", "valid", "test"):
            setattr(corpus, split, [augmentation_lib.key_normalized(s)
                                    for s in corpus.split(split)])
    encoder = experiment.encoder
    encoded = exp_lib.encode_corpus(encoder, corpus)
    exp_lib.prepare_output_dir(model_dir)
    fileio.write_atomically(os.path.join(model_dir, "config.gin"),
                            config_text.encode("utf-8"))
    exp_lib.save_encoder(model_dir, encoder)
    exp_lib.save_primers(model_dir, encoded["valid"])

    config = experiment.train
    trainer = Trainer(
        config, model_dir, make_strategy(experiment.distribution),
        lambda: experiment.model(fields=encoder.fields,
                                 num_voices=encoder.num_voices))
    logging.info("model: %d parameters (%.3fM)",
                 trainer.model.num_parameters(),
                 trainer.model.num_parameters() / 1e6)
    if write_operative_config:
        fileio.write_atomically(
            os.path.join(model_dir, "operative_config.gin"),
            write_operative_config().encode("utf-8"))
    trainer.restore_latest()

    transposed = augmentation_lib.TransposedPieces(
        encoded["train"].sequences, encoded["train"].pieces, encoder,
        augmentation.transpose_semitones)

    def make_windows(rng):
        pieces = (transposed.draw(rng) if augmentation.transpose_semitones
                  else encoded["train"].pieces)
        return pipeline.training_windows(pieces, config.window_length,
                                         encoder.note_starts, rng)

    def batches(split):
        return lambda: pipeline.whole_pieces(encoded[split].pieces,
                                             config.eval_batch_size,
                                             encoder.note_starts)

    trainer.fit(make_windows, batches("valid"))
    best = trainer.restore_best()
    metrics = {"best_checkpoint": os.path.relpath(best, model_dir),
               "best_step": int(trainer.step),
               "num_parameters": trainer.model.num_parameters(),
               "train_seconds": exp_lib.elapsed_since(started)}
    for split in ("valid", "test"):
        if not encoded[split].pieces:
            logging.warning("no %s pieces: no %s metrics", split, split)
            continue
        for key, value in trainer.evaluate(batches(split)()).items():
            metrics[f"{split}_{key}"] = value
    exp_lib.write_metrics(model_dir, metrics)
    logging.info("best checkpoint %s: valid %.4f nats/note, test %.4f "
                 "nats/note", metrics["best_checkpoint"],
                 metrics.get("valid_nll_per_note", float("nan")),
                 metrics.get("test_nll_per_note", float("nan")))
    return metrics


def sample(experiment: Experiment, model_dir: str,
           output_dir: Optional[str] = None,
           model: Optional[tf.Module] = None) -> List[str]:
    """Writes MIDI and WAV samples from the best checkpoint of `model_dir`.

    Args:
        experiment: The run's components; its encoder gets the saved state.
        model_dir: A trained model directory.
        output_dir: Where the samples go (default `<model_dir>/samples`).
        model: An already restored model, to skip rebuilding it.

    Returns:
        The paths of the MIDI files written.
    """
    checkpoint = exp_lib.best_checkpoint_or_fail(model_dir)
    settings = experiment.sample
    primers, piece_ids = exp_lib.load_primers(
        model_dir, settings.num_samples, settings.primer_events)
    output_dir = output_dir or os.path.join(model_dir, SAMPLES_DIR)
    exp_lib.prepare_output_dir(output_dir, "--output_dir")
    encoder = experiment.encoder
    if model is None:
        exp_lib.load_encoder_state(model_dir, encoder)
        model = experiment.model(fields=encoder.fields,
                                 num_voices=encoder.num_voices)
        tf.train.Checkpoint(model=model).restore(checkpoint).expect_partial()
    sampler = settings.sampler or _default_sampler()
    started = time.time()
    events = Generator(model, sampler)(primers, settings.num_events,
                                       settings.seed)
    logging.info("generated %d samples of %d events in %.1fs",
                 len(events), events.shape[1], time.time() - started)
    paths = []
    for index, (piece, piece_id) in enumerate(zip(events, piece_ids)):
        sequence = encoder.decode(piece, qpm=settings.qpm)
        primer_end = float(encoder.event_start_times(
            piece, qpm=settings.qpm)[settings.primer_events])
        stem = os.path.join(output_dir, f"sample_{index:03d}")
        midi_output.write_midi(sequence, stem + ".mid",
                               primer_end_time=primer_end,
                               voice_names=encoder.voice_names)
        renderer = audio.render_wav(stem + ".mid", stem + ".wav",
                                    renderer=settings.renderer)
        logging.info("wrote %s.mid and .wav (renderer %s; primer: first %d "
                     "events of %s)", stem, renderer, settings.primer_events,
                     piece_id)
        paths.append(stem + ".mid")
    return paths


def _default_sampler():
    from polyframe.registries import SAMPLERS
    return SAMPLERS.get("temperature")()
