"""No voice stuck on one pitch: a limit on how long a pitch may go on.

A model whose likeliest next step is "the same again" can hold or repeat one
pitch in a voice for bars, and a low temperature makes that likelier. Bach's
voices rarely stay on one pitch for more than two bars (the longest such run
in the validation chorales is 16 quarter notes, and the median piece's
longest is about 5; see `polyframe.musical_statistics`). `max_run` makes a
voice leave its pitch once it has sounded it, held or struck again, for
`quarters` quarter notes: at the next event the voice must take another
pitch or rest. A run therefore lasts at most `quarters` plus the time to the
next event (on a grid, exactly at most `quarters`); a note drawn long enough
to reach past it is cut at that event. Rests are never limited, and given
voices forced later in the chain (a melody to harmonise) are never
overridden.

    SampleConfig.constraints = [@constraints.no_parallels,
                                @constraints.max_run]
    constraints.max_run.quarters = 8
"""

import math

import numpy as np
import tensorflow as tf

from polyframe import checks
from polyframe.constraint import NEVER, Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS

_OWNER = "constraints.max_run"


@CONSTRAINTS.register("max_run")
class MaxRun(Constraint):
    """Makes a voice leave a pitch it has sounded for `quarters` quarters.

    Args:
        encoder: An encoder with a clock and pitch tokens in its first field
            (`pitch_id`), such as the duration and grid encoders.
        quarters: The longest time, in quarter notes, a voice may sound one
            pitch before it must move.

    Raises:
        ConfigurationError: `quarters` is not a real number > 0, or the
            encoder keeps no time or has no pitch tokens.
    """

    def __init__(self, encoder: EventEncoder, quarters: float = 8.0):
        quarters = checks.real(_OWNER, "quarters", quarters, above=0.0)
        clock = encoder.clock()
        if clock is None:
            raise checks.ConfigurationError(
                f"{_OWNER} needs an encoder that keeps time; "
                f"{type(encoder).__name__} does not. Leave it out of "
                "SampleConfig.constraints.")
        vocab = encoder.fields[0].vocab_size
        is_pitch = np.zeros(vocab, bool)
        for pitch in range(128):
            token = encoder.pitch_id(pitch)
            if token is not None and 0 <= token < vocab:
                is_pitch[token] = True
        if not is_pitch.any():
            raise checks.ConfigurationError(
                f"{_OWNER} needs an encoder whose first field holds pitches; "
                f"{type(encoder).__name__}'s does not. Leave it out of "
                "SampleConfig.constraints.")
        self._is_pitch = tf.constant(is_pitch)
        self._limit_ticks = math.ceil(quarters * clock.ticks_per_quarter)
        continuation = encoder.continuation_tokens()
        self._hold = None if continuation is None else int(continuation[0])

    def __call__(self, logits, context: StepContext):
        if context.field != 0:
            return logits
        if context.run_start is None:
            raise ValueError(f"{_OWNER} needs a generation loop that tracks "
                             "since when each voice sounds its pitch "
                             "(StepContext.run_start)")
        voice = context.voice
        sounding = context.last_tokens[:, voice]
        stuck = ((context.time - context.run_start[:, voice] >=
                  self._limit_ticks) & tf.gather(self._is_pitch, sounding))
        vocab = tf.shape(logits)[-1]
        forbidden = tf.one_hot(sounding, vocab, dtype=logits.dtype)
        if self._hold is not None:
            forbidden = tf.maximum(forbidden, tf.one_hot(
                self._hold, vocab, dtype=logits.dtype)[None, :])
        return logits + forbidden * tf.cast(stuck, logits.dtype)[:, None] * \
            NEVER
