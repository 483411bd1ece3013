"""The original duration-RNN head: voice i is conditioned on voices < i.

For each voice i the head reads the recurrent state, the event input of the
step and the embedded tokens of voices 0..i-1 of the event being predicted
(the true tokens in training, the drawn ones in sampling), and predicts every
field of voice i from one hidden layer.
"""

import tensorflow as tf

from polyframe import checks
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

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`heads.autoregressive.<argument>`): `fields`
            must be a non-empty sequence of `Field`; `num_voices`,
            `state_size`, `input_size`, `hidden_size` and `embedding_size`
            whole numbers >= 1; `dropout` in [0, 1).
    """

    # How gin and error messages name this head's parameters.
    gin_name = "heads.autoregressive"

    def __init__(self, fields, num_voices, state_size, input_size,
                 hidden_size: int = 256, embedding_size: int = 32,
                 dropout: float = 0.0, name="autoregressive_head"):
        owner = self.gin_name
        fields, num_voices, state_size, input_size = check_head_shapes(
            owner, fields, num_voices, state_size, input_size)
        hidden_size = checks.integer(owner, "hidden_size", hidden_size,
                                     minimum=1)
        embedding_size = checks.integer(owner, "embedding_size",
                                        embedding_size, minimum=1)
        dropout = checks.real(owner, "dropout", dropout, minimum=0, below=1)
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

    def logits(self, states, inputs, targets, training=False):
        hidden = self.from_context(tf.concat([states, inputs], axis=-1))
        if self.from_earlier_voices is not None:
            hidden += self.from_earlier_voices(self._earlier_voices(
                self.target_embedding.per_voice(targets)))
        hidden = tf.tanh(hidden)
        if training and self.dropout > 0:
            hidden = tf.nn.dropout(hidden, self.dropout)
        return [output(hidden) for output in self.outputs]

    def _earlier_voices(self, embedded: tf.Tensor) -> tf.Tensor:
        """`[..., V, W]` -> `[..., V, (V-1)*W]`: voice i sees voices < i."""
        earlier = tf.concat(
            [embedded[..., j, :] for j in range(self.num_voices - 1)], -1)
        visible = [[1.0 if j < i else 0.0
                    for j in range(self.num_voices - 1)
                    for _ in range(self.voice_width)]
                   for i in range(self.num_voices)]
        return earlier[..., None, :] * tf.constant(visible)

    def voice_logits(self, state, inputs, drawn, voice):
        hidden = self.from_context(tf.concat([state, inputs], axis=-1), voice)
        if self.from_earlier_voices is not None:
            earlier = self._earlier_voices(
                self.target_embedding.per_voice(drawn))[..., voice, :]
            hidden += self.from_earlier_voices(earlier, voice)
        hidden = tf.tanh(hidden)
        return [output(hidden, voice) for output in self.outputs]
