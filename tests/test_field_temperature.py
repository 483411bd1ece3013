"""`@constraints.field_temperature`: a named field is drawn at the sampler's
temperature times its factor, every other field at the sampler's."""

import numpy as np
import pytest
import tensorflow as tf

from polyframe import checks, plugin_loading, registries
from polyframe.constraint import NEVER, StepContext
from polyframe_plugins.constraints.field_temperature import FieldTemperature

plugin_loading.load_plugins()


def duration_encoder():
    encoder = registries.ENCODERS.get("duration")()
    encoder.set_state({"min_pitch": 60, "max_pitch": 64, "end_marker": True,
                       "durations": ["1/2", "1", "2"]})
    return encoder


def context(field, batch=1, voice=0):
    return StepContext(voice=voice, field=field, step=tf.constant(0),
                       time=tf.zeros([batch], tf.int32),
                       drawn=tf.zeros([batch, 4, 2], tf.int32))


def test_only_the_named_field_is_scaled_and_forbidden_tokens_stay():
    processor = FieldTemperature(duration_encoder(), {"duration": 0.5})
    logits = tf.constant([[1.0, -2.0, 0.5, NEVER, 3.0, 0.0]])
    np.testing.assert_allclose(processor(logits, context(1)).numpy(),
                               [[2.0, -4.0, 1.0, NEVER, 6.0, 0.0]])
    np.testing.assert_array_equal(processor(logits, context(0)).numpy(),
                                  logits.numpy())
    # Above 1 a factor flattens, and a forbidden token is still forbidden.
    flatter = FieldTemperature(duration_encoder(), {"duration": 4.0})
    np.testing.assert_allclose(flatter(logits, context(1)).numpy(),
                               [[0.25, -0.5, 0.125, NEVER, 0.75, 0.0]])
    # Without factors nothing changes.
    unchanged = FieldTemperature(duration_encoder())
    np.testing.assert_array_equal(unchanged(logits, context(1)).numpy(),
                                  logits.numpy())


def test_a_named_voice_is_scaled_in_every_field_times_the_field_factor():
    processor = FieldTemperature(duration_encoder(), {"duration": 0.5},
                                 voice_factors={"Alto": 2.0})
    logits = tf.constant([[1.0, -2.0, NEVER, 4.0]])
    alto, soprano = 1, 0
    # The alto's pitches at twice the temperature, its durations at 2 x 0.5.
    np.testing.assert_allclose(
        processor(logits, context(0, voice=alto)).numpy(),
        [[0.5, -1.0, NEVER, 2.0]])
    np.testing.assert_allclose(
        processor(logits, context(1, voice=alto)).numpy(),
        logits.numpy())
    # The soprano keeps the sampler's temperature for its pitches.
    np.testing.assert_array_equal(
        processor(logits, context(0, voice=soprano)).numpy(),
        logits.numpy())
    np.testing.assert_allclose(
        processor(logits, context(1, voice=soprano)).numpy(),
        [[2.0, -4.0, NEVER, 8.0]])


@pytest.mark.parametrize("field, factor", [(1, 0.5), (0, 1.0)])
def test_draws_follow_the_sampler_temperature_times_the_factor(field,
                                                              factor):
    batch = 20000
    processor = FieldTemperature(duration_encoder(), {"duration": 0.5})
    sampler = registries.SAMPLERS.get("temperature")(temperature=0.8)
    logits = tf.tile(tf.constant([[0.3, -0.4, 0.0, 0.9]]), [batch, 1])
    drawn = sampler(processor(logits, context(field, batch)),
                    tf.constant([5, 7])).numpy()
    shares = np.bincount(drawn, minlength=4) / batch
    expected = tf.nn.softmax(logits[0] / (0.8 * factor)).numpy()
    sigma = np.sqrt(expected * (1 - expected) / batch)
    np.testing.assert_array_less(np.abs(shares - expected), 4 * sigma)
    # The other temperature is told apart (more than 4 sigma off).
    other = tf.nn.softmax(logits[0] / (0.8 * (1.5 - factor))).numpy()
    assert np.abs(shares - other).max() > 4 * sigma.max()


@pytest.mark.parametrize("factors, message", [
    ({"velocity": 0.5}, "names the field 'velocity', which DurationEncoder "
     "does not have; its fields are pitch, duration"),
    ({"duration": 0}, "factors['duration']"),
    (0.5, "must map field names (pitch, duration) to factors"),
])
def test_bad_factors_are_refused_naming_the_setting(factors, message):
    with pytest.raises(checks.ConfigurationError) as error:
        FieldTemperature(duration_encoder(), factors)
    assert message in str(error.value)
    assert "constraints.field_temperature" in str(error.value)


@pytest.mark.parametrize("factors, message", [
    ({"viola": 1.2}, "voice_factors names the voice 'viola', which "
     "DurationEncoder does not have; its voices are soprano, alto, tenor, "
     "bass"),
    ({"alto": -1.0}, "voice_factors['alto']"),
    (1.2, "voice_factors must map voice names (soprano, alto, tenor, bass)"),
])
def test_bad_voice_factors_are_refused_naming_the_setting(factors, message):
    with pytest.raises(checks.ConfigurationError) as error:
        FieldTemperature(duration_encoder(), voice_factors=factors)
    assert message in str(error.value)
    assert "constraints.field_temperature" in str(error.value)
