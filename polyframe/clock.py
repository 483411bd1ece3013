"""Where generation is in musical time, kept inside the compiled loop.

Forcing a melody's tokens, or telling a melody-aware model when the next
event starts, needs the start time of every generated event. That time
follows from the events drawn so far, in a way each encoder defines; an
`EventClock` replays that rule in TensorFlow ops so the whole generation stays
one graph. Time is counted in integer ticks (`ticks_per_quarter` per quarter
note), so a forced note is found by exact comparison, never by float
rounding.
"""

import abc
import fractions
import math
from typing import Optional, Sequence, Tuple

import numpy as np

import tensorflow as tf

ClockState = Tuple[tf.Tensor, ...]


class EventClock(abc.ABC):
    """Tracks the start time of the next event for a batch of pieces.

    Attributes:
        ticks_per_quarter: Ticks in a quarter note.
        per_voice: Whether every voice of an event has its own timing, so
            that a given note can be forced into a voice at its tick
            (harmonising, limits on a voice's runs). False for a stream of
            tokens that only keeps the time of the whole piece.
    """

    ticks_per_quarter: int
    min_step_ticks: int = 1
    per_voice: bool = True

    def events_until(self, tick: int) -> int:
        """The most events that can start before `tick`: every event
        advances time by at least `min_step_ticks`.

        Raises:
            ValueError: if events may take no time (`min_step_ticks` 0), so
                that no number of events is enough.
        """
        if self.min_step_ticks <= 0:
            raise ValueError(f"{type(self).__name__}: events may take no "
                             "time, so any number of them fits before a "
                             "tick")
        return -(-int(tick) // self.min_step_ticks)

    @abc.abstractmethod
    def initial_state(self, batch_size: int) -> ClockState:
        """The state before the first event; its time is 0."""

    @abc.abstractmethod
    def time(self, state: ClockState) -> tf.Tensor:
        """Start of the next event, int32 ticks `[batch]`."""

    @abc.abstractmethod
    def advance(self, state: ClockState, event: tf.Tensor) -> ClockState:
        """The state after `event` `[batch, voices, fields]` was played."""

    def segment_lengths(self) -> Optional[Tuple[int, np.ndarray]]:
        """How long a voice's new note (or rest) lasts, if a token says so.

        Returns:
            `(field, ticks)`: the field whose token gives the length, and
            each of its tokens' length in ticks (0 for a token that is no
            length); or None if every note lasts until the next event unless
            the next event restates it (a grid step).
        """
        return None

    def quarters(self, state: ClockState) -> tf.Tensor:
        """Start of the next event in quarter notes, float32 `[batch]`."""
        return tf.cast(self.time(state), tf.float32) / self.ticks_per_quarter

    def to_ticks(self, quarters) -> int:
        """Exact ticks of a time in quarters.

        Raises:
            ValueError: if `quarters` is not a whole number of ticks.
        """
        ticks = fractions.Fraction(quarters) * self.ticks_per_quarter
        if ticks.denominator != 1:
            raise ValueError(f"{quarters} quarters is not a whole number of "
                             f"ticks at {self.ticks_per_quarter} per quarter")
        return int(ticks)


class StepClock(EventClock):
    """One event per grid step (the grid encoders).

    Args:
        steps_per_quarter: Grid steps per quarter note; one tick per step.
    """

    def __init__(self, steps_per_quarter: int):
        self.ticks_per_quarter = int(steps_per_quarter)

    def initial_state(self, batch_size):
        return (tf.zeros([batch_size], tf.int32),)

    def time(self, state):
        return state[0]

    def advance(self, state, event):
        del event
        return (state[0] + 1,)


class TokenStepClock(StepClock):
    """A stream of tokens in which one token ends each grid step (the event
    stream): notes take no time, and the piece's time is the number of
    step ends so far. Its one voice holds every pitch, so it keeps the
    time of the piece, not of voices (`per_voice` is False).

    Args:
        steps_per_quarter: Grid steps per quarter note; one tick per step.
        step_end_id: The token that ends a step.
    """

    min_step_ticks = 0
    per_voice = False

    def __init__(self, steps_per_quarter: int, step_end_id: int):
        super().__init__(steps_per_quarter)
        self._step_end_id = int(step_end_id)

    def advance(self, state, event):
        ends_step = tf.equal(event[:, 0, 0], self._step_end_id)
        return (state[0] + tf.cast(ends_step, tf.int32),)


class DurationClock(EventClock):
    """Events that start whenever a voice starts a segment (duration encoder).

    A voice whose pitch token is a pitch or REST starts a segment lasting its
    duration token; the next event starts when the first running segment
    ends (or after the shortest duration if none runs), exactly as the
    encoder decodes.

    Args:
        durations: The duration vocabulary in quarters, in id order.
        first_duration_id: Id of `durations[0]`.
        starting_pitch_ids: `(low, high)`: pitch ids in [low, high) start a
            segment, as does `rest_id`.
        rest_id: The REST pitch id.
        num_voices: Voices per event.
    """

    def __init__(self, durations: Sequence[fractions.Fraction],
                 first_duration_id: int, starting_pitch_ids: Tuple[int, int],
                 rest_id: int, num_voices: int):
        self._num_voices = int(num_voices)
        denominators = [fractions.Fraction(d).denominator for d in durations]
        self.ticks_per_quarter = math.lcm(*denominators) if denominators else 1
        ticks = [0] * first_duration_id + [
            self.to_ticks(d) for d in durations]
        self._ticks_by_id = np.array(ticks, np.int32)
        self._duration_ticks = tf.constant(ticks + [0], tf.int32)
        self._shortest = min(ticks[first_duration_id:], default=1)
        # Every event starts on a multiple of this, so no step is shorter.
        self.min_step_ticks = math.gcd(*ticks[first_duration_id:]) or 1
        self._low, self._high = starting_pitch_ids
        self._rest_id = rest_id

    def segment_lengths(self):
        """The duration field (1) and its tokens' lengths in ticks."""
        return 1, self._ticks_by_id.copy()

    def initial_state(self, batch_size):
        return (tf.zeros([batch_size], tf.int32),
                tf.zeros([batch_size, self._num_voices], tf.int32))

    def time(self, state):
        return state[0]

    def advance(self, state, event):
        time, remaining = state
        pitch, duration = event[..., 0], event[..., 1]
        starts = ((pitch == self._rest_id) |
                  ((pitch >= self._low) & (pitch < self._high)))
        last = tf.shape(self._duration_ticks)[0] - 1
        lengths = tf.gather(self._duration_ticks,
                            tf.clip_by_value(duration, 0, last))
        remaining = tf.where(starts, lengths, remaining)
        running = remaining > 0
        step = tf.reduce_min(
            tf.where(running, remaining, tf.int32.max), axis=-1)
        step = tf.where(tf.reduce_any(running, axis=-1), step,
                        self._shortest)
        return time + step, tf.maximum(remaining - step[:, None], 0)
