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
        weight_dropout: In training, the share of the recurrent kernel's
            weights set to zero (the rest scaled up to match), one mask per
            batch shared by every step and sequence (DropConnect, as in
            AWD-LSTM). Unlike dropout on the outputs it regularises the
            hidden-to-hidden path without changing what each step sees of
            the input.
        name: Name scope of the variables.

    Raises:
        ConfigurationError: if `input_size` or `num_units` is not a whole
            number >= 1, `forget_bias` is not a finite number,
            `weight_dropout` is not in [0, 1), or `name` is not a non-empty
            string or None.
    """

    def __init__(self, input_size: int, num_units: int = 256,
                 forget_bias: float = 1.0, weight_dropout: float = 0.0,
                 name=None):
        owner = "cells.lstm"
        input_size = checks.integer(owner, "input_size", input_size, minimum=1)
        num_units = checks.integer(owner, "num_units", num_units, minimum=1)
        forget_bias = checks.real(owner, "forget_bias", forget_bias)
        self.weight_dropout = checks.real(owner, "weight_dropout",
                                          weight_dropout, minimum=0, below=1)
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

    def run(self, inputs, initial_state=None, training=False):
        """Runs the cell over `inputs` `[batch, time, input_size]`, with a
        backward pass written for the LSTM.

        Differentiating the generic loop of `RecurrentCell.run` makes every
        backward step also add its share of the recurrent kernel's gradient,
        a small `[units, batch] x [batch, 4 units]` matmul per step. Here the
        backward loop only carries the gradients of `h` and `c` back in
        time and keeps each step's gate gradients; the kernel's gradient is
        then one matmul over all steps at once, which a CPU runs far closer
        to its peak.

        Returns:
            `(outputs [batch, time, num_units], final state (h, c))`.
        """
        batch_size = tf.shape(inputs)[0]
        if initial_state is None:
            initial_state = self.zero_state(batch_size)
        h0, c0 = initial_state
        projected = tf.transpose(self.project_inputs(inputs), [1, 0, 2])
        kernel = tf.convert_to_tensor(self.recurrent_kernel)
        if training and self.weight_dropout > 0:
            kernel = tf.nn.dropout(kernel, self.weight_dropout)
        outputs, h, c = _lstm_sequence(projected, kernel, h0, c0)
        return tf.transpose(outputs, [1, 0, 2]), (h, c)


@tf.custom_gradient
def _lstm_sequence(projected, kernel, h0, c0):
    """The LSTM over time-major gate inputs `[time, batch, 4 units]`.

    Returns `(outputs [time, batch, units], final h, final c)`, and the
    gradient function described in `LSTMCell.run`.
    """
    units = tf.shape(kernel)[0]
    num_steps = tf.shape(projected)[0]

    def forward(t, h, c, activations, cells):
        gates = projected[t] + tf.matmul(h, kernel)
        i, f, g, o = tf.split(gates, 4, axis=-1)
        i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
        c = f * c + i * g
        h = o * tf.tanh(c)
        return (t + 1, h, c, activations.write(t, tf.concat([i, f, g, o], -1)),
                cells.write(t, tf.stack([h, c])))

    batch, width = projected.shape[1], projected.shape[2]
    _, h, c, activations, cells = tf.while_loop(
        lambda t, *_: t < num_steps, forward,
        (tf.constant(0), h0, c0,
         tf.TensorArray(projected.dtype, size=num_steps,
                        element_shape=[batch, width]),
         tf.TensorArray(projected.dtype, size=num_steps,
                        element_shape=[2, batch, width // 4])),
        maximum_iterations=num_steps)
    activations = activations.stack()  # [time, batch, 4 units]
    states = cells.stack()  # [time, 2, batch, units]: h and c after each step
    outputs = states[:, 0]

    def gradient(d_outputs, d_h, d_c):
        d_h = tf.zeros_like(h0) if d_h is None else d_h
        d_c = tf.zeros_like(c0) if d_c is None else d_c
        previous_h = tf.concat([h0[None], outputs[:-1]], axis=0)
        previous_c = tf.concat([c0[None], states[:-1, 1]], axis=0)

        def backward(step, d_h, d_c, d_gates):
            t = num_steps - 1 - step
            i, f, g, o = tf.split(activations[t], 4, axis=-1)
            tanh_c = tf.tanh(states[t, 1])
            d_h = d_h + d_outputs[t]
            d_c = d_c + d_h * o * (1.0 - tf.square(tanh_c))
            gates = tf.concat([d_c * g * i * (1.0 - i),
                               d_c * previous_c[t] * f * (1.0 - f),
                               d_c * i * (1.0 - tf.square(g)),
                               d_h * tanh_c * o * (1.0 - o)], axis=-1)
            return (step + 1, tf.matmul(gates, kernel, transpose_b=True),
                    d_c * f, d_gates.write(t, gates))

        _, d_h0, d_c0, d_gates = tf.while_loop(
            lambda step, *_: step < num_steps, backward,
            (tf.constant(0), d_h, d_c,
             tf.TensorArray(projected.dtype, size=num_steps,
                            element_shape=[batch, width])),
            maximum_iterations=num_steps)
        d_gates = d_gates.stack()
        d_kernel = tf.matmul(tf.reshape(previous_h, [-1, units]),
                             tf.reshape(d_gates, [-1, 4 * units]),
                             transpose_a=True)
        return d_gates, d_kernel, d_h0, d_c0

    return (outputs, h, c), gradient
