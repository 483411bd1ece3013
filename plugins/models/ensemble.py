"""An ensemble: several copies of one model family, mixed token by token.

Every member is built from the same factory (any registered model with its
gin bindings) and starts from its own random weights. Training minimises
the mean of the members' own losses, so each member learns as it would
alone, on the same batches, in one compiled step. Evaluation and generation
use the mixture: the probability of a token is the mean of the members'
probabilities for it, given the same past. Each member's distribution is
normalised, so the mixture is too, and a token a member's mask forbids
keeps only the other members' share (none if every member forbids it, as
the ordered-frame head's canonical order does).

On small corpora independently initialised models disagree where the data
say little, and the mixture is less sure there than any one of them: its
NLL is never above the members' mean NLL (the log of a mean is at least the
mean of the logs). On the piano-roll stand-in, where one small model
overfits within minutes, 16 members scored 4.428 nats/frame against one
model's 4.688 (BENCHMARKS.md, "Protocol B: an ensemble").
"""

import math
from typing import Callable

import tensorflow as tf

from polyframe import checks
from polyframe.registries import MODELS
from polyframe.sequence_model import SequenceModel, without_start


@MODELS.register("ensemble")
class Ensemble(SequenceModel):
    """The token-by-token mixture of `size` independently initialised models.

    Args:
        fields: The encoder's fields.
        num_voices: Voices per event.
        member: Factory of one member, e.g. `@models.event_rnn` with its own
            gin bindings; called with `fields`, `num_voices` and `name`.
        size: How many members.
        name: Name scope of the variables.

    Raises:
        ConfigurationError: naming `models.ensemble.<argument>` when `size`
            is not a whole number >= 1, `member` is not callable or builds
            no `SequenceModel`, or the members read different melody voices.
    """

    def __init__(self, fields, num_voices: int,
                 member: Callable[..., SequenceModel], size: int = 4,
                 name: str = "ensemble"):
        owner = "models.ensemble"
        fields = checks.fields(owner, fields)
        size = checks.integer(owner, "size", size, minimum=1)
        if not callable(member):
            raise checks.ConfigurationError(
                f"{owner}.member must be a model factory such as "
                f"@models.event_rnn, got {member!r}")
        super().__init__(fields, num_voices, name=name)
        self.members = []
        for index in range(size):
            built = member(fields=self.fields, num_voices=self.num_voices,
                           name=f"member_{index}")
            if not isinstance(built, SequenceModel):
                raise checks.ConfigurationError(
                    f"{owner}.member must build a SequenceModel, got "
                    f"{type(built).__name__}")
            self.members.append(built)
        features = []
        for built in self.members:
            features += [f for f in built.features if f not in features]
        self.features = tuple(features)
        voices = {built.melody_voice for built in self.members}
        if len(voices) > 1:
            raise checks.ConfigurationError(
                f"{owner}.member: the members read different melody voices "
                f"{sorted(voices)}; bind one melody voice for all of them")
        self.melody_voice = voices.pop()
        self._log_size = math.log(size)

    def _mix(self, member_logits):
        """Log of the members' mean probabilities, one tensor per field."""
        mixed = []
        for index, field in enumerate(self.fields):
            log_probs = tf.stack(
                [tf.nn.log_softmax(without_start(logits[index],
                                                 field.vocab_size))
                 for logits in member_logits], axis=0)
            mixed.append(tf.reduce_logsumexp(log_probs, axis=0) -
                         self._log_size)
        return mixed

    def logits(self, batch, training=False):
        """The mixture's log-probabilities (normalised, so valid logits)."""
        return self._mix([m.logits(batch, training) for m in self.members])

    def token_losses(self, batch, training=False):
        """In training, the mean of the members' own losses; otherwise the
        mixture's NLL."""
        if not training:
            return super().token_losses(batch, training)
        losses = [m.token_losses(batch, training) for m in self.members]
        return [tf.add_n(list(per_field)) / len(self.members)
                for per_field in zip(*losses)]

    def start(self, events, context, max_new_events):
        return tuple(m.start(events, context, max_new_events)
                     for m in self.members)

    def voice_logits(self, state, drawn, voice):
        return self._mix([m.voice_logits(s, drawn, voice)
                          for m, s in zip(self.members, state)])

    def advance(self, state, event, context):
        return tuple(m.advance(s, event, context)
                     for m, s in zip(self.members, state))
