"""The interface of a constraint: logits and the loop's context in, logits out.

Generation draws one token at a time (event by event, voice by voice, field
by field). Before each draw the model's logits pass through a chain of
constraints, then the sampler draws from what is left. A constraint forbids
tokens by pushing their logits to `NEVER`, or forces one token by leaving
only it possible. Forcing a melody, forbidding START, ending
pieces at END and keeping voices in range are all constraints, so the loop
has no special cases.

A constraint that must remember what was played (which pitches have sounded
since when, in an encoding without voices) keeps its own state: the loop
starts it with `initial_state`, passes every event, primer included, to
`update`, and hands it back in `StepContext.state`.
"""

import abc
import dataclasses
from typing import Any, Optional, Sequence, Tuple

import tensorflow as tf

NEVER = -1e9


@dataclasses.dataclass(frozen=True)
class StepContext:
    """Where the loop is when a token is about to be drawn.

    Attributes:
        voice: The voice being drawn (a Python int).
        field: The field being drawn (a Python int).
        step: int32 scalar, events generated so far (0 for the first).
        time: int32 `[batch]`, start of this event in the encoder clock's
            ticks (without a clock: the event's index, 0 for the first
            generated).
        drawn: int32 `[batch, voices, fields]`: this event's tokens drawn so
            far (voices before `voice`, and fields before `field` of
            `voice`); the rest is undefined.
        seed: int32 `[2]`, the stateless seed of this token's draw, for
            constraints that decide between tokens at random (row by row,
            like the samplers).
        last_tokens: int32 `[batch, voices]`: each voice's latest first-field
            token before this event that was not the encoder's continuation
            token (HOLD), i.e. what each voice sounds going into this event
            (START before anything); None if the loop does not track it.
        run_start: int32 `[batch, voices]`: the time (clock ticks) at which
            each voice began sounding `last_tokens` without a break: the
            event that first struck it, however often it was held or struck
            again since; None if the loop does not track it.
        state: The constraint's own state (`Constraint.initial_state`),
            as `update` left it after the previous event; () for a
            constraint that keeps none.
    """

    voice: int
    field: int
    step: tf.Tensor
    time: tf.Tensor
    drawn: tf.Tensor
    seed: tf.Tensor = None
    last_tokens: tf.Tensor = None
    run_start: tf.Tensor = None
    state: Any = ()


class Constraint(abc.ABC):
    """Changes logits `[batch, vocab]` before a token is drawn.

    Most constraints read only the `StepContext`. One that needs more of
    the past overrides `initial_state` and `update`: its state is a tensor
    (or a tuple of them) with the batch first, carried through the
    compiled loop beside the model's.
    """

    @abc.abstractmethod
    def __call__(self, logits: tf.Tensor, context: StepContext) -> tf.Tensor:
        """Returns the constrained logits, same shape and dtype."""

    def initial_state(self, batch: tf.Tensor) -> Any:
        """The state before the first event (START) for `batch` rows."""
        del batch
        return ()

    def update(self, state: Any, event: tf.Tensor) -> Any:
        """The state after `event` int32 `[batch, voices, fields]` (a
        primer row or a generated event)."""
        del event
        return state


def apply_chain(constraints: Sequence[Constraint], logits: tf.Tensor,
                context: StepContext,
                states: Optional[Sequence[Any]] = None) -> tf.Tensor:
    """Runs `logits` through every constraint, in order, each seeing its
    own entry of `states` (one per constraint) as `context.state`."""
    for index, constraint in enumerate(constraints):
        if states is not None:
            context = dataclasses.replace(context, state=states[index])
        logits = constraint(logits, context)
    return logits


def initial_states(constraints: Sequence[Constraint],
                   batch: tf.Tensor) -> Tuple[Any, ...]:
    """Every constraint's state before the first event; () for a plain
    function `(logits, context) -> logits` in the chain."""
    return tuple(c.initial_state(batch) if isinstance(c, Constraint) else ()
                 for c in constraints)


def update_states(constraints: Sequence[Constraint],
                  states: Sequence[Any], event: tf.Tensor) -> Tuple[Any, ...]:
    """Every constraint's state after `event` `[batch, voices, fields]`."""
    return tuple(c.update(s, event) if isinstance(c, Constraint) else s
                 for c, s in zip(constraints, states))


def forbid(logits: tf.Tensor, token: int,
           where: tf.Tensor = None) -> tf.Tensor:
    """Makes `token` impossible (in the rows where `where` [batch] is True)."""
    penalty = tf.one_hot(token, tf.shape(logits)[-1], on_value=NEVER,
                         off_value=0.0, dtype=logits.dtype)
    if where is None:
        return logits + penalty
    return logits + tf.cast(where, logits.dtype)[:, None] * penalty


def force(logits: tf.Tensor, tokens: tf.Tensor, where: tf.Tensor) -> tf.Tensor:
    """Leaves only `tokens` [batch] possible in the rows where `where` holds."""
    only = tf.one_hot(tokens, tf.shape(logits)[-1], on_value=0.0,
                      off_value=NEVER, dtype=logits.dtype)
    return tf.where(where[:, None], only, logits)

