"""Checks of configured values, made where a component is constructed.

Every configurable (the `TrainConfig`-style settings and every registered
component) checks its arguments when it is built, so that a bad binding
such as `TrainConfig.batch_size = -3` or `cells.lstm.num_units = 0` is one
line naming the parameter, before any data is read, instead of a traceback
(or a run that trains nonsense). `ConfigurationError` is a
`UserFacingError` (and a `ValueError`), which the binary prints as that line
with exit code 2.

Each helper returns the value (as the checked type) so constructors can
write `self.units = checks.integer("cells.lstm", "num_units", units, minimum=1)`.
"""

import math
import numbers
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from polyframe.encoding import Field
from polyframe.errors import UserFacingError


class ConfigurationError(UserFacingError, ValueError):
    """A configured value has the wrong type or lies out of range."""


def integer(owner: str, name: str, value: Any, *,
            minimum: Optional[int] = None, maximum: Optional[int] = None,
            optional: bool = False) -> Optional[int]:
    """Checks a whole number (not a bool, not a float) in [minimum, maximum].

    Args:
        owner: The configurable, as gin names it (e.g. "TrainConfig",
            "cells.lstm").
        name: The parameter.
        value: The value to check.
        minimum: Smallest allowed value, if any.
        maximum: Largest allowed value, if any.
        optional: Whether None is allowed.

    Raises:
        ConfigurationError: naming `owner.name`, what it must be and the value.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(owner, name, _wanted("a whole number", minimum, maximum,
                                   optional), value)
    if ((minimum is not None and value < minimum) or
            (maximum is not None and value > maximum)):
        _fail(owner, name, _wanted("a whole number", minimum, maximum,
                                   optional), value)
    return int(value)


def real(owner: str, name: str, value: Any, *,
         minimum: Optional[float] = None, maximum: Optional[float] = None,
         above: Optional[float] = None, below: Optional[float] = None,
         optional: bool = False) -> Optional[float]:
    """Checks a finite number in range: `minimum`/`maximum` are inclusive
    bounds, `above`/`below` exclusive ones (see `integer` for the rest)."""
    if value is None and optional:
        return None
    wanted = _wanted("a finite number", minimum, maximum, optional, above,
                     below)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(owner, name, wanted, value)
    value = float(value)
    if (not math.isfinite(value)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
            or (above is not None and value <= above)
            or (below is not None and value >= below)):
        _fail(owner, name, wanted, value)
    return value


def boolean(owner: str, name: str, value: Any) -> bool:
    """Checks True or False (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        _fail(owner, name, "True or False", value)
    return value


def choice(owner: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Checks that `value` is one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        _fail(owner, name, "one of " + ", ".join(repr(c) for c in choices),
              value)
    return value


def text(owner: str, name: str, value: Any, *,
         optional: bool = False) -> Optional[str]:
    """Checks a non-empty string (a path, a name)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        _fail(owner, name, "a non-empty string" + (" or None" if optional
                                                   else ""), value)
    return value


def pitch_range(owner: str, min_pitch: Any,
                      max_pitch: Any) -> Tuple[int, int]:
    """Checks a vocabulary's MIDI pitch range `min_pitch..max_pitch`.

    Returns:
        `(min_pitch, max_pitch)` as ints.

    Raises:
        ConfigurationError: unless both are whole numbers in 0..127 and
            `min_pitch <= max_pitch` (then `max_pitch` is named).
    """
    min_pitch = integer(owner, "min_pitch", min_pitch, minimum=0,
                               maximum=127)
    max_pitch = integer(owner, "max_pitch", max_pitch,
                               minimum=min_pitch, maximum=127)
    return min_pitch, max_pitch


def fields(owner: str, fields: Any) -> Tuple[Field, ...]:
    """Checks the encoder's fields a model is built with (not a user binding).

    Raises:
        ConfigurationError: unless `fields` is a non-empty sequence of `Field`.
    """
    if (isinstance(fields, (str, bytes)) or not isinstance(fields, Sequence)
            or not fields or not all(isinstance(f, Field) for f in fields)):
        raise ConfigurationError(
            f"{owner}.fields must be a non-empty sequence of Field, got "
            f"{fields!r}.")
    return tuple(fields)


def embedding_sizes(owner: str, sizes: Any) -> Dict[str, int]:
    """Checks `embedding_sizes`: None or field name -> whole number >= 1.

    Names that are no field of the encoder are allowed (and unused), so one
    binding serves several encoders.

    Raises:
        ConfigurationError: naming `owner.embedding_sizes` (or the entry).
    """
    if sizes is None:
        return {}
    if not isinstance(sizes, Mapping):
        raise ConfigurationError(
            f"{owner}.embedding_sizes must be a mapping of field name to "
            f"width, or None, got {sizes!r}.")
    checked = {}
    for name, size in sizes.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"{owner}.embedding_sizes must be keyed by field names "
                f"(non-empty strings), got the key {name!r}.")
        checked[name] = integer(owner, f"embedding_sizes[{name!r}]",
                                       size, minimum=1)
    return checked


def _wanted(kind: str, minimum, maximum, optional: bool, above=None,
            below=None) -> str:
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if above is not None:
        bounds.append(f"> {above:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    if below is not None:
        bounds.append(f"< {below:g}")
    wanted = kind + (" " + " and ".join(bounds) if bounds else "")
    return wanted + (" or None" if optional else "")


def _fail(owner: str, name: str, wanted: str, value: Any) -> None:
    raise ConfigurationError(f"{owner}.{name} must be {wanted}, got "
                             f"{value!r}.")
