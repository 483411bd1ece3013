"""The event RNN: embeddings, a stack of recurrent cells, and a head.

The model reads events `[batch, time + 1, voices, fields]`: the input of step
t is event t and its target is event t + 1 (event 0 of a piece is the START
row). Which cell and which head are used is the user's choice, passed in as
factories, so the same assembly trains every combination.
"""

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

from polyframe.cell import RecurrentCell
from polyframe.encoding import START_ID, Field
from polyframe.head import Head
from polyframe.layers import VoiceEmbedding

States = List[Tuple[tf.Tensor, ...]]


class EventRNN(tf.Module):
    """Embeds each voice's tokens, runs stacked cells, predicts with a head.

    Args:
        fields: The encoder's fields.
        num_voices: Voices per event.
        cell: Factory `cell(input_size=..., name=...)` of a `RecurrentCell`,
            e.g. the registered `lstm` class with `num_units` bound by gin.
        head: Factory of a `Head`, called with fields, voices and widths.
        num_layers: How many cells are stacked.
        embedding_sizes: Embedding width by field name; fields not named get
            `default_embedding_size`.
        default_embedding_size: See above.
        dropout: Dropout rate between layers and before the head, in training.
    """

    def __init__(self, fields: Sequence[Field], num_voices: int,
                 cell: Callable[..., RecurrentCell],
                 head: Callable[..., Head], num_layers: int = 1,
                 embedding_sizes: Optional[Mapping[str, int]] = None,
                 default_embedding_size: int = 32, dropout: float = 0.0,
                 name: str = "event_rnn"):
        super().__init__(name=name)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.fields = tuple(fields)
        self.num_voices = int(num_voices)
        self.dropout = float(dropout)
        sizes = dict(embedding_sizes or {})
        self.embedding = VoiceEmbedding(
            self.fields, self.num_voices,
            [sizes.get(f.name, default_embedding_size) for f in self.fields])
        self.cells = []
        width = self.embedding.output_size
        for layer in range(num_layers):
            self.cells.append(cell(input_size=width, name=f"layer_{layer}"))
            width = self.cells[-1].num_units
        self.head = head(fields=self.fields, num_voices=self.num_voices,
                         state_size=width,
                         input_size=self.embedding.output_size)
        # START is an input only: it gets no probability as a target.
        self._start_penalty = [
            tf.one_hot(START_ID, f.vocab_size, on_value=-1e9, off_value=0.0)
            for f in self.fields]

    def run_cells(self, inputs: tf.Tensor, training: bool = False,
                  states: Optional[States] = None):
        """Runs the cell stack over embedded inputs `[batch, time, width]`."""
        outputs, final_states = inputs, []
        for index, cell in enumerate(self.cells):
            initial = states[index] if states is not None else None
            outputs, final = cell.run(outputs, initial)
            final_states.append(final)
            if training and self.dropout > 0:
                outputs = tf.nn.dropout(outputs, self.dropout)
        return outputs, final_states

    def logits(self, events: tf.Tensor, training: bool = False):
        """Returns per-field logits `[batch, time, voices, vocab]` for
        `events[:, 1:]` given `events[:, :-1]`."""
        inputs = self.embedding(events[:, :-1])
        outputs, _ = self.run_cells(inputs, training)
        logits = self.head.logits(outputs, inputs, events[:, 1:], training)
        return [l + p for l, p in zip(logits, self._start_penalty)]

    def nll_sums(self, batch: Mapping[str, tf.Tensor],
                 training: bool = False) -> Dict[str, tf.Tensor]:
        """Summed negative log-likelihood (nats) and the counts to divide it by.

        Args:
            batch: `events` int32 `[batch, time + 1, voices, fields]`, `mask`
                float `[batch, time]` (1 where the target is real) and `notes`
                float `[batch, time]` (notes starting in each target event).
            training: Whether dropout is active.

        Returns:
            `nll` (all fields), `nll_<field>` per field, and the counts
            `events`, `tokens` and `notes` of the unmasked targets.
        """
        targets = batch["events"][:, 1:]
        mask = batch["mask"]
        sums = {}
        total = 0.0
        for index, (field, logits) in enumerate(
                zip(self.fields, self.logits(batch["events"], training))):
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=targets[..., index], logits=logits)
            field_sum = tf.reduce_sum(loss * mask[..., None])
            sums[f"nll_{field.name}"] = field_sum
            total += field_sum
        sums["nll"] = total
        sums["events"] = tf.reduce_sum(mask)
        sums["tokens"] = sums["events"] * float(self.num_voices *
                                                len(self.fields))
        sums["notes"] = tf.reduce_sum(batch["notes"] * mask)
        return sums

    def zero_states(self, batch_size) -> States:
        """The all-zero state of every layer."""
        return [cell.zero_state(batch_size) for cell in self.cells]

    def step(self, events: tf.Tensor, states: States):
        """One step for sampling.

        Args:
            events: This step's input event `[batch, voices, fields]`.
            states: Every layer's state.

        Returns:
            `(output [batch, width], embedded input [batch, in], new states)`.
        """
        inputs = self.embedding(events)
        outputs, new_states = inputs, []
        for cell, state in zip(self.cells, states):
            outputs, state = cell(outputs, state)
            new_states.append(tuple(state))
        return outputs, inputs, new_states

    def start_penalty(self, field_index: int) -> tf.Tensor:
        """Added to a field's logits so that START is never drawn."""
        return self._start_penalty[field_index]

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(v.shape.num_elements()
                       for v in self.trainable_variables))
