"""The LSTM and GRU cells against their Keras counterparts."""

import numpy as np
import pytest
import tensorflow as tf

from polyframe.cell import RecurrentCell
from polyframe.checks import ConfigurationError
from polyframe.registries import CELLS
from polyframe_plugins.cells.gru import GRUCell
from polyframe_plugins.cells.lstm import LSTMCell

BATCH, TIME, INPUT_SIZE, UNITS = 3, 7, 5, 4
ATOL = 1e-5

KERAS_CELLS = {
    LSTMCell: lambda: tf.keras.layers.LSTMCell(UNITS),
    GRUCell: lambda: tf.keras.layers.GRUCell(UNITS, reset_after=True),
}


def _randomized(cell_class, seed=0):
    """Returns a cell with random weights, biases included, so every term counts."""
    cell = cell_class(INPUT_SIZE, UNITS)
    rng = np.random.default_rng(seed)
    for variable in (cell.kernel, cell.recurrent_kernel, cell.bias):
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype(np.float32))
    return cell


def _keras_twin(cell):
    """Returns the Keras cell of the same kind, holding `cell`'s weights."""
    keras_cell = KERAS_CELLS[type(cell)]()
    keras_cell.build((None, INPUT_SIZE))
    keras_cell.set_weights(
        [cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy()])
    return keras_cell


def _random_state(cell, seed=1):
    rng = np.random.default_rng(seed)
    return tuple(tf.constant(rng.normal(size=(BATCH, size)), tf.float32)
                 for size in cell.state_sizes)


def _random_inputs(*shape, seed=2):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


@pytest.fixture(params=[LSTMCell, GRUCell], ids=["lstm", "gru"])
def cell(request):
    return _randomized(request.param)


def test_registry_names_resolve():
    assert CELLS.get("lstm") is LSTMCell
    assert CELLS.get("gru") is GRUCell


def test_variables_have_keras_layout():
    lstm, gru = LSTMCell(INPUT_SIZE, UNITS), GRUCell(INPUT_SIZE, UNITS)
    assert lstm.kernel.shape == (INPUT_SIZE, 4 * UNITS)
    assert lstm.recurrent_kernel.shape == (UNITS, 4 * UNITS)
    assert lstm.bias.shape == (4 * UNITS,)
    assert gru.kernel.shape == (INPUT_SIZE, 3 * UNITS)
    assert gru.recurrent_kernel.shape == (UNITS, 3 * UNITS)
    assert gru.bias.shape == (2, 3 * UNITS)


def test_lstm_forget_bias_initializes_only_the_forget_gate():
    bias = LSTMCell(INPUT_SIZE, UNITS, forget_bias=2.5).bias.numpy()
    np.testing.assert_array_equal(bias[UNITS:2 * UNITS], 2.5)
    np.testing.assert_array_equal(bias[:UNITS], 0.0)
    np.testing.assert_array_equal(bias[2 * UNITS:], 0.0)


def test_zero_state_matches_state_sizes(cell):
    state = cell.zero_state(BATCH)
    assert [s.shape for s in state] == [(BATCH, size) for size in cell.state_sizes]


def test_single_step_matches_keras(cell):
    keras_cell = _keras_twin(cell)
    inputs = _random_inputs(BATCH, INPUT_SIZE)
    state = _random_state(cell)

    output, new_state = cell(inputs, state)
    keras_output, keras_state = keras_cell(inputs, list(state))

    np.testing.assert_allclose(output, keras_output, atol=ATOL)
    assert len(new_state) == len(keras_state)
    for ours, theirs in zip(new_state, keras_state):
        np.testing.assert_allclose(ours, theirs, atol=ATOL)


def test_run_matches_keras_stepped_in_a_loop(cell):
    keras_cell = _keras_twin(cell)
    inputs = _random_inputs(BATCH, TIME, INPUT_SIZE)
    initial_state = _random_state(cell)

    outputs, final_state = cell.run(inputs, initial_state)

    keras_state = list(initial_state)
    keras_outputs = []
    for t in range(TIME):
        keras_output, keras_state = keras_cell(inputs[:, t], keras_state)
        keras_outputs.append(keras_output)
    assert outputs.shape == (BATCH, TIME, UNITS)
    np.testing.assert_allclose(outputs, tf.stack(keras_outputs, axis=1), atol=ATOL)
    for ours, theirs in zip(final_state, keras_state):
        np.testing.assert_allclose(ours, theirs, atol=ATOL)


def test_run_from_zero_state_matches_keras_rnn(cell):
    keras_cell = _keras_twin(cell)
    inputs = _random_inputs(BATCH, TIME, INPUT_SIZE)

    outputs, final_state = cell.run(inputs)
    keras_outputs, *keras_state = tf.keras.layers.RNN(
        keras_cell, return_sequences=True, return_state=True)(inputs)

    np.testing.assert_allclose(outputs, keras_outputs, atol=ATOL)
    for ours, theirs in zip(final_state, keras_state):
        np.testing.assert_allclose(ours, theirs, atol=ATOL)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_compiled_run_matches_eager(cell, jit_compile):
    inputs = _random_inputs(BATCH, TIME, INPUT_SIZE)
    initial_state = _random_state(cell)

    eager_outputs, eager_state = cell.run(inputs, initial_state)
    compiled_outputs, compiled_state = tf.function(
        cell.run, jit_compile=jit_compile)(inputs, initial_state)

    np.testing.assert_allclose(compiled_outputs, eager_outputs, atol=ATOL)
    for compiled, eager in zip(compiled_state, eager_state):
        np.testing.assert_allclose(compiled, eager, atol=ATOL)


def test_gradients_reach_every_variable(cell):
    inputs = _random_inputs(BATCH, TIME, INPUT_SIZE)

    with tf.GradientTape() as tape:
        outputs, final_state = cell.run(inputs)
        loss = tf.reduce_sum(outputs ** 2) + sum(
            tf.reduce_sum(s) for s in final_state)
    gradients = tape.gradient(loss, cell.trainable_variables)

    assert len(cell.trainable_variables) == 3
    for variable, gradient in zip(cell.trainable_variables, gradients):
        assert gradient is not None, variable.name
        assert np.all(np.isfinite(gradient)), variable.name
        assert np.any(gradient != 0), variable.name


def test_run_over_an_empty_sequence_returns_the_initial_state(cell):
    initial_state = _random_state(cell)

    outputs, final_state = cell.run(tf.zeros([BATCH, 0, INPUT_SIZE]), initial_state)

    assert outputs.shape == (BATCH, 0, UNITS)
    for final, initial in zip(final_state, initial_state):
        np.testing.assert_array_equal(final, initial)


@pytest.mark.parametrize("jit_compile", [None, False, True],
                         ids=["eager", "graph", "xla"])
def test_lstm_backward_pass_equals_the_generic_loops_gradients(jit_compile):
    """`LSTMCell.run` has a hand-written backward pass: every gradient (the
    inputs, the initial state, each variable) must equal what automatic
    differentiation of the generic `RecurrentCell.run` loop gives, with the
    loss reading the outputs and the final state."""
    cell = _randomized(LSTMCell)
    inputs = _random_inputs(BATCH, TIME, INPUT_SIZE)
    initial_state = _random_state(cell)
    weights = [_random_inputs(BATCH, TIME, UNITS, seed=3),
               _random_inputs(BATCH, UNITS, seed=4),
               _random_inputs(BATCH, UNITS, seed=5)]

    def gradients(run):
        with tf.GradientTape() as tape:
            tape.watch([inputs, *initial_state])
            outputs, (h, c) = run(inputs, initial_state)
            loss = sum(tf.reduce_sum(x * w)
                       for x, w in zip((outputs, h, c), weights))
        return [outputs, h, c] + tape.gradient(
            loss, [inputs, *initial_state, *cell.trainable_variables])

    def generic(x, state):
        return RecurrentCell.run(cell, x, state)

    ours = (gradients(cell.run) if jit_compile is None else tf.function(
        lambda: gradients(cell.run), jit_compile=jit_compile)())
    reference = gradients(generic)
    assert len(ours) == 3 + 3 + 3
    for got, expected in zip(ours, reference):
        np.testing.assert_allclose(got, expected, atol=ATOL)


def test_lstm_weight_dropout_drops_recurrent_weights_only_in_training():
    """In training, `weight_dropout` runs the sequence on one kernel with
    some weights zeroed and the rest scaled by 1 / (1 - rate): the dropped
    weights get no gradient, and the outputs are exactly those of the plain
    loop on the kernel that mask makes. Outside training nothing changes."""
    rate = 0.5
    cell = _randomized(LSTMCell)
    dropped = LSTMCell(INPUT_SIZE, UNITS, weight_dropout=rate)
    for source, target in zip(cell.trainable_variables,
                              dropped.trainable_variables):
        target.assign(source)
    inputs = _random_inputs(BATCH, TIME, INPUT_SIZE)
    state = _random_state(cell)

    outputs, _ = dropped.run(inputs, state)
    np.testing.assert_array_equal(outputs, cell.run(inputs, state)[0])

    tf.random.set_seed(7)
    with tf.GradientTape() as tape:
        outputs, _ = dropped.run(inputs, state, training=True)
        loss = tf.reduce_sum(outputs * _random_inputs(BATCH, TIME, UNITS))
    kept = tape.gradient(loss, dropped.recurrent_kernel).numpy() != 0
    assert 0 < kept.sum() < kept.size
    cell.recurrent_kernel.assign(
        cell.recurrent_kernel * kept.astype(np.float32) / (1 - rate))
    expected, _ = RecurrentCell.run(cell, inputs, state)
    np.testing.assert_allclose(outputs, expected, atol=ATOL)


def test_lstm_weight_dropout_is_checked():
    with pytest.raises(ConfigurationError, match="weight_dropout"):
        LSTMCell(INPUT_SIZE, UNITS, weight_dropout=1.0)
