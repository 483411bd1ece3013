"""Samplers that draw one token id per batch row from categorical logits.

Every sampler is called as `sampler(logits, seed)` with `logits` of shape
`[batch, vocab]` and a stateless RNG `seed` of shape `[2]`, and returns
`[batch]` int32 ids. They use only TensorFlow ops and stateless randomness,
so they trace into a compiled `tf.function` generation loop (XLA included)
and give the same ids for the same seed.

Temperature divides the logits before sampling: below 1 it sharpens the
distribution towards the likeliest tokens, above 1 it flattens it. A
temperature of 0 means "always the likeliest token" (argmax).

Every sampler checks its settings when it is built (`polyframe.checks`), so a
bad binding such as `samplers.top_k.k = 0` is one line naming it.
"""

import math

import tensorflow as tf

from polyframe import checks
from polyframe.registries import SAMPLERS


def _check_temperature(owner: str, temperature) -> float:
    """A finite temperature >= 0 (0 is argmax), as a float."""
    return checks.real(owner, "temperature", temperature, minimum=0)


def _as_float_logits(logits: tf.Tensor) -> tf.Tensor:
    """Casts to float32 so half-precision logits do not lose the tail."""
    logits = tf.convert_to_tensor(logits)
    if logits.dtype != tf.float64:
        logits = tf.cast(logits, tf.float32)
    return logits


def _argmax(logits: tf.Tensor) -> tf.Tensor:
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


def _draw(logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Draws one id per row of `logits` ([batch, n]) -> [batch] int32.

    The seed is cast to int32 because XLA implements stateless categorical
    sampling for int32 seeds only; int64 seeds are reduced modulo 2**32.
    """
    seed = tf.cast(seed, tf.int32)
    return tf.random.stateless_categorical(
            logits, num_samples=1, seed=seed, dtype=tf.int32)[:, 0]


@SAMPLERS.register("greedy")
class GreedySampler:
    """Always picks the likeliest token; ignores the seed."""

    def __call__(self, logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Returns the argmax id of each row of `logits` as [batch] int32."""
        del seed
        return _argmax(_as_float_logits(logits))

    def __repr__(self) -> str:
        return "GreedySampler()"


@SAMPLERS.register("temperature")
class TemperatureSampler:
    """Samples from the whole distribution after scaling by a temperature.

    Args:
        temperature: Divides the logits. The shipped configs set their
            own, chosen by the musical statistics of their samples (see
            BENCHMARKS.md); 1 samples the model's distribution unchanged;
            0 is argmax.

    Raises:
        ConfigurationError: if `temperature` is not a finite number >= 0.
    """

    def __init__(self, temperature: float = 0.7):
        self.temperature = _check_temperature("samplers.temperature",
                                              temperature)

    def __call__(self, logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Draws one id per row of `logits` ([batch, vocab]) -> [batch] int32."""
        logits = _as_float_logits(logits)
        if self.temperature <= 0:
            return _argmax(logits)
        return _draw(logits / self.temperature, seed)

    def __repr__(self) -> str:
        return f"TemperatureSampler(temperature={self.temperature})"


@SAMPLERS.register("top_k")
class TopKSampler:
    """Samples among the `k` likeliest tokens only.

    Cutting the tail removes the many individually unlikely tokens whose
    summed probability would otherwise produce an occasional wild note.
    Exactly `k` candidates are kept even when logits tie at the boundary.

    Args:
        k: How many of the likeliest tokens to keep; a `k` larger than the
            vocabulary keeps all of it.
        temperature: Divides the kept logits; 0 is argmax.

    Raises:
        ConfigurationError: if `k` is not a whole number >= 1 or `temperature`
            is not a finite number >= 0.
    """

    def __init__(self, k: int = 8, temperature: float = 1.0):
        self.k = checks.integer("samplers.top_k", "k", k, minimum=1)
        self.temperature = _check_temperature("samplers.top_k", temperature)

    def __call__(self, logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Draws one id per row of `logits` ([batch, vocab]) -> [batch] int32."""
        logits = _as_float_logits(logits)
        if self.temperature <= 0:
            return _argmax(logits)
        vocab_size = logits.shape[-1]
        if vocab_size is not None:
            k = min(self.k, vocab_size)
        else:
            k = tf.minimum(self.k, tf.shape(logits)[-1])
        top_logits, top_ids = tf.math.top_k(logits, k=k)
        choice = _draw(top_logits / self.temperature, seed)
        return tf.gather(top_ids, choice[:, tf.newaxis], batch_dims=1)[:, 0]

    def __repr__(self) -> str:
        return f"TopKSampler(k={self.k}, temperature={self.temperature})"


@SAMPLERS.register("nucleus")
class NucleusSampler:
    """Samples from the smallest set of likeliest tokens with mass >= `p`.

    Unlike top-k, the number of candidates adapts to the model's confidence:
    one or two when it is sure, many when it is not. The set is chosen on
    the temperature-scaled distribution.

    Args:
        p: Probability mass to keep, in (0, 1]; 1 keeps every token.
        temperature: Divides the logits before the set is chosen; 0 is
            argmax.

    Raises:
        ConfigurationError: if `p` is not a number in (0, 1] or `temperature`
            is not a finite number >= 0.
    """

    def __init__(self, p: float = 0.9, temperature: float = 1.0):
        self.p = checks.real("samplers.nucleus", "p", p, above=0, maximum=1)
        self.temperature = _check_temperature("samplers.nucleus", temperature)

    def __call__(self, logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Draws one id per row of `logits` ([batch, vocab]) -> [batch] int32."""
        logits = _as_float_logits(logits)
        if self.temperature <= 0:
            return _argmax(logits)
        scaled = logits / self.temperature
        order = tf.argsort(scaled, axis=-1, direction="DESCENDING", stable=True)
        sorted_logits = tf.gather(scaled, order, batch_dims=1)
        # Mass of all likelier tokens: a token is kept while that mass is
        # still short of p, so the kept prefix is the smallest reaching p.
        mass_before = tf.math.cumsum(
                tf.nn.softmax(sorted_logits, axis=-1), axis=-1, exclusive=True)
        kept = tf.where(mass_before < self.p, sorted_logits,
                        tf.constant(-math.inf, sorted_logits.dtype))
        choice = _draw(kept, seed)
        return tf.gather(order, choice[:, tf.newaxis], batch_dims=1)[:, 0]

    def __repr__(self) -> str:
        return f"NucleusSampler(p={self.p}, temperature={self.temperature})"
