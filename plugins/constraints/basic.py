"""The constraints generation needs: START, the END rule, given voices, ranges.

Each is built for one encoder (`encoder=` is passed by the job); settings
such as voice ranges come from gin, e.g.
`SampleConfig.constraints = [@constraints.voice_range]`.
"""

import dataclasses
import math
import numbers
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from polyframe import checks
from polyframe.constraint import (NEVER, Constraint, StepContext, forbid,
                                  force)
from polyframe.encoding import START_ID, EventEncoder
from polyframe.registries import CONSTRAINTS


@CONSTRAINTS.register("forbid_start")
class ForbidStart(Constraint):
    """START is an input only: it is never drawn."""

    def __init__(self, encoder: EventEncoder):
        del encoder

    def __call__(self, logits, context):
        return forbid(logits, START_ID)


@CONSTRAINTS.register("end_rule")
class EndRule(Constraint):
    """END is a whole event: if the first token of an event is END, so is
    every other token of it; otherwise no other token is END."""

    def __init__(self, encoder: EventEncoder):
        self._end_ids = tuple(encoder.end_ids)

    def __call__(self, logits, context):
        if context.voice == 0 and context.field == 0:
            return logits
        ended = tf.equal(context.drawn[:, 0, 0], self._end_ids[0])
        end = tf.fill(tf.shape(ended), self._end_ids[context.field])
        logits = forbid(logits, self._end_ids[context.field],
                        tf.logical_not(ended))
        return force(logits, end, ended)


@CONSTRAINTS.register("end_at_model_rate")
class EndAtModelRate(Constraint):
    """Pieces end as often as the model says, whatever the temperature.

    A low temperature sharpens every choice, END's included: END is then
    drawn only where it is the likeliest token, so pieces rarely end. This
    decides END first, with the model's own probability (a draw of its own,
    row by row from the token's seed), and lets the sampler choose among the
    other tokens: temperature shapes what is played, not how long.

    Args:
        encoder: The encoder (END's id, and its clock for `min_quarters`).
        odds: Multiplies the odds the model gives END (1 keeps its rate).
            Above 1 pieces end sooner, and still where the model finds an
            ending likeliest (a cadence gains more than a mid-phrase beat).
        min_quarters: No piece ends before this many quarter notes from its
            start (0: no minimum), unless the constraints before it force
            END (a harmonised melody ends its piece wherever it ends).
    """

    def __init__(self, encoder: EventEncoder, odds: float = 1.0,
                 min_quarters: float = 0.0):
        owner = "constraints.end_at_model_rate"
        self._end_id = encoder.end_ids[0]
        self._odds = checks.real(owner, "odds", odds, above=0.0)
        min_quarters = checks.real(owner, "min_quarters", min_quarters,
                                   minimum=0.0)
        self._min_ticks = 0
        if min_quarters > 0:
            clock = encoder.clock()
            if clock is None:
                raise checks.ConfigurationError(
                    f"{owner}: min_quarters needs an encoder that keeps time; "
                    f"{type(encoder).__name__} does not. Set it to 0.")
            self._min_ticks = math.ceil(min_quarters * clock.ticks_per_quarter)

    def __call__(self, logits, context):
        if context.voice != 0 or context.field != 0:
            return logits
        probability = tf.nn.softmax(tf.cast(logits, tf.float32))[
            :, self._end_id]
        if self._odds != 1.0:
            scaled = self._odds * probability
            probability = scaled / (1.0 - probability + scaled)
        draw = tf.random.stateless_uniform(
            tf.shape(probability), tf.bitwise.bitwise_xor(
                context.seed, tf.constant([0, 0x5EED], tf.int32)))
        ends = draw < probability
        if self._min_ticks:
            # A piece the given music ends (the constraints before this one
            # left END as the only token) ends there anyway.
            is_end = tf.one_hot(self._end_id, tf.shape(logits)[-1]) > 0
            forced = tf.reduce_max(tf.where(
                is_end, NEVER, tf.cast(logits, tf.float32)),
                axis=-1) <= NEVER / 2
            ends = tf.logical_and(ends, tf.logical_or(
                context.time >= self._min_ticks, forced))
        logits = forbid(logits, self._end_id, tf.logical_not(ends))
        return force(logits, tf.fill(tf.shape(ends), self._end_id), ends)


@dataclasses.dataclass(frozen=True)
class GivenVoicesPlan:
    """What given voices play, in encoder tokens on the clock's ticks.

    Attributes:
        voices: The given voices, ascending.
        ticks: int32 `[n]`, ascending: the events at which the plan says
            something.
        tokens: int32 `[n, len(voices), fields]`: the given voices' tokens at
            those events.
        continuation: int32 `[fields]`: a given voice's tokens at an event of
            the plan's span that `ticks` does not list (its note goes on), or
            None if every event of the span is listed.
        end_tick: Where the given music ends.
        force_end: If True the piece ends there (END is forced there);
            else generation goes on freely after it. Either way no piece
            ends inside the given music.
    """

    voices: Tuple[int, ...]
    ticks: np.ndarray
    tokens: np.ndarray
    continuation: Optional[np.ndarray]
    end_tick: int
    force_end: bool


@CONSTRAINTS.register("given_voices")
class GivenVoices(Constraint):
    """Forces the given voices' tokens, from the running event time.

    Args:
        encoder: The encoder (for END's ids).
        plan: A `GivenVoicesPlan`.
    """

    def __init__(self, encoder: EventEncoder, plan: GivenVoicesPlan):
        if plan.force_end and encoder.end_ids is None:
            raise ValueError("the encoder has no END to end the piece with")
        self._plan = plan
        self._slots: Dict[int, int] = {v: i for i, v in enumerate(plan.voices)}
        self._ticks = tf.constant(plan.ticks, tf.int32)
        self._tokens = tf.constant(plan.tokens, tf.int32)
        self._end_ids = encoder.end_ids

    def __call__(self, logits, context: StepContext):
        plan = self._plan
        time = context.time
        in_span = time < plan.end_tick
        if context.voice in self._slots:
            tokens = self._given_tokens(time, context.voice, context.field)
            logits = force(logits, tokens, in_span)
        if self._end_ids is not None:  # No piece ends inside given music.
            end_id = self._end_ids[context.field]
            logits = forbid(logits, end_id, in_span)
            if plan.force_end:
                logits = force(logits, tf.fill(tf.shape(time), end_id),
                               tf.logical_not(in_span))
        return logits

    def _given_tokens(self, time, voice, field):
        last = tf.shape(self._ticks)[0] - 1
        index = tf.minimum(
            tf.searchsorted(self._ticks, time, side="left"), last)
        listed = tf.equal(tf.gather(self._ticks, index), time)
        tokens = tf.gather(self._tokens[:, self._slots[voice], field], index)
        if self._plan.continuation is None:
            return tokens
        return tf.where(listed, tokens,
                        int(self._plan.continuation[field]))


@CONSTRAINTS.register("voice_range")
class VoiceRange(Constraint):
    """Keeps each voice's pitches within a range (MIDI numbers, inclusive).

    Args:
        encoder: An encoder with `pitch_id` (duration, grid).
        ranges: MIDI range by voice index; the default is the usual choir
            range of soprano, alto, tenor and bass, with a tone to spare.
            A mapping or pairs `(voice, (low, high))`, inclusive.

    Raises:
        ConfigurationError: unless every voice is a whole number >= 0 and
            every range two whole numbers `low <= high` in 0..127, naming
            the entry (`constraints.voice_range.ranges[voice]`).
    """

    def __init__(self, encoder: EventEncoder,
                 ranges: Mapping[int, Sequence[int]] = (
                     (0, (58, 84)), (1, (52, 77)), (2, (46, 71)),
                     (3, (38, 66)))):
        ranges = _checked_ranges("constraints.voice_range", ranges)
        self._masks = {}
        vocab = encoder.fields[0].vocab_size
        for voice, (low, high) in ranges.items():
            allowed = np.zeros(vocab, np.float32)
            outside = [encoder.pitch_id(p) for p in range(128)
                       if not low <= p <= high]
            for token in outside:
                if token is not None:
                    allowed[token] = -1e9
            self._masks[voice] = tf.constant(allowed)

    def __call__(self, logits, context):
        mask = self._masks.get(context.voice)
        if context.field != 0 or mask is None:
            return logits
        return logits + tf.cast(mask, logits.dtype)


def _checked_ranges(owner: str, ranges) -> Dict[int, Tuple[int, int]]:
    """`voice_range`'s `ranges` as {voice: (low, high)}, checked.

    Raises:
        ConfigurationError: see `VoiceRange`.
    """
    wanted = "a mapping (or pairs) of voice index to (low, high) MIDI pitches"
    try:
        pairs = list(ranges.items() if isinstance(ranges, Mapping)
                     else ranges)
    except TypeError:
        pairs = None
    if isinstance(ranges, (str, bytes)) or pairs is None or not all(
            _is_pair(pair) for pair in pairs):
        raise checks.ConfigurationError(
            f"{owner}.ranges must be {wanted}, got {ranges!r}.")
    checked = {}
    for voice, pitches in pairs:
        if (isinstance(voice, bool) or not isinstance(voice, numbers.Integral)
                or voice < 0):
            raise checks.ConfigurationError(
                f"{owner}.ranges must be keyed by voice indices (whole numbers "
                f">= 0), got the voice {voice!r}.")
        voice = int(voice)
        if not _is_pair(pitches):
            raise checks.ConfigurationError(
                f"{owner}.ranges[{voice}] must be (low, high) MIDI pitches, "
                f"got {pitches!r}.")
        low = checks.integer(owner, f"ranges[{voice}] low", pitches[0],
                             minimum=0, maximum=127)
        high = checks.integer(owner, f"ranges[{voice}] high", pitches[1],
                              minimum=low, maximum=127)
        checked[voice] = (low, high)
    return checked


def _is_pair(value) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, (str, bytes))
            and len(value) == 2)
