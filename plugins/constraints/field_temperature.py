"""A temperature of its own for each field of a token.

One temperature for everything trades two things that need not be traded:
a cool pitch choice keeps harmony and voice leading tidy, but cool durations
favour the commonest values, so the long notes that close a phrase grow rare
and pieces reach their final cadence late. `field_temperature` divides the
logits of each named field by its own temperature before the sampler draws;
the sampler's temperature still applies on top, so the effective temperature
of a field is the product of the two.

    SampleConfig.sampler = @samplers.temperature()
    samplers.temperature.temperature = 1.0
    SampleConfig.constraints = [@constraints.field_temperature]
    constraints.field_temperature.temperatures = {'pitch': 0.7}
"""

from typing import Mapping

import tensorflow as tf

from polyframe import checks
from polyframe.constraint import Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS


@CONSTRAINTS.register("field_temperature")
class FieldTemperature(Constraint):
    """Divides each named field's logits by that field's temperature.

    Args:
        encoder: The encoder whose fields are named.
        temperatures: Temperature by field name (e.g. `{'pitch': 0.7}`);
            each a finite number > 0. Fields not named are left alone.

    Raises:
        ConfigurationError: for a name that is not one of the encoder's
            fields (the line lists them) or a temperature that is not a
            finite number > 0.
    """

    def __init__(self, encoder: EventEncoder,
                 temperatures: Mapping[str, float]):
        owner = "constraints.field_temperature"
        names = [field.name for field in encoder.fields]
        if not isinstance(temperatures, Mapping) or not temperatures:
            raise checks.ConfigurationError(
                f"{owner}.temperatures must map field names ({names}) to "
                f"temperatures, e.g. {{'{names[0]}': 0.7}}; got "
                f"{temperatures!r}.")
        self._scales = [1.0] * len(names)
        for name, temperature in temperatures.items():
            if name not in names:
                raise checks.ConfigurationError(
                    f"{owner}.temperatures names {name!r}, which is not a "
                    f"field of {type(encoder).__name__}; its fields are "
                    f"{names}.")
            value = checks.real(owner, f"temperatures[{name!r}]", temperature,
                                above=0)
            self._scales[names.index(name)] = 1.0 / value

    def __call__(self, logits: tf.Tensor, context: StepContext) -> tf.Tensor:
        scale = self._scales[context.field]
        if scale == 1.0:
            return logits
        return logits * tf.constant(scale, logits.dtype)
