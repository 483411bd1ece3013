"""A gated recurrent unit built from raw TF ops.

It computes what `tf.keras.layers.GRUCell` computes with `reset_after=True`
(the reset gate scales the recurrent term after its matmul), with variables
in the same layout (gate order update, reset, candidate), so weights copy
across in either direction.
"""

import tensorflow as tf

from polyframe import checks
from polyframe.cell import RecurrentCell
from polyframe.registries import CELLS


@CELLS.register("gru")
class GRUCell(RecurrentCell):
    """A GRU cell whose state is `(h,)`.

    Args:
        input_size: Width of the inputs the cell will see.
        num_units: Width of the hidden state.
        name: Name scope of the variables.

    Raises:
        ConfigurationError: if `input_size` or `num_units` is not a whole
            number >= 1, or `name` is not a non-empty string or None.
    """

    def __init__(self, input_size: int, num_units: int = 256, name=None):
        owner = "cells.gru"
        input_size = checks.integer(owner, "input_size", input_size, minimum=1)
        num_units = checks.integer(owner, "num_units", num_units, minimum=1)
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(input_size, num_units, name=name)
        u = self.num_units
        with self.name_scope:
            self.kernel = tf.Variable(
                tf.keras.initializers.GlorotUniform()([self.input_size, 3 * u]),
                name="kernel")
            self.recurrent_kernel = tf.Variable(
                tf.keras.initializers.Orthogonal()([u, 3 * u]),
                name="recurrent_kernel")
            # Row 0 is added to the input term, row 1 to the recurrent term.
            self.bias = tf.Variable(tf.zeros([2, 3 * u]), name="bias")

    @property
    def state_sizes(self):
        return (self.num_units,)

    def project_inputs(self, inputs):
        """Returns `inputs @ kernel + bias[0]`, the gates' input terms."""
        return tf.tensordot(inputs, self.kernel, axes=1) + self.bias[0]

    def step(self, projected_input, state):
        (h,) = state
        recurrent = tf.matmul(h, self.recurrent_kernel) + self.bias[1]
        x_z, x_r, x_h = tf.split(projected_input, 3, axis=-1)
        h_z, h_r, h_h = tf.split(recurrent, 3, axis=-1)
        z = tf.sigmoid(x_z + h_z)
        r = tf.sigmoid(x_r + h_r)
        candidate = tf.tanh(x_h + r * h_h)
        h = z * h + (1.0 - z) * candidate
        return h, (h,)
