"""No drone in a stream of notes: a limit on how long one pitch sounds.

The note stream (`encoders.event_stream`) has no voices, so `max_run`, which
follows each voice, cannot see a pitch that the model keeps continuing step
after step; at a low temperature such a drone can last for dozens of bars.
`stream_max_run` follows every pitch instead: a pitch that has sounded
without a break (continued, or struck again in the next step) for
`quarters` quarter notes is not continued or struck again in the step that
would take it past the limit, so it stops there; the step still ends and any
other pitch may sound. A pitch that falls silent for one step may start a
new run.

Its state is the grid step at which each pitch began sounding, which it
updates from every token, primer included (`Constraint.update`).

    SampleConfig.constraints = [@constraints.stream_max_run]
    constraints.stream_max_run.quarters = 8
"""

import math

import tensorflow as tf

from polyframe import checks
from polyframe.constraint import NEVER, Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS
from polyframe_plugins.encoders import event_stream

_OWNER = "constraints.stream_max_run"
_SILENT = -1


@CONSTRAINTS.register("stream_max_run")
class StreamMaxRun(Constraint):
    """Stops any pitch of a note stream from sounding longer than a limit.

    Args:
        encoder: An `encoders.event_stream` encoder.
        quarters: The longest time, in quarter notes, one pitch may sound
            without a break.

    Raises:
        ConfigurationError: `quarters` is not a real number > 0, or the
            encoder is not a note stream.
    """

    def __init__(self, encoder: EventEncoder, quarters: float = 8.0):
        quarters = checks.real(_OWNER, "quarters", quarters, above=0.0)
        if not isinstance(encoder, event_stream.EventStreamEncoder):
            raise checks.ConfigurationError(
                f"{_OWNER} works on the note stream (encoders.event_stream); "
                f"{type(encoder).__name__} has voices: use "
                "@constraints.max_run instead.")
        self._num_pitches = encoder.max_pitch - encoder.min_pitch + 1
        self._limit = max(1, math.floor(quarters * encoder.steps_per_quarter))

    def initial_state(self, batch):
        """(step, since, mentioned): the grid step being written `[batch]`;
        the step at which each pitch began sounding without a break as of
        the last finished step, or -1 if it is silent `[batch, pitches]`;
        the pitches the unfinished step has named so far."""
        return (tf.zeros([batch], tf.int32),
                tf.fill([batch, self._num_pitches], _SILENT),
                tf.zeros([batch, self._num_pitches], tf.bool))

    def update(self, state, event):
        step, since, mentioned = state
        token = event[:, 0, 0]
        note = token - event_stream.FIRST_NOTE_ID
        is_note = (note >= 0) & (note < 2 * self._num_pitches)
        pitch = tf.math.floormod(note, self._num_pitches)
        mentioned |= (tf.one_hot(pitch, self._num_pitches, on_value=True,
                                 off_value=False) & is_note[:, None])
        ends = tf.equal(token, event_stream.STEP_END_ID)[:, None]
        goes_on = tf.where(tf.equal(since, _SILENT), step[:, None], since)
        finished = tf.where(mentioned, goes_on, _SILENT)
        since = tf.where(ends, finished, since)
        mentioned &= ~ends
        step += tf.cast(ends[:, 0], tf.int32)
        return step, since, mentioned

    def __call__(self, logits, context: StepContext):
        step, since, _ = context.state
        too_long = ((since != _SILENT) &
                    (step[:, None] - since + 1 > self._limit))
        penalty = tf.cast(too_long, logits.dtype) * NEVER
        # NEW_NOTE ids, then CONTINUED_NOTE ids, each pitch by pitch.
        prefix = tf.zeros([tf.shape(logits)[0], event_stream.FIRST_NOTE_ID],
                          logits.dtype)
        return logits + tf.concat([prefix, penalty, penalty], axis=1)
