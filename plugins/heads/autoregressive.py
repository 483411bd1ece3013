"""The original duration-RNN head: voice i is conditioned on voices < i.

For each voice i the head reads the recurrent state, the event input of the
step and the embedded tokens of voices 0..i-1 of the event being predicted
(the true tokens in training, the drawn ones in sampling), and predicts every
field of voice i from one hidden layer.

Optionally the hidden layer also scores pitches by interval. With
`melodic_span` S, voice i's hidden layer gives a score to each move of -S..+S
semitones from the pitch voice i sounded in the event before, and every
pitch token that far from it gets that score added to its logit; with
`harmonic_span`, the same from the pitch voice i-1 was given in this event.
A step down by a second is then one weight shared by every pitch, not one per
pitch, so what is learned in one key holds in all; the plain logits still
say which pitches are likely in absolute terms. Where the reference sounds no
pitch (a rest, the start) or a token is none, nothing is added.
"""

import tensorflow as tf

from polyframe import checks
from polyframe.encoding import START_ID
from polyframe.head import Head, check_head_shapes
from polyframe.layers import PerVoiceDense, VoiceEmbedding
from polyframe.registries import HEADS


@HEADS.register("autoregressive")
class AutoregressiveHead(Head):
    """Predicts the voices of an event in order, each seeing those before it.

    Args:
        fields, num_voices, state_size, input_size, name: see `Head`.
        hidden_size: Width of each voice's hidden layer.
        embedding_size: Width of the embedding of each earlier voice's token,
            per field.
        dropout: Dropout rate on the hidden layer in training.
        melodic_span: Largest move in semitones, up or down, scored from
            each voice's last pitch (0: none scored; see above).
        harmonic_span: Largest interval in semitones scored from the pitch
            of the voice before in the same event (0: none scored).

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`heads.autoregressive.<argument>`): `fields`
            must be a non-empty sequence of `Field`; `num_voices`,
            `state_size`, `input_size`, `hidden_size` and `embedding_size`
            whole numbers >= 1; `dropout` in [0, 1); `melodic_span` and
            `harmonic_span` whole numbers >= 0, and 0 unless the first
            field sounds pitches (`Field.pitches`); `harmonic_span` 0 for
            one voice.
    """

    # How gin and error messages name this head's parameters.
    gin_name = "heads.autoregressive"

    def __init__(self, fields, num_voices, state_size, input_size,
                 hidden_size: int = 256, embedding_size: int = 32,
                 dropout: float = 0.0, melodic_span: int = 0,
                 harmonic_span: int = 0, name="autoregressive_head"):
        owner = self.gin_name
        fields, num_voices, state_size, input_size = check_head_shapes(
            owner, fields, num_voices, state_size, input_size)
        hidden_size = checks.integer(owner, "hidden_size", hidden_size,
                                     minimum=1)
        embedding_size = checks.integer(owner, "embedding_size",
                                        embedding_size, minimum=1)
        dropout = checks.real(owner, "dropout", dropout, minimum=0, below=1)
        melodic_span = checks.integer(owner, "melodic_span", melodic_span,
                                      minimum=0)
        harmonic_span = checks.integer(owner, "harmonic_span", harmonic_span,
                                       minimum=0)
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(fields, num_voices, state_size, input_size, name=name)
        self.dropout = dropout
        self.voice_width = embedding_size * len(self.fields)
        context = state_size + input_size
        self.from_context = PerVoiceDense(context, hidden_size, num_voices,
                                          shared_input=True)
        # A single voice has no earlier voices to listen to.
        self.target_embedding, self.from_earlier_voices = None, None
        if num_voices > 1:
            self.target_embedding = VoiceEmbedding(
                self.fields, num_voices, [embedding_size] * len(self.fields))
            self.from_earlier_voices = PerVoiceDense(
                self.voice_width * (num_voices - 1), hidden_size, num_voices)
        self.outputs = [PerVoiceDense(hidden_size, f.vocab_size, num_voices)
                        for f in self.fields]
        self.melodic, self.harmonic = self._interval_scores(
            owner, hidden_size, melodic_span, harmonic_span)

    def _interval_scores(self, owner, hidden_size, melodic_span,
                         harmonic_span):
        """The layers scoring intervals (None where a span is 0)."""
        if not (melodic_span or harmonic_span):
            return None, None
        field = self.fields[0]
        if field.pitches is None:
            raise checks.ConfigurationError(
                f"{owner}.melodic_span and harmonic_span score intervals "
                f"between pitches, and the field {field.name!r} sounds none: "
                "set them to 0, or use an encoder whose first field is a "
                "pitch (grid, duration, event_stream).")
        if harmonic_span and self.num_voices == 1:
            raise checks.ConfigurationError(
                f"{owner}.harmonic_span scores a voice from the voice before "
                "it, and the encoder has one voice: set it to 0.")
        self._pitches = tf.constant(field.pitches, tf.int32)
        return tuple(
            PerVoiceDense(hidden_size, 2 * span + 1, self.num_voices,
                          name=kind) if span else None
            for kind, span in (("melodic", melodic_span),
                               ("harmonic", harmonic_span)))

    def _by_interval(self, scores: tf.Tensor,
                     reference: tf.Tensor) -> tf.Tensor:
        """Logits `[..., vocab]` from interval scores `[..., 2S+1]` (move -S
        first) and the first-field ids `[...]` the moves are counted from."""
        span = (scores.shape[-1] - 1) // 2
        from_pitch = tf.gather(self._pitches, tf.cast(reference, tf.int32))
        moves = self._pitches - from_pitch[..., None]
        scored = ((self._pitches >= 0) & (from_pitch[..., None] >= 0)
                  & (tf.abs(moves) <= span))
        picked = tf.gather(scores, tf.clip_by_value(moves + span, 0, 2 * span),
                           batch_dims=scores.shape.rank - 1)
        return tf.where(scored, picked, tf.zeros_like(picked))

    def _check_previous(self, previous):
        if self.melodic is not None and previous is None:
            raise checks.ConfigurationError(
                f"{self.gin_name}.melodic_span needs the previous event, which "
                "this model does not pass to its head: set it to 0.")

    def logits(self, states, inputs, targets, training=False, previous=None):
        self._check_previous(previous)
        hidden = self.from_context(tf.concat([states, inputs], axis=-1))
        if self.from_earlier_voices is not None:
            hidden += self.from_earlier_voices(self._earlier_voices(
                self.target_embedding.per_voice(targets)))
        hidden = tf.tanh(hidden)
        if training and self.dropout > 0:
            hidden = tf.nn.dropout(hidden, self.dropout)
        logits = [output(hidden) for output in self.outputs]
        if self.melodic is not None:
            logits[0] += self._by_interval(self.melodic(hidden), previous)
        if self.harmonic is not None:
            # Voice 0 has no voice before it: START sounds no pitch.
            above = tf.concat([tf.zeros_like(targets[..., :1, 0]) + START_ID,
                               targets[..., :-1, 0]], axis=-1)
            logits[0] += self._by_interval(self.harmonic(hidden), above)
        return logits

    def _earlier_voices(self, embedded: tf.Tensor) -> tf.Tensor:
        """`[..., V, W]` -> `[..., V, (V-1)*W]`: voice i sees voices < i."""
        earlier = tf.concat(
            [embedded[..., j, :] for j in range(self.num_voices - 1)], -1)
        visible = [[1.0 if j < i else 0.0
                    for j in range(self.num_voices - 1)
                    for _ in range(self.voice_width)]
                   for i in range(self.num_voices)]
        return earlier[..., None, :] * tf.constant(visible)

    def voice_logits(self, state, inputs, drawn, voice, previous=None):
        self._check_previous(previous)
        hidden = self.from_context(tf.concat([state, inputs], axis=-1), voice)
        if self.from_earlier_voices is not None:
            earlier = self._earlier_voices(
                self.target_embedding.per_voice(drawn))[..., voice, :]
            hidden += self.from_earlier_voices(earlier, voice)
        hidden = tf.tanh(hidden)
        logits = [output(hidden, voice) for output in self.outputs]
        if self.melodic is not None:
            logits[0] += self._by_interval(self.melodic(hidden, voice),
                                           previous[..., voice])
        if self.harmonic is not None and voice > 0:
            logits[0] += self._by_interval(self.harmonic(hidden, voice),
                                           drawn[..., voice - 1, 0])
        return logits
