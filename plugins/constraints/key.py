"""Keeping to a key: pitches outside it cost a set number of nats.

A model that reads only a window of the past can wander from the key its
piece began in, most of all one without voices (the note stream), whose
whole pieces sound more and more notes outside their key as they go on.
`in_key` makes every pitch outside the key less likely by `penalty` nats
(its logit is lowered by `penalty` before the sampler's temperature), so
the model can still write the chromatic notes a chorale has, only fewer.

The key is the one given (`key = 'D minor'`), or else the one that fits
the notes so far best, estimated as `polyframe.musical_statistics` does for
a whole piece: the Krumhansl-Kessler profile that correlates best with the
pitch-class histogram of every pitch sounded so far, primer included,
counted once per event that sounds it (so per grid step for the grid and the
note stream, per note for the duration encoder). Before `min_notes` pitches
have sounded it changes nothing. "In the key" is
`musical_statistics.Key.scale`: the major scale, or the natural minor scale
with the raised sixth and seventh degrees.

    SampleConfig.constraints = [@constraints.in_key]
    constraints.in_key.penalty = 1.0
"""

from typing import Optional

import numpy as np
import tensorflow as tf

from polyframe import checks, musical_statistics
from polyframe.constraint import Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS

_OWNER = "constraints.in_key"


@CONSTRAINTS.register("in_key")
class InKey(Constraint):
    """Lowers the logits of pitches outside the piece's key.

    Args:
        encoder: An encoder whose first-field tokens sound pitches
            (`EventEncoder.sounding_pitches`).
        penalty: Nats taken from the logit of each token that sounds a pitch
            outside the key, >= 0.
        key: The key to keep to, e.g. 'D minor', 'F# major'; None estimates
            it from the notes so far.
        min_notes: With `key` None, how many pitches must have sounded (each
            voice's pitch in each event counts once) before the estimate is
            trusted.

    Raises:
        ConfigurationError: `penalty` is not a number >= 0, `key` names no
            key, `min_notes` is not a whole number >= 1, or no token of the
            encoder sounds a pitch.
    """

    def __init__(self, encoder: EventEncoder, penalty: float = 1.0,
                 key: Optional[str] = None, min_notes: int = 8):
        self._penalty = checks.real(_OWNER, "penalty", penalty, minimum=0.0)
        self._min_notes = checks.integer(_OWNER, "min_notes", min_notes,
                                         minimum=1)
        pitches = encoder.sounding_pitches()
        if not (pitches >= 0).any():
            raise checks.ConfigurationError(
                f"{_OWNER} needs an encoder whose tokens sound pitches; "
                f"{type(encoder).__name__} has none.")
        self._fixed_key = None
        if key is not None:
            try:
                parsed = musical_statistics.parse_key(key)
            except ValueError as error:
                raise checks.ConfigurationError(
                    f"{_OWNER}.key: {error}") from None
            self._fixed_key = musical_statistics.KEYS.index(parsed)
        self._pitch_classes = tf.constant(np.where(pitches >= 0, pitches % 12,
                                                   -1), tf.int32)
        profiles = musical_statistics.key_profiles()
        profiles -= profiles.mean(axis=1, keepdims=True)
        profiles /= np.linalg.norm(profiles, axis=1, keepdims=True)
        self._profiles = tf.constant(profiles, tf.float32)
        self._scales = tf.constant(musical_statistics.key_scales())

    def initial_state(self, batch):
        """The pitch-class histogram of the notes so far, `[batch, 12]`."""
        return tf.zeros([batch, 12], tf.float32)

    def update(self, state, event):
        classes = tf.gather(self._pitch_classes, event[:, :, 0])
        counts = tf.one_hot(classes, 12, dtype=tf.float32)  # -1: all zero
        return state + tf.reduce_sum(counts, axis=1)

    def keys(self, histogram: tf.Tensor) -> tf.Tensor:
        """The index in `musical_statistics.KEYS` of each row's key, int32
        `[batch]`, or -1 where it is not yet known."""
        if self._fixed_key is not None:
            return tf.fill(tf.shape(histogram)[:1], self._fixed_key)
        centred = histogram - tf.reduce_mean(histogram, axis=1, keepdims=True)
        # The norm is a common factor of a row's scores: the argmax is the
        # correlation's without it.
        scores = tf.matmul(centred, self._profiles, transpose_b=True)
        known = (tf.reduce_sum(histogram, axis=1) >= self._min_notes) & (
            tf.reduce_max(tf.abs(centred), axis=1) > 0)
        return tf.where(known, tf.argmax(scores, axis=1, output_type=tf.int32),
                        -1)

    def __call__(self, logits, context: StepContext):
        if context.field != 0 or self._penalty == 0:
            return logits
        keys = self.keys(context.state)
        in_scale = tf.gather(self._scales, tf.maximum(keys, 0))  # [batch, 12]
        token_in_scale = tf.gather(in_scale, tf.maximum(self._pitch_classes, 0),
                                   axis=1)  # [batch, vocab]
        outside = (~token_in_scale & (self._pitch_classes >= 0)[None]
                   & (keys >= 0)[:, None])
        return logits - self._penalty * tf.cast(outside, logits.dtype)
