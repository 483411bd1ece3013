"""The event Transformer: a causal decoder over events, with ALiBi and a cache.

Architecture. Each event (all voices' fields) is embedded with a
`VoiceEmbedding`, the voices' embeddings are concatenated and projected to
`d_model`. A stack of `num_layers` pre-LayerNorm decoder blocks follows:

    x = x + dropout(attention(layer_norm(x)))    # causal, multi-head
    x = x + dropout(feed_forward(layer_norm(x)))  # d_model -> ff_size -> d_model, GELU

and a final LayerNorm. The decoder output of step t and the embedded input of
step t go to the same pluggable head as the event RNN's (`@heads.autoregressive`
works unchanged), which predicts event t + 1 voice by voice. Everything is raw
TF ops (variables, matmul, einsum), like the RNN, so it runs under XLA.

Positions: ALiBi (Press et al., 2022, "Train short, test long"). There is no
position embedding; instead every head h adds `-slope_h * (query - key)` to
its attention scores, with geometric slopes (1/2, 1/4, ... for 8 heads), so
each head attends over a different horizon and the scores depend only on how
far back a key is. Training sees windows of ~40 events, but evaluation and
sampling run over whole chorales of hundreds of events: with ALiBi there is
no maximum length and nothing position-specific to fail to generalise.

Generation keeps a key/value cache so that sampling is one compiled loop
(`polyframe.generation`) with one new row of work per event. The state is a
dict of tensors whose shapes never change from step to step (a `tf.while_loop`
requirement):

    keys, values: per layer `[B, capacity, num_heads, d_model // num_heads]`,
        capacity = P + 1 + max_new_events (primer rows, START included, plus
        every event `advance` may add); rows >= `length` are zeros and masked.
    length: int32 scalar, how many rows the cache holds.
    output: `[B, d_model]`, the decoder output of the last row.
    input: `[B, embedding width]`, the embedded last row.

`advance` writes the new row's keys/values at index `length` with
`tf.tensor_scatter_nd_update` (fine inside `tf.while_loop` and under XLA),
attends over rows `0..length` and increments `length`. Advancing past the
capacity is an error (on CPU) or silently drops the row (on GPU).
"""

import math
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

from polyframe import checks
from polyframe.encoding import Field
from polyframe.head import Head
from polyframe.layers import VoiceEmbedding, glorot
from polyframe.registries import MODELS
from polyframe.sequence_model import SequenceModel

# Added to the score of a key a query must not see. Finite (not -inf) so that
# a fully masked row cannot produce NaN; exp(-1e9 - max) is exactly 0 in float32.
_MASKED = -1e9
_LAYER_NORM_EPSILON = 1e-5


def alibi_slopes(num_heads: int) -> List[float]:
    """The ALiBi slope of every head, as in the paper's reference code.

    For a power of two `n` the slopes are `2^(-8/n), 2^(-16/n), ...`; other
    head counts take the slopes of the power of two below and every other
    slope of the power of two above, so the horizons still spread evenly.
    """

    def power_of_two(n):
        first = 2.0 ** (-8.0 / n)
        return [first ** (i + 1) for i in range(n)]

    if num_heads & (num_heads - 1) == 0:
        return power_of_two(num_heads)
    below = 2 ** int(math.floor(math.log2(num_heads)))
    return (power_of_two(below) +
            power_of_two(2 * below)[0::2][:num_heads - below])


def _dense(inputs: tf.Tensor, kernel: tf.Variable,
           bias: tf.Variable) -> tf.Tensor:
    """`[..., in] @ [in, out] + [out]`, flattening the leading axes.

    Flattened because einsum/tensordot gradients with implicit leading axes
    are much slower in TF than a plain matmul.
    """
    leading = tf.shape(inputs)[:-1]
    flat = tf.reshape(inputs, [-1, kernel.shape[0]])
    out = tf.matmul(flat, kernel) + bias
    return tf.reshape(out, tf.concat([leading, [kernel.shape[1]]], axis=0))


class _LayerNorm(tf.Module):
    """Normalises the last axis to zero mean and unit variance, then scales."""

    def __init__(self, size: int, name=None):
        super().__init__(name=name)
        self.gamma = tf.Variable(tf.ones([size]), name="gamma")
        self.beta = tf.Variable(tf.zeros([size]), name="beta")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return ((x - mean) * tf.math.rsqrt(variance + _LAYER_NORM_EPSILON)
                * self.gamma + self.beta)


class _DecoderBlock(tf.Module):
    """One pre-LayerNorm block: causal ALiBi self-attention, then feed-forward.

    Args:
        d_model: Width of the residual stream.
        num_heads: Attention heads (each `d_model // num_heads` wide).
        ff_size: Hidden width of the feed-forward layer.
        dropout: Rate on each sublayer's output before the residual add.
        attention_dropout: Rate on the attention probabilities.
    """

    def __init__(self, d_model: int, num_heads: int, ff_size: int,
                 dropout: float, attention_dropout: float, name=None):
        super().__init__(name=name)
        self.num_heads = num_heads
        self.head_size = d_model // num_heads
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.attention_norm = _LayerNorm(d_model, name="attention_norm")
        # Q, K and V in one matmul; each part initialised as its own
        # [d_model, d_model] Glorot matrix.
        limit = (6.0 / (2 * d_model)) ** 0.5
        self.qkv_kernel = tf.Variable(
            tf.random.uniform([d_model, 3 * d_model], -limit, limit),
            name="qkv_kernel")
        self.qkv_bias = tf.Variable(tf.zeros([3 * d_model]), name="qkv_bias")
        self.out_kernel = glorot([d_model, d_model], "out_kernel")
        self.out_bias = tf.Variable(tf.zeros([d_model]), name="out_bias")
        self.ff_norm = _LayerNorm(d_model, name="ff_norm")
        self.ff_kernel = glorot([d_model, ff_size], "ff_kernel")
        self.ff_bias = tf.Variable(tf.zeros([ff_size]), name="ff_bias")
        self.ff_out_kernel = glorot([ff_size, d_model], "ff_out_kernel")
        self.ff_out_bias = tf.Variable(tf.zeros([d_model]), name="ff_out_bias")

    def _qkv(self, x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """`[B, T, d]` -> queries, keys, values, each `[B, T, H, d/H]`."""
        qkv = _dense(self.attention_norm(x), self.qkv_kernel, self.qkv_bias)
        shape = tf.concat([tf.shape(x)[:-1],
                           [3, self.num_heads, self.head_size]], axis=0)
        qkv = tf.reshape(qkv, shape)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def _rest(self, x: tf.Tensor, queries: tf.Tensor, keys: tf.Tensor,
              values: tf.Tensor, bias: tf.Tensor, training: bool) -> tf.Tensor:
        """Attention of `queries` `[B, Tq, H, D]` over `keys`/`values`
        `[B, Tk, H, D]` with `bias` `[H, Tq, Tk]`, then the residual adds and
        the feed-forward sublayer; returns the new `x` `[B, Tq, d]`."""
        scores = tf.einsum("bqhd,bkhd->bhqk", queries, keys)
        scores = scores * (self.head_size ** -0.5) + bias
        probabilities = tf.nn.softmax(scores, axis=-1)
        if training and self.attention_dropout > 0:
            probabilities = tf.nn.dropout(probabilities,
                                          self.attention_dropout)
        attended = tf.einsum("bhqk,bkhd->bqhd", probabilities, values)
        attended = tf.reshape(attended, tf.shape(x))
        x += self._drop(_dense(attended, self.out_kernel, self.out_bias),
                        training)
        hidden = tf.nn.gelu(_dense(self.ff_norm(x), self.ff_kernel,
                                   self.ff_bias))
        return x + self._drop(
            _dense(hidden, self.ff_out_kernel, self.ff_out_bias), training)

    def _drop(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if training and self.dropout > 0:
            return tf.nn.dropout(x, self.dropout)
        return x

    def __call__(self, x: tf.Tensor, bias: tf.Tensor, training: bool = False):
        """Whole sequences `[B, T, d]`; returns the output and its keys and
        values (`[B, T, H, D]`, for the generation cache)."""
        queries, keys, values = self._qkv(x)
        return self._rest(x, queries, keys, values, bias, training), keys, values

    def step(self, x: tf.Tensor, key_cache: tf.Tensor, value_cache: tf.Tensor,
             length: tf.Tensor, bias: tf.Tensor):
        """One new row `x` `[B, 1, d]` at position `length`.

        Writes its key and value into the caches `[B, capacity, H, D]` at
        `length` and attends over rows `0..length` (`bias` masks the rest).
        Returns the output `[B, 1, d]` and the updated caches.
        """
        queries, keys, values = self._qkv(x)
        batch = tf.shape(x)[0]
        indices = tf.stack([tf.range(batch), tf.fill([batch], length)], -1)
        key_cache = tf.tensor_scatter_nd_update(key_cache, indices,
                                                keys[:, 0])
        value_cache = tf.tensor_scatter_nd_update(value_cache, indices,
                                                  values[:, 0])
        x = self._rest(x, queries, key_cache, value_cache, bias, False)
        return x, key_cache, value_cache


@MODELS.register("event_transformer")
class EventTransformer(SequenceModel):
    """A causal Transformer decoder over events, with ALiBi positions.

    See the module docstring for the architecture and the generation state.

    Args:
        fields: The encoder's fields.
        num_voices: Voices per event.
        head: Factory of a `Head`, called as `head(fields=, num_voices=,
            state_size=d_model, input_size=embedding width)`, as for the RNN.
        num_layers: Decoder blocks (at least 1).
        d_model: Width of the residual stream; a multiple of `num_heads`.
        num_heads: Attention heads per block.
        ff_size: Hidden width of each block's feed-forward layer.
        embedding_sizes: Embedding width by field name; fields not named get
            `default_embedding_size`.
        default_embedding_size: See above.
        dropout: Rate on the input projection and on every sublayer's output
            (before the residual add), in training; in [0, 1).
        attention_dropout: Rate on the attention probabilities, in training;
            in [0, 1).
        name: Name scope of the variables.

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`models.event_transformer.<argument>`):
            `fields` must be a non-empty sequence of `Field`; `num_voices`,
            `num_layers`, `d_model`, `num_heads`, `ff_size`,
            `default_embedding_size` and the `embedding_sizes` whole numbers
            >= 1, `d_model` a multiple of `num_heads`; `dropout` and
            `attention_dropout` in [0, 1).
    """

    def __init__(self, fields: Sequence[Field], num_voices: int,
                 head: Callable[..., Head], num_layers: int = 2,
                 d_model: int = 128, num_heads: int = 4, ff_size: int = 512,
                 embedding_sizes: Optional[Mapping[str, int]] = None,
                 default_embedding_size: int = 32, dropout: float = 0.1,
                 attention_dropout: float = 0.0,
                 name: str = "event_transformer"):
        owner = "models.event_transformer"
        fields = checks.fields(owner, fields)
        num_voices = checks.integer(owner, "num_voices", num_voices, minimum=1)
        num_layers = checks.integer(owner, "num_layers", num_layers, minimum=1)
        num_heads = checks.integer(owner, "num_heads", num_heads, minimum=1)
        d_model = checks.integer(owner, "d_model", d_model, minimum=1)
        if d_model % num_heads:
            raise checks.ConfigurationError(
                f"{owner}.d_model must be a multiple of {owner}.num_heads "
                f"({num_heads}), got {d_model!r}.")
        ff_size = checks.integer(owner, "ff_size", ff_size, minimum=1)
        sizes = checks.embedding_sizes(owner, embedding_sizes)
        default_embedding_size = checks.integer(
            owner, "default_embedding_size", default_embedding_size,
            minimum=1)
        dropout = checks.real(owner, "dropout", dropout, minimum=0, below=1)
        attention_dropout = checks.real(owner, "attention_dropout",
                                        attention_dropout, minimum=0, below=1)
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(fields, num_voices, name=name)
        self.d_model = d_model
        self.num_heads = num_heads
        self.dropout = dropout
        self.embedding = VoiceEmbedding(
            self.fields, self.num_voices,
            [sizes.get(f.name, default_embedding_size) for f in self.fields])
        width = self.embedding.output_size
        self.input_kernel = glorot([width, self.d_model], "input_kernel")
        self.input_bias = tf.Variable(tf.zeros([self.d_model]),
                                      name="input_bias")
        self.blocks = [
            _DecoderBlock(self.d_model, self.num_heads, ff_size, self.dropout,
                          attention_dropout, name=f"layer_{layer}")
            for layer in range(num_layers)]
        self.final_norm = _LayerNorm(self.d_model, name="final_norm")
        self.slopes = tf.constant(alibi_slopes(self.num_heads), tf.float32)
        self.head = head(fields=self.fields, num_voices=self.num_voices,
                         state_size=self.d_model, input_size=width)

    def _bias(self, queries: tf.Tensor, keys: tf.Tensor) -> tf.Tensor:
        """ALiBi plus the causal mask, `[H, Q, K]`, for int32 positions."""
        distance = queries[:, None] - keys[None, :]
        linear = -self.slopes[:, None, None] * tf.cast(distance, tf.float32)
        return tf.where(distance >= 0, linear, _MASKED)

    def _project(self, inputs: tf.Tensor, training: bool) -> tf.Tensor:
        x = _dense(inputs, self.input_kernel, self.input_bias)
        if training and self.dropout > 0:
            x = tf.nn.dropout(x, self.dropout)
        return x

    def _decode(self, inputs: tf.Tensor, training: bool = False):
        """Embedded rows `[B, T, E]` -> decoder outputs `[B, T, d]` and every
        layer's keys and values."""
        positions = tf.range(tf.shape(inputs)[1])
        bias = self._bias(positions, positions)
        x = self._project(inputs, training)
        keys, values = [], []
        for block in self.blocks:
            x, k, v = block(x, bias, training)
            keys.append(k)
            values.append(v)
        return self.final_norm(x), keys, values

    def logits(self, batch, training=False):
        events = batch["events"]
        inputs = self.embedding(events[:, :-1])
        outputs, _, _ = self._decode(inputs, training)
        return self.head.logits(outputs, inputs, events[:, 1:], training,
                                previous=events[:, :-1, :, 0])

    def start(self, events, context, max_new_events):
        """Runs the primer and preallocates the caches (see the module doc).

        `max_new_events` may be a Python int or an int32 scalar tensor; under
        XLA it must be a Python int (the cache shape must be static).
        """
        del context
        inputs = self.embedding(events)
        outputs, keys, values = self._decode(inputs)
        padding = [[0, 0], [0, max_new_events], [0, 0], [0, 0]]
        return {
            "keys": tuple(tf.pad(k, padding) for k in keys),
            "values": tuple(tf.pad(v, padding) for v in values),
            "length": tf.shape(events, out_type=tf.int32)[1],
            "output": outputs[:, -1],
            "input": inputs[:, -1],
            "previous": events[:, -1, :, 0],
        }

    def voice_logits(self, state, drawn, voice):
        return self.head.voice_logits(state["output"], state["input"], drawn,
                                      voice, previous=state["previous"])

    def advance(self, state, event, context):
        del context
        inputs = self.embedding(event)
        length = state["length"]
        capacity = tf.shape(state["keys"][0])[1]
        bias = self._bias(length[None], tf.range(capacity))
        x = self._project(inputs[:, None], False)
        keys, values = [], []
        for block, k, v in zip(self.blocks, state["keys"], state["values"]):
            x, k, v = block.step(x, k, v, length, bias)
            keys.append(k)
            values.append(v)
        return {
            "keys": tuple(keys),
            "values": tuple(values),
            "length": length + 1,
            "output": self.final_norm(x)[:, 0],
            "input": inputs,
            "previous": event[..., 0],
        }
