"""Voice leading: no parallel fifths or octaves between generated voices.

A model trained on a few hundred chorales still moves two voices in parallel
fifths or octaves far more often than Bach (see
`polyframe.musical_statistics`). `no_parallels` removes those moves at the
draw: when a voice's pitch is drawn, every pitch that would move in the same
direction as a voice above it (drawn earlier in the same event) from a
perfect fifth or octave (or unison) into the same interval is forbidden.
Holding the note, a rest, and every other pitch stay allowed, so the rule
never leaves nothing to draw. Given voices forced later in the chain (a
melody to harmonise) are never overridden.

    SampleConfig.constraints = [@constraints.no_parallels]
"""

import tensorflow as tf

from polyframe.constraint import NEVER, Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS

# Interval classes (semitones modulo the octave) that must not move in
# parallel: unison/octave and perfect fifth.
_PERFECT = (0, 7)
_SILENT = -1


@CONSTRAINTS.register("no_parallels")
class NoParallels(Constraint):
    """Forbids parallel fifths and octaves against the voices above.

    Args:
        encoder: An encoder whose first field holds pitches (`pitch_id`)
            and, if it has one, a continuation token (HOLD).
    """

    def __init__(self, encoder: EventEncoder):
        pitches = encoder.sounding_pitches()  # -1 (_SILENT) for no pitch
        continuation = encoder.continuation_tokens()
        self._hold = -1 if continuation is None else int(continuation[0])
        if self._hold >= 0:
            pitches[self._hold] = _SILENT  # Resolved from the last tokens.
        self._pitches = tf.constant(pitches)

    def _pitch(self, tokens: tf.Tensor) -> tf.Tensor:
        return tf.gather(self._pitches, tokens)

    def __call__(self, logits, context: StepContext):
        if context.field != 0 or context.voice == 0:
            return logits
        if context.last_tokens is None:
            raise ValueError("no_parallels needs a generation loop that tracks "
                             "what each voice sounds (StepContext.last_tokens)")
        voice = context.voice
        before = self._pitch(context.last_tokens)  # [batch, voices]
        drawn = context.drawn[:, :voice, 0]
        held = tf.equal(drawn, self._hold)
        above_now = tf.where(held, before[:, :voice], self._pitch(drawn))
        above_before = before[:, :voice]
        own_before = before[:, voice]  # [batch]
        candidates = self._pitches[None, None, :]  # [1, 1, vocab]
        sounding = ((above_before[..., None] >= 0) &
                    (above_now[..., None] >= 0) &
                    (own_before[:, None, None] >= 0) & (candidates >= 0))
        moves_above = (above_now - above_before)[..., None]
        moves_own = candidates - own_before[:, None, None]
        same_direction = moves_above * moves_own > 0
        interval_before = tf.math.floormod(
            above_before - own_before[:, None], 12)[..., None]
        interval_now = tf.math.floormod(above_now[..., None] - candidates, 12)
        perfect = tf.reduce_any(tf.stack(
            [tf.equal(interval_before, p) for p in _PERFECT]), axis=0)
        parallel = (sounding & same_direction & perfect &
                    tf.equal(interval_before, interval_now))
        forbidden = tf.reduce_any(parallel, axis=1)  # [batch, vocab]
        return logits + tf.cast(forbidden, logits.dtype) * NEVER
