"""Small building blocks shared by models and heads, from raw TF ops."""

from typing import Optional, Sequence

import tensorflow as tf

from polyframe.encoding import START_ID, Field


def glorot(shape, name: str) -> tf.Variable:
    """A Glorot-uniform initialised trainable variable."""
    fan_in, fan_out = shape[-2], shape[-1]
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return tf.Variable(tf.random.uniform(shape, -limit, limit), name=name)


class VoiceEmbedding(tf.Module):
    """Embeds every field of every voice, with a table per (voice, field).

    Voices keep separate tables because the same pitch means something
    different to a soprano and a bass.

    Args:
        fields: The encoder's fields.
        num_voices: Voices per event.
        sizes: Embedding width of each field, in the order of `fields`.
    """

    def __init__(self, fields: Sequence[Field], num_voices: int,
                 sizes: Sequence[int], name=None):
        super().__init__(name=name)
        self.fields = tuple(fields)
        self.num_voices = num_voices
        self.sizes = tuple(int(s) for s in sizes)
        self.tables = [
            tf.Variable(tf.random.normal([num_voices * f.vocab_size, size],
                                         stddev=size ** -0.5),
                        name=f"{f.name}_embedding")
            for f, size in zip(self.fields, self.sizes)]

    @property
    def output_size(self) -> int:
        return self.num_voices * sum(self.sizes)

    def per_voice(self, events: tf.Tensor) -> tf.Tensor:
        """`[..., voices, fields]` ids -> `[..., voices, sum(sizes)]`."""
        voice_offsets = tf.range(self.num_voices)
        parts = []
        for index, (field, table) in enumerate(zip(self.fields, self.tables)):
            ids = events[..., index] + voice_offsets * field.vocab_size
            parts.append(tf.gather(table, ids))
        return tf.concat(parts, axis=-1)

    def one_voice(self, tokens: tf.Tensor, voice: int) -> tf.Tensor:
        """`[..., fields]` ids of one `voice` -> `[..., sum(sizes)]`."""
        return tf.concat(
            [tf.gather(table, tokens[..., index] + voice * field.vocab_size)
             for index, (field, table) in enumerate(
                 zip(self.fields, self.tables))], axis=-1)

    def __call__(self, events: tf.Tensor) -> tf.Tensor:
        """`[..., voices, fields]` ids -> `[..., voices * sum(sizes)]`."""
        embedded = self.per_voice(events)
        new_shape = tf.concat([tf.shape(embedded)[:-2], [self.output_size]], 0)
        return tf.reshape(embedded, new_shape)


class PerVoiceDense(tf.Module):
    """A dense layer with separate weights for each voice.

    Args:
        input_size: Width of the input of every voice.
        output_size: Width of the output of every voice.
        num_voices: Voices.
        shared_input: If True the input has no voice axis and is read by
            every voice; else it is `[..., voices, input_size]`.
    """

    def __init__(self, input_size: int, output_size: int, num_voices: int,
                 shared_input: bool = False, name=None):
        super().__init__(name=name)
        self.shared_input = shared_input
        self.kernel = glorot([num_voices, input_size, output_size], "kernel")
        self.bias = tf.Variable(tf.zeros([num_voices, output_size]),
                                name="bias")

    def __call__(self, inputs: tf.Tensor,
                 voice: Optional[int] = None) -> tf.Tensor:
        """Applies every voice's weights, or only `voice`'s if given.

        Returns:
            `[..., voices, output_size]`, or `[..., output_size]` for one voice.
        """
        if voice is not None:
            return tf.matmul(inputs, self.kernel[voice]) + self.bias[voice]
        # Leading axes are flattened because the gradient of an einsum with
        # `...` is orders of magnitude slower in TF than with explicit axes.
        kept_axes = 1 if self.shared_input else 2
        leading = tf.shape(inputs)[:-kept_axes]
        flat = tf.reshape(inputs, tf.concat(
            [[-1], tf.shape(inputs)[-kept_axes:]], axis=0))
        if self.shared_input:
            out = tf.einsum("nc,vch->nvh", flat, self.kernel)
        else:
            out = tf.einsum("nvc,vch->nvh", flat, self.kernel)
        out += self.bias
        return tf.reshape(out, tf.concat([leading, tf.shape(out)[1:]], axis=0))


# Periods (quarters) of the metric phase features: beat subdivision, beat
# pair, 4/4 bar.
TIME_PERIODS = (1.0, 2.0, 4.0)
# Quarters after which each progress feature saturates at 1.
TIME_HORIZONS = (16.0, 32.0, 64.0, 128.0)
NUM_TIME_FEATURES = 2 * len(TIME_PERIODS) + len(TIME_HORIZONS)


def time_features(times: tf.Tensor) -> tf.Tensor:
    """Where an event lies in its piece, for a model to condition on.

    Rhythm and endings depend on position: notes start on beats, cadences on
    bar lines, and a piece ends after some tens of bars. A recurrent model
    can count durations itself, but only approximately; these features give
    the position exactly, from the event's start time alone (known before
    the event is drawn, so they never leak the future).

    Args:
        times: `[...]` start of the event in quarter notes from the start of
            the piece.

    Returns:
        `[..., NUM_TIME_FEATURES]` float32: sine and cosine of the phase
        within each of `TIME_PERIODS`, then `min(time / horizon, 1)` for each
        of `TIME_HORIZONS` (how far into the piece, saturating so that a
        piece longer than any in training still looks like a long one).
    """
    times = tf.cast(times, tf.float32)[..., None]
    periods = tf.constant(TIME_PERIODS, tf.float32)
    angles = 2.0 * 3.141592653589793 * times / periods
    horizons = tf.constant(TIME_HORIZONS, tf.float32)
    return tf.concat([tf.sin(angles), tf.cos(angles),
                      tf.minimum(times / horizons, 1.0)], axis=-1)


def prior_tokens(tokens: tf.Tensor) -> tf.Tensor:
    """For tokens `[B, T, V]`, the token each voice had before its current
    run of equal tokens, `START_ID` where the rows show none: `[S, a, a, a,
    b]` for `[a, b, b, b, c]`."""
    def step(carry, now):
        current, prior = carry
        prior = tf.where(tf.equal(now, current), prior, current)
        return now, prior

    _, priors = tf.scan(step, tf.transpose(tokens, [1, 0, 2]),
                        initializer=(tokens[:, 0],
                                     tf.zeros_like(tokens[:, 0]) + START_ID))
    return tf.transpose(priors, [1, 0, 2])


def held_counts(tokens: tf.Tensor) -> tf.Tensor:
    """For tokens `[B, T, V]`, how many rows in a row before each row held
    the same token in the same voice (0 at row 0 and wherever it changed):
    `[0, 0, 1, 2, 0]` for `[a, b, b, b, c]`."""
    same = tf.concat([tf.zeros_like(tokens[:, :1], tf.bool),
                      tf.equal(tokens[:, 1:], tokens[:, :-1])], axis=1)
    counts = tf.scan(
        lambda count, same_now: tf.where(same_now, count + 1, 0),
        tf.transpose(same, [1, 0, 2]),
        initializer=tf.zeros_like(tokens[:, 0]))
    return tf.transpose(counts, [1, 0, 2])
