"""Sample previews in TensorBoard while a model trains.

At a new best checkpoint, at most once every few minutes, one short piece is
generated from a saved validation opening and logged as audio and as a
piano-roll image (TensorBoard's `samples` run), so `tensorboard --logdir`
shows how the samples improve. The generation loop is traced once and reused:
it reads the model's variables, which training keeps updating.
"""

import io
import os
import tempfile
import time
import wave

import numpy as np
import tensorflow as tf
from absl import logging

from polyframe.compose import Composer
from polyframe.model_dir import ModelDir
from polyframe.sampling import SampleConfig
from polyframe.sequence_model import MELODY

PREVIEW_EVENTS = 48
PRIMER_EVENTS = 8


class Previewer:
    """Logs a preview at a new best checkpoint, rate-limited.

    Args:
        model: The model being trained.
        encoder: Its fitted encoder.
        run: The model directory (for the primers and TensorBoard).
        settings: The run's sample settings (sampler, tempo).
        sampler: The sampler to draw with.
        every_minutes: Least time between two previews.
    """

    def __init__(self, model, encoder, run: ModelDir, settings: SampleConfig,
                 sampler, every_minutes: float):
        self._every = 60.0 * every_minutes
        self._last = None
        self._run = run
        self._encoder = encoder
        self._settings = settings
        preview_settings = SampleConfig(
            num_samples=1, primer_events=PRIMER_EVENTS,
            max_events=PREVIEW_EVENTS, seed=settings.seed, qpm=settings.qpm)
        self._composer = Composer(model, encoder, preview_settings, sampler)
        self._writer = tf.summary.create_file_writer(
            os.path.join(run.tensorboard, "samples"))

    @staticmethod
    def applies_to(model) -> bool:
        """Melody models generate around a melody; they get no preview."""
        return MELODY not in model.features

    def __call__(self, step: int) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self._every:
            return
        self._last = now
        started = time.time()
        openings, piece_ids = self._run.load_primers(1, PRIMER_EVENTS)
        piece = self._composer.continue_openings(
            openings, [f"first {PRIMER_EVENTS} events of {piece_ids[0]}"])[0]
        audio, sample_rate, image = self._render(piece)
        with self._writer.as_default(step=step):
            tf.summary.audio("sample", audio[None, :, None], sample_rate,
                             step=step)
            tf.summary.image("piano_roll", image[None], step=step)
        self._writer.flush()
        logging.info("TensorBoard preview at step %d (%.1fs)", step,
                     time.time() - started)

    def _render(self, piece):
        from polyframe import writer as writer_lib  # music21, matplotlib
        writers = writer_lib.make_writers(
            ("midi", "wav", "piano_roll"), {"wav": {"renderer": "builtin"}})
        with tempfile.TemporaryDirectory() as scratch:
            stem = os.path.join(scratch, "preview")
            writer_lib.write_all(writers, [writer_lib.GeneratedPiece(
                sequence=piece.sequence, stem=stem,
                voice_names=self._encoder.voice_names,
                primer_end_time=piece.primer_end_time or None)])
            with wave.open(stem + ".wav", "rb") as handle:
                sample_rate = handle.getframerate()
                frames = handle.readframes(handle.getnframes())
                channels = handle.getnchannels()
            with open(stem + ".png", "rb") as handle:
                image = tf.io.decode_png(handle.read(), channels=3)
        audio = np.frombuffer(io.BytesIO(frames).read(), np.int16)
        audio = audio.reshape(-1, channels).mean(axis=1) / 32768.0
        return tf.constant(audio, tf.float32), sample_rate, image
