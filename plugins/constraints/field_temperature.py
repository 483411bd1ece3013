"""A temperature per field and per voice: sharpen the rhythm, free a voice.

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

Voices can be scaled too, by name. A model whose alto moves within a
narrower range than Bach's can draw it more freely than the rest:

    constraints.field_temperature.voice_factors = {'alto': 1.15}

The other voices follow what the alto does, so check their ranges too: on
some models a freer alto widens the soprano (BENCHMARKS.md, "The default
job: a wider head").

A token of a scaled voice and a scaled field is drawn at the product of
both factors (the alto's durations above: 0.9 x 0.5 x 1.15).
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
    """Multiplies the temperature of the named fields and voices by their
    factors.

    Args:
        encoder: The encoder (its fields' and voices' names).
        factors: Field name to factor, each a real number > 0: below 1 the
            field is drawn more surely than the rest, above 1 more freely.
            None (the default) changes nothing.
        voice_factors: Voice name (the encoder's, in any case: 'alto') to
            factor, the same way for every token of that voice. None (the
            default) changes nothing.

    Raises:
        ConfigurationError: a name that is not one of the encoder's fields
            or voices (the message lists them), or a factor that is not > 0.
    """

    def __init__(self, encoder: EventEncoder,
                 factors: Optional[Mapping[str, float]] = None,
                 voice_factors: Optional[Mapping[str, float]] = None):
        self._field_scales = _scales(
            "factors", "field",
            [field.name.lower() for field in encoder.fields],
            factors, type(encoder).__name__)
        self._voice_scales = _scales(
            "voice_factors", "voice",
            [name.lower() for name in encoder.voice_names],
            voice_factors, type(encoder).__name__)

    def __call__(self, logits, context: StepContext):
        scale = (self._field_scales.get(context.field, 1.0)
                 * self._voice_scales.get(context.voice, 1.0))
        if scale == 1.0:
            return logits
        allowed = logits > NEVER / 2
        return tf.where(allowed, logits * tf.cast(scale, logits.dtype),
                        logits)


def _scales(setting: str, kind: str, names, factors, encoder_name: str):
    """Index of each named field or voice to the inverse of its factor
    (`names` in lower case; a name matches in any case)."""
    factors = {} if factors is None else factors
    if not isinstance(factors, Mapping):
        raise checks.ConfigurationError(
            f"{_OWNER}.{setting} must map {kind} names ({', '.join(names)}) "
            f"to factors, got {factors!r}.")
    scales = {}
    for name, factor in factors.items():
        key = name.lower() if isinstance(name, str) else name
        if key not in names:
            raise checks.ConfigurationError(
                f"{_OWNER}.{setting} names the {kind} {name!r}, which "
                f"{encoder_name} does not have; its {kind}s are "
                f"{', '.join(names)}.")
        factor = checks.real(_OWNER, f"{setting}[{name!r}]", factor,
                             above=0.0)
        scales[names.index(key)] = 1.0 / factor
    return scales
