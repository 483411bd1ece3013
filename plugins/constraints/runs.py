"""No voice stuck on one pitch: a limit on how long a pitch may go on.

A model whose likeliest next step is "the same again" can hold or repeat one
pitch in a voice for bars, and a low temperature makes that likelier. Bach's
voices rarely stay on one pitch for more than two bars (the longest such run
in the validation chorales is 16 quarter notes, and the median piece's
longest is about 5; see `polyframe.musical_statistics`). `max_run` keeps
every run of one pitch (held, or struck again without a rest between)
within `quarters` quarter notes:

* a voice does not strike its pitch again, or hold it, where that would
  take the run past the limit: it takes another pitch or rests;
* where a token gives a note's length (the duration encoder), no note is
  drawn long enough to take its run past the limit (a new note: no longer
  than the limit, or than the shortest length if the limit is shorter).

Rests are never limited, and given voices forced later in the chain (a
melody to harmonise) are never overridden. The limit is exact, except for a
voice that holds a note past its drawn length, which the duration encoder
allows (the model rarely does): that run can end as late as the next event.

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
        if clock is None or not clock.per_voice:
            raise checks.ConfigurationError(
                f"{_OWNER} needs an encoder that keeps time per voice; "
                f"{type(encoder).__name__} does not. Leave it out of "
                "SampleConfig.constraints (a stream of notes has "
                "@constraints.stream_max_run).")
        is_pitch = encoder.sounding_pitches() >= 0
        if not is_pitch.any():
            raise checks.ConfigurationError(
                f"{_OWNER} needs an encoder whose first field holds pitches; "
                f"{type(encoder).__name__}'s does not. Leave it out of "
                "SampleConfig.constraints.")
        self._is_pitch = tf.constant(is_pitch)
        self._limit = math.ceil(quarters * clock.ticks_per_quarter)
        continuation = encoder.continuation_tokens()
        self._hold = None if continuation is None else int(continuation[0])
        lengths = clock.segment_lengths()
        self._length_field = None
        self._shortest = 1  # A grid note lasts one step at least.
        if lengths is not None:
            self._length_field, ticks = lengths
            self._shortest = int(ticks[ticks > 0].min(initial=1))
            # Tokens past the clock's table (END) are no length.
            size = encoder.fields[self._length_field].vocab_size
            self._lengths = tf.constant(
                np.pad(ticks, (0, max(size - len(ticks), 0)))[:size],
                tf.int32)

    def __call__(self, logits, context: StepContext):
        if context.field not in (0, self._length_field):
            return logits
        if context.run_start is None:
            raise ValueError(f"{_OWNER} needs a generation loop that tracks "
                             "since when each voice sounds its pitch "
                             "(StepContext.run_start)")
        voice = context.voice
        sounding = context.last_tokens[:, voice]
        elapsed = context.time - context.run_start[:, voice]
        if context.field == 0:
            on_pitch = tf.gather(self._is_pitch, sounding)
            no_again = on_pitch & (elapsed + self._shortest > self._limit)
            logits = _forbid_where(logits, sounding, no_again)
            if self._hold is not None:
                logits = _forbid_where(
                    logits, tf.fill(tf.shape(sounding), self._hold),
                    on_pitch & (elapsed >= self._limit))
            return logits
        pitch = context.drawn[:, voice, 0]
        struck = tf.gather(self._is_pitch, pitch)
        room = tf.where(tf.equal(pitch, sounding), self._limit - elapsed,
                        self._limit)
        room = tf.maximum(room, self._shortest)
        too_long = self._lengths[None, :] > room[:, None]
        too_long &= struck[:, None]
        return logits + tf.cast(too_long, logits.dtype) * NEVER


def _forbid_where(logits, tokens, where):
    """Forbids `tokens` `[batch]`, in the rows where `where` holds."""
    forbidden = tf.one_hot(tokens, tf.shape(logits)[-1], dtype=logits.dtype)
    return logits + forbidden * tf.cast(where, logits.dtype)[:, None] * NEVER
