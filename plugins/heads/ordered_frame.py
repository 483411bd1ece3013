"""A head for piano-roll frames: a proper distribution over sets of pitches.

A piano-roll frame is a set of sounding pitches; the `jsb_json` source (with
`format='piano_roll'`) and the `grid` encoder write it as one pitch per
voice, highest first, with REST in the voices left over. That is a
bijection between sets of at most `num_voices` pitches and token tuples in
canonical order:

* voice 0 holds the highest pitch, or REST for an empty frame;
* every later voice holds a pitch strictly below the voice before it, or
  REST;
* after a REST every later voice is REST;
* after END (the piece's end, drawn in voice 0) every later voice is END.

The plain autoregressive head also gives probability to tuples no frame
maps to (a voice above the one before it, a pitch after a REST), so its
frame probabilities sum to less than one. This head is the autoregressive
head with every non-canonical token masked out of voices 1..V-1, given the
voices before (the true ones in training and evaluation, the drawn ones in
generation), so the probabilities of all frames, and END, sum to exactly
one. It reads only the first field, which must be the grid's pitch field
(ids: START, REST, then pitches upwards, then END when the encoder has an
END marker).
"""

import tensorflow as tf

from polyframe import checks
from polyframe.registries import HEADS
from polyframe_plugins.encoders.grid import FIRST_PITCH_ID, REST_ID
from polyframe_plugins.heads.autoregressive import AutoregressiveHead

# Far below any logit, yet finite: exp() of it is exactly 0 in float32.
_MASKED = -1e9


@HEADS.register("ordered_frame")
class OrderedFrameHead(AutoregressiveHead):
    """The autoregressive head restricted to canonical frames (see above).

    Args:
        fields, num_voices, state_size, input_size, hidden_size,
            embedding_size, dropout, melodic_span, harmonic_span, name: see
            `AutoregressiveHead` (a voice here is a slot of the frame: the
            melodic span counts from the pitch the same slot held in the
            frame before, the harmonic from the next higher pitch).
        end_marker: Whether the last id of the pitch field is END (the
            `grid` encoder's `end_marker`, on by default).

    Raises:
        ConfigurationError: as `AutoregressiveHead`, or if `end_marker` is
            not a boolean.
    """

    gin_name = "heads.ordered_frame"

    def __init__(self, fields, num_voices, state_size, input_size,
                 hidden_size: int = 256, embedding_size: int = 32,
                 dropout: float = 0.0, melodic_span: int = 0,
                 harmonic_span: int = 0, end_marker: bool = True,
                 name="ordered_frame_head"):
        super().__init__(fields, num_voices, state_size, input_size,
                         hidden_size=hidden_size,
                         embedding_size=embedding_size, dropout=dropout,
                         melodic_span=melodic_span,
                         harmonic_span=harmonic_span, name=name)
        self.end_marker = checks.boolean(self.gin_name, "end_marker",
                                         end_marker)
        vocab = self.fields[0].vocab_size
        self._end_id = vocab - 1 if end_marker else vocab

    def logits(self, states, inputs, targets, training=False, previous=None):
        logits = super().logits(states, inputs, targets, training, previous)
        pitch = logits[0]
        masked = [pitch[..., :1, :]]
        for voice in range(1, self.num_voices):
            masked.append(self._masked(pitch[..., voice:voice + 1, :],
                                       targets[..., voice - 1:voice, 0]))
        return [tf.concat(masked, axis=-2)] + logits[1:]

    def voice_logits(self, state, inputs, drawn, voice, previous=None):
        logits = super().voice_logits(state, inputs, drawn, voice, previous)
        if voice == 0:
            return logits
        return [self._masked(logits[0], drawn[..., voice - 1, 0])] + logits[1:]

    def _masked(self, logits: tf.Tensor, previous: tf.Tensor) -> tf.Tensor:
        """`logits` `[..., vocab]` with the tokens that cannot follow
        `previous` (the voice above's ids, shape `[...]`) masked."""
        ids = tf.range(tf.shape(logits)[-1])
        previous = tf.cast(previous, ids.dtype)[..., None]
        is_pitch = (previous >= FIRST_PITCH_ID) & (previous < self._end_id)
        allowed = tf.where(
            is_pitch,
            (ids == REST_ID) | ((ids >= FIRST_PITCH_ID) & (ids < previous)),
            ids == previous)  # REST after REST, END after END.
        return tf.where(allowed, logits, tf.cast(_MASKED, logits.dtype))
