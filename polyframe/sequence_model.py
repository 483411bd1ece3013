"""The model contract: what training, evaluation, generation and export use.

A model plugin subclasses `SequenceModel` and is registered in `MODELS`. It
reads events `[batch, time + 1, voices, fields]` (row 0 is the START row) and
predicts every row from the rows before it. Nothing outside a model touches
its layers: the trainer calls `nll_sums`, the generation loop calls `start`,
`voice_logits` and `advance`, and that is all.

Batches (see `polyframe.data.pipeline`) hold, for `T` targets:

* `events` int32 `[B, T + 1, V, F]`: inputs are `events[:, :-1]`, targets
  `events[:, 1:]`.
* `mask` float `[B, T]`: 1 where the target is real (not padding).
* `end` float `[B, T]`: 1 where the target is the END row of its piece.
* `notes` float `[B, T, V]`: 1 where a note starts in that voice of the target.
* Only for models that list them in `features`:
  `times` float `[B, T]`, the start of every target event in quarter notes
  from the beginning of its piece (known from the events before it);
  `melody_pitch` int32 `[B, M]` (MIDI pitch, `MELODY_REST` or `MELODY_PAD`)
  and `melody_timing` float `[B, M, 2]` (onset and duration in quarters):
  the notes and rests of voice `melody_voice` over the whole piece.

Generation is a loop over events and, within an event, over voices:

    state = model.start(primer, context, max_new_events)
    for each event:
        for voice in 0..V-1:
            logits = model.voice_logits(state, drawn, voice)  # one per field
            ... constraints, sampler -> drawn[:, voice]
        state = model.advance(state, drawn, context)

`context` is a dict of tensors: `time` float `[B]`, the start (quarters) of
the event the new state predicts, `times` `[B, P + 1]` in `start` (the start
of each primer row's successor), and the conditioning features above for
models that list them. Models that need none of it ignore it.
"""

import abc
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import tensorflow as tf

from polyframe.encoding import START_ID, Field

State = Any  # A nest of tensors whose shapes do not change from step to step.
Context = Mapping[str, tf.Tensor]

TIMES = "times"
MELODY = "melody"
MELODY_REST = 128
MELODY_PAD = 129
MELODY_VOCAB = 130

# Added to START's logit: START is an input only, never a target.
_NEVER = -1e9


class SequenceModel(tf.Module, abc.ABC):
    """A model of event sequences that can be trained and sampled.

    Args:
        fields: The encoder's fields (each voice has one token per field).
        num_voices: Voices per event.
        name: Name scope of the variables.

    Attributes:
        features: Extra batch features the model reads (`TIMES`, `MELODY`).
        melody_voice: The voice whose notes form `melody_*` features.
    """

    features: Tuple[str, ...] = ()
    melody_voice: int = 0

    def __init__(self, fields: Sequence[Field], num_voices: int, name=None):
        super().__init__(name=name)
        self.fields = tuple(fields)
        self.num_voices = int(num_voices)

    @abc.abstractmethod
    def logits(self, batch: Mapping[str, tf.Tensor],
               training: bool = False) -> List[tf.Tensor]:
        """Teacher-forced logits of every target.

        Returns:
            One `[B, T, V, vocab]` tensor per field; voice `v`'s logits may
            depend on the target's voices before `v` and on every earlier row.
        """

    @abc.abstractmethod
    def start(self, events: tf.Tensor, context: Context,
              max_new_events: int) -> State:
        """Reads a primer and returns the state that predicts the next event.

        Args:
            events: `[B, P + 1, V, F]`, the START row then `P` primer events.
            context: See the module docstring.
            max_new_events: How many events `advance` may add (sizes caches).
        """

    @abc.abstractmethod
    def voice_logits(self, state: State, drawn: tf.Tensor,
                     voice: int) -> List[tf.Tensor]:
        """Logits `[B, vocab]` per field of `voice` in the next event.

        Args:
            state: From `start` or `advance`.
            drawn: `[B, V, F]` int32; voices before `voice` hold the tokens
                already chosen for this event, the rest is undefined.
            voice: Which voice (a Python int).
        """

    @abc.abstractmethod
    def advance(self, state: State, event: tf.Tensor,
                context: Context) -> State:
        """Returns the state after `event` `[B, V, F]` has been appended."""

    def nll_sums(self, batch: Mapping[str, tf.Tensor],
                 training: bool = False) -> Dict[str, tf.Tensor]:
        """Summed negative log-likelihood (nats) and the counts to divide by.

        END rows are scored apart (`nll_end`, counted in `ends`), so the
        per-event, per-token and per-note figures mean what they meant before
        pieces had an END and stay comparable with published numbers.

        Returns:
            `loss` (what training minimises: everything, END included),
            `nll` and `nll_<field>` (END excluded), `nll_end`, `nll_atb`
            (voices after the first), `nll_first` (of each piece's first
            event, the one predicted from START alone), and the counts
            `events`, `tokens`, `notes`, `notes_atb`, `ends` and `firsts`.
        """
        mask = tf.cast(batch["mask"], tf.float32)
        end = tf.cast(batch["end"], tf.float32) * mask
        real = mask - end
        notes = tf.cast(batch["notes"], tf.float32) * real[..., None]
        losses = self.token_losses(batch, training)
        sums = {f"nll_{field.name}": tf.reduce_sum(loss * real[..., None])
                for field, loss in zip(self.fields, losses)}
        per_voice = tf.add_n(losses)  # [B, T, V]
        per_event = tf.reduce_sum(per_voice, axis=-1)
        sums["nll"] = tf.reduce_sum(per_event * real)
        sums["nll_end"] = tf.reduce_sum(per_event * end)
        sums["loss"] = sums["nll"] + sums["nll_end"]
        sums["nll_atb"] = tf.reduce_sum(per_voice[..., 1:] * real[..., None])
        sums["events"] = tf.reduce_sum(real)
        sums["tokens"] = sums["events"] * float(self.num_voices *
                                                len(self.fields))
        sums["notes"] = tf.reduce_sum(notes)
        sums["notes_atb"] = tf.reduce_sum(notes[..., 1:])
        sums["ends"] = tf.reduce_sum(end)
        # A row whose input starts with START holds its piece's first event.
        first = real[:, 0] * tf.cast(
            tf.equal(batch["events"][:, 0, 0, 0], START_ID), tf.float32)
        sums["nll_first"] = tf.reduce_sum(per_event[:, 0] * first)
        sums["firsts"] = tf.reduce_sum(first)
        return sums

    def token_losses(self, batch: Mapping[str, tf.Tensor],
                     training: bool = False) -> List[tf.Tensor]:
        """Per-token NLL in nats: one `[B, T, V]` tensor per field."""
        targets = batch["events"][:, 1:]
        return [tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=targets[..., index],
                    logits=without_start(logits, field.vocab_size))
                for index, (field, logits) in enumerate(
                    zip(self.fields, self.logits(batch, training)))]

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(v.shape.num_elements()
                       for v in self.trainable_variables))


def without_start(logits: tf.Tensor, vocab_size: int) -> tf.Tensor:
    """Returns `logits` with START made impossible (it is never a target)."""
    return logits + tf.one_hot(START_ID, vocab_size, on_value=_NEVER,
                               off_value=0.0, dtype=logits.dtype)
