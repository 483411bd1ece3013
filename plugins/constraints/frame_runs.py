"""No drone in a piano roll: a limit on how long one pitch sounds.

In a piano roll the voices are the slots of a frame, highest pitch first,
so a held pitch moves from slot to slot as other pitches come and go above
it, and `max_run`, which follows each voice, does not see it. `frame_max_run`
follows every pitch instead: a pitch that has sounded in `quarters` quarter
notes of consecutive frames is not drawn in the next frame, in any slot.
A pitch that is silent for one frame may start a new run.

Its state is the frame at which each pitch began sounding, updated from
every frame, primer included (`Constraint.update`).

    SampleConfig.constraints = [@constraints.frame_max_run]
    constraints.frame_max_run.quarters = 8
"""

import math

import tensorflow as tf

from polyframe import checks
from polyframe.constraint import NEVER, Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS

_OWNER = "constraints.frame_max_run"
_SILENT = -1
_PITCHES = 128


@CONSTRAINTS.register("frame_max_run")
class FrameMaxRun(Constraint):
    """Stops any pitch of a grid of frames from sounding longer than a limit.

    Args:
        encoder: An encoder whose events are frames of a fixed length
            (`events_are_frames`, with `steps_per_quarter` frames a quarter),
            such as the grid encoder.
        quarters: The longest time, in quarter notes, one pitch may sound
            in consecutive frames.

    Raises:
        ConfigurationError: `quarters` is not a real number > 0, or the
            encoder's events are not frames.
    """

    def __init__(self, encoder: EventEncoder, quarters: float = 8.0):
        quarters = checks.real(_OWNER, "quarters", quarters, above=0.0)
        if not encoder.events_are_frames:
            raise checks.ConfigurationError(
                f"{_OWNER} works on grids of frames (encoders.grid); "
                f"{type(encoder).__name__} writes events of other lengths: "
                "use @constraints.max_run instead.")
        self._limit = max(1, math.floor(quarters * encoder.steps_per_quarter))
        self._pitches = tf.constant(encoder.sounding_pitches(), tf.int32)

    def initial_state(self, batch):
        """(frame, since): the frame about to be written `[batch]`, and the
        frame at which each MIDI pitch began sounding without a break, or -1
        where it is silent `[batch, 128]`."""
        return (tf.zeros([batch], tf.int32),
                tf.fill([batch, _PITCHES], _SILENT))

    def update(self, state, event):
        frame, since = state
        pitches = tf.gather(self._pitches, event[:, :, 0])  # [batch, voices]
        sounding = tf.reduce_any(
            tf.one_hot(pitches, _PITCHES, on_value=True, off_value=False),
            axis=1)  # -1 (no pitch) is all False
        goes_on = tf.where(tf.equal(since, _SILENT), frame[:, None], since)
        return frame + 1, tf.where(sounding, goes_on, _SILENT)

    def __call__(self, logits, context: StepContext):
        if context.field != 0:
            return logits
        frame, since = context.state
        too_long = ((since != _SILENT) &
                    (frame[:, None] - since + 1 > self._limit))
        blocked = tf.gather(too_long, tf.maximum(self._pitches, 0), axis=1)
        blocked &= (self._pitches >= 0)[None]
        return logits + tf.cast(blocked, logits.dtype) * NEVER
