"""A head that predicts every voice from the state alone, all at once.

The baseline against which the autoregressive head's conditioning on earlier
voices is measured: voices of one event are independent given the state.
"""

import tensorflow as tf

from polyframe import checks
from polyframe.head import Head, check_head_shapes
from polyframe.layers import PerVoiceDense
from polyframe.registries import HEADS


@HEADS.register("independent")
class IndependentHead(Head):
    """Predicts all voices of an event independently given the state.

    Args:
        fields, num_voices, state_size, input_size, name: see `Head`.
        hidden_size: Width of each voice's hidden layer.
        dropout: Dropout rate on the hidden layer in training.

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`heads.independent.<argument>`): `fields` must
            be a non-empty sequence of `Field`; `num_voices`, `state_size`,
            `input_size` and `hidden_size` whole numbers >= 1; `dropout` in
            [0, 1).
    """

    def __init__(self, fields, num_voices, state_size, input_size,
                 hidden_size: int = 256, dropout: float = 0.0,
                 name="independent_head"):
        owner = "heads.independent"
        fields, num_voices, state_size, input_size = check_head_shapes(
            owner, fields, num_voices, state_size, input_size)
        hidden_size = checks.integer(owner, "hidden_size", hidden_size,
                                     minimum=1)
        dropout = checks.real(owner, "dropout", dropout, minimum=0, below=1)
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(fields, num_voices, state_size, input_size, name=name)
        self.dropout = dropout
        self.hidden = PerVoiceDense(state_size + input_size, hidden_size,
                                    num_voices, shared_input=True)
        self.outputs = [PerVoiceDense(hidden_size, f.vocab_size, num_voices)
                        for f in self.fields]

    def logits(self, states, inputs, targets, training=False, previous=None):
        del targets, previous  # Reads the state and the input alone.
        hidden = tf.tanh(self.hidden(tf.concat([states, inputs], axis=-1)))
        if training and self.dropout > 0:
            hidden = tf.nn.dropout(hidden, self.dropout)
        return [output(hidden) for output in self.outputs]

    def voice_logits(self, state, inputs, drawn, voice, previous=None):
        del drawn, previous  # Reads the state and the input alone.
        hidden = tf.tanh(self.hidden(tf.concat([state, inputs], axis=-1),
                                     voice))
        return [output(hidden, voice) for output in self.outputs]
