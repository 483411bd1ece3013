"""A temperature per field: sharpen the rhythm, keep the pitches free.

One temperature for every token makes one trade-off for all of them. A
chorale's rhythm is plain (mostly quarter notes; eighths pass between chord
tones), while its voices move widely. A low temperature keeps the rhythm
plain and the chords complete but narrows every voice's range; a high one
widens the voices but fills the piece with passing eighths that are not
chords (see the tables in BENCHMARKS.md). `field_temperature` scales the
temperature of chosen fields, so the pitches can be drawn freely over a
plain rhythm:

    SampleConfig.constraints = [@constraints.field_temperature, ...]
    constraints.field_temperature.factors = {'duration': 0.5}

A field is then drawn at the sampler's temperature times its factor (a
temperature sampler at 0.9 draws durations at 0.45). It changes the logits
before the draw like every step of the chain; tokens that a constraint
before it forbade stay forbidden.
"""

from typing import Mapping, Optional

import tensorflow as tf

from polyframe import checks
from polyframe.constraint import NEVER, Constraint, StepContext
from polyframe.encoding import EventEncoder
from polyframe.registries import CONSTRAINTS

_OWNER = "constraints.field_temperature"


@CONSTRAINTS.register("field_temperature")
class FieldTemperature(Constraint):
    """Multiplies the temperature of the named fields by their factors.

    Args:
        encoder: The encoder (its fields' names).
        factors: Field name to factor, each a real number > 0: below 1 the
            field is drawn more surely than the rest, above 1 more freely.
            None (the default) changes nothing.

    Raises:
        ConfigurationError: a name that is not one of the encoder's fields
            (the message lists them), or a factor that is not > 0.
    """

    def __init__(self, encoder: EventEncoder,
                 factors: Optional[Mapping[str, float]] = None):
        names = [field.name for field in encoder.fields]
        factors = {} if factors is None else factors
        if not isinstance(factors, Mapping):
            raise checks.ConfigurationError(
                f"{_OWNER}.factors must map field names ({', '.join(names)}) "
                f"to factors, got {factors!r}.")
        self._scales = {}
        for name, factor in factors.items():
            if name not in names:
                raise checks.ConfigurationError(
                    f"{_OWNER}.factors names the field {name!r}, which "
                    f"{type(encoder).__name__} does not have; its fields are "
                    f"{', '.join(names)}.")
            factor = checks.real(_OWNER, f"factors[{name!r}]", factor,
                                 above=0.0)
            self._scales[names.index(name)] = 1.0 / factor

    def __call__(self, logits, context: StepContext):
        scale = self._scales.get(context.field)
        if scale is None:
            return logits
        allowed = logits > NEVER / 2
        return tf.where(allowed, logits * tf.cast(scale, logits.dtype),
                        logits)
