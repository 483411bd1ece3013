"""The interface of an output head: from recurrent states to event logits.

A head predicts every field of every voice of the next event. In training it
sees the true next event (`targets`) so that it can condition voice i on the
voices before it (teacher forcing); in generation it is asked for one voice
at a time, given the voices already drawn.
"""

import abc
from typing import Any, List, Optional, Sequence, Tuple

import tensorflow as tf

from polyframe import checks
from polyframe.encoding import Field


class Head(tf.Module, abc.ABC):
    """Maps `(state, event input)` to logits for the next event.

    Args:
        fields: The encoder's fields (each voice has one token per field).
        num_voices: Voices per event.
        state_size: Width of the recurrent output the head reads.
        input_size: Width of the embedded event input of the same step.
        name: Name scope of the variables.
    """

    def __init__(self, fields: Sequence[Field], num_voices: int,
                 state_size: int, input_size: int, name=None):
        super().__init__(name=name)
        self.fields = tuple(fields)
        self.num_voices = int(num_voices)
        self.state_size = int(state_size)
        self.input_size = int(input_size)

    @abc.abstractmethod
    def logits(self, states: tf.Tensor, inputs: tf.Tensor, targets: tf.Tensor,
               training: bool = False,
               previous: Optional[tf.Tensor] = None) -> List[tf.Tensor]:
        """Returns one `[batch, time, num_voices, vocab]` tensor per field.

        Args:
            states: Recurrent outputs `[batch, time, state_size]`.
            inputs: Embedded inputs of the same steps `[batch, time, input_size]`.
            targets: The true next events `[batch, time, num_voices, fields]`.
            training: Whether dropout and the like are active.
            previous: The first-field ids `[batch, time, num_voices]` of the
                event before each target (the step's input event), for heads
                that relate a voice's next token to its last; models pass
                it, heads that do not need it ignore it.
        """

    @abc.abstractmethod
    def voice_logits(self, state: tf.Tensor, inputs: tf.Tensor,
                     drawn: tf.Tensor, voice: int,
                     previous: Optional[tf.Tensor] = None) -> List[tf.Tensor]:
        """Returns one `[batch, vocab]` tensor per field for one voice.

        Args:
            state: Recurrent output `[batch, state_size]`.
            inputs: Embedded input of this step `[batch, input_size]`.
            drawn: `[batch, num_voices, fields]` ids; the voices before
                `voice` hold what was drawn for this event, the rest is
                undefined and must not be read.
            voice: Which voice, a Python int.
            previous: The first-field ids `[batch, num_voices]` of the event
                before the one being drawn (see `logits`).
        """


def check_head_shapes(owner: str, fields: Any, num_voices: Any,
                      state_size: Any, input_size: Any
                      ) -> Tuple[Tuple[Field, ...], int, int, int]:
    """Checks what the model builds a head with (no user bindings).

    Returns:
        `(fields, num_voices, state_size, input_size)`, checked.

    Raises:
        ConfigurationError: unless `fields` is a non-empty sequence of
            `Field` and the others are whole numbers >= 1.
    """
    return (checks.fields(owner, fields),
            checks.integer(owner, "num_voices", num_voices, minimum=1),
            checks.integer(owner, "state_size", state_size, minimum=1),
            checks.integer(owner, "input_size", input_size, minimum=1))
