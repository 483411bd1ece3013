"""A long short-term memory cell built from raw TF ops.

The variables use the layout of `tf.keras.layers.LSTMCell` (gate order
input, forget, candidate, output), so weights copy across in either
direction with `set_weights` / `get_weights`.
"""

import tensorflow as tf

from polyframe import checks
from polyframe.cell import RecurrentCell
from polyframe.registries import CELLS


@CELLS.register("lstm")
class LSTMCell(RecurrentCell):
    """An LSTM cell whose state is `(h, c)`.

    Args:
        input_size: Width of the inputs the cell will see.
        num_units: Width of the hidden and cell states.
        forget_bias: Initial bias of the forget gate. Starting near 1 keeps
            the cell state flowing early in training, so gradients reach
            far back in time.
        name: Name scope of the variables.

    Raises:
        ConfigurationError: if `input_size` or `num_units` is not a whole
            number >= 1, `forget_bias` is not a finite number, or `name` is
            not a non-empty string or None.
    """

    def __init__(self, input_size: int, num_units: int = 256,
                 forget_bias: float = 1.0, name=None):
        owner = "cells.lstm"
        input_size = checks.integer(owner, "input_size", input_size, minimum=1)
        num_units = checks.integer(owner, "num_units", num_units, minimum=1)
        forget_bias = checks.real(owner, "forget_bias", forget_bias)
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(input_size, num_units, name=name)
        u = self.num_units
        with self.name_scope:
            self.kernel = tf.Variable(
                tf.keras.initializers.GlorotUniform()([self.input_size, 4 * u]),
                name="kernel")
            self.recurrent_kernel = tf.Variable(
                tf.keras.initializers.Orthogonal()([u, 4 * u]),
                name="recurrent_kernel")
            self.bias = tf.Variable(
                tf.concat([tf.zeros([u]), tf.fill([u], float(forget_bias)),
                           tf.zeros([2 * u])], axis=0),
                name="bias")

    @property
    def state_sizes(self):
        return (self.num_units, self.num_units)

    def project_inputs(self, inputs):
        """Returns `inputs @ kernel + bias`, the gates' input terms."""
        return tf.tensordot(inputs, self.kernel, axes=1) + self.bias

    def step(self, projected_input, state):
        h, c = state
        gates = projected_input + tf.matmul(h, self.recurrent_kernel)
        i, f, g, o = tf.split(gates, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, (h, c)
