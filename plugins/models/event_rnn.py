"""The event RNN: embeddings, a stack of recurrent cells, and a head.

The input of step t is event t and its target is event t + 1 (event 0 of a
piece is the START row). Which cell and which head are used is the user's
choice, passed in as factories, so the same assembly trains every
combination.

With `time_features`, every step also reads where its target event starts
in the piece (`polyframe.layers.time_features`: metric phase and how far
into the piece), which the generation loop knows from the encoder's clock;
it tells the model where beats and bar lines fall and when a piece is long
enough to end.

With `held_counts`, every step also reads, for each voice, how many events
in a row before it that voice's first-field token (its pitch on a grid) has
stayed the same, one-hot and capped at `held_counts`. On a grid a held note
is the same token step after step, and when it changes depends mostly on
how long it has lasted; the count says so directly instead of leaving the
recurrent state to keep it. It is computed from the inputs only, so it is
causal, and generation carries it forward event by event. Within a training
window the count starts at the window's first event, so a note held into a
window counts from there; whole pieces (validation, test) count exactly.

With `prior_tokens`, every step also reads, for each voice, the first-field
token it had before its current one (on a grid: the pitch a voice left for
the one it holds now), embedded. On a grid the input of a step mostly
repeats the step before, and where a voice came from, which says where a
melody is heading, would otherwise have to be kept in the recurrent state
for as long as the note lasts. Causal and windowed like the held counts.
"""

from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

from polyframe import checks, layers
from polyframe.cell import RecurrentCell, run_stack, step_stack
from polyframe.encoding import Field
from polyframe.head import Head
from polyframe.layers import VoiceEmbedding
from polyframe.registries import MODELS
from polyframe.sequence_model import TIMES, SequenceModel

States = List[Tuple[tf.Tensor, ...]]


@MODELS.register("event_rnn")
class EventRNN(SequenceModel):
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
        time_features: Whether each step also reads the start time of the
            event it predicts (batches then carry `times`).
        held_counts: Each step also reads, per voice, how many events in a
            row its first-field token has stayed the same, one-hot up to
            this many (0: not read).
        prior_tokens: Each step also reads, per voice, the first-field
            token before its current run of equal ones, embedded as wide
            as the first field.
        name: Name scope of the variables.

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`models.event_rnn.<argument>`): `fields` must
            be a non-empty sequence of `Field`; `num_voices`, `num_layers`,
            `default_embedding_size` and the `embedding_sizes` whole numbers
            >= 1; `dropout` in [0, 1); `time_features` True or False;
            `held_counts` a whole number >= 0; `prior_tokens` True or
            False.
    """

    def __init__(self, fields: Sequence[Field], num_voices: int,
                 cell: Callable[..., RecurrentCell],
                 head: Callable[..., Head], num_layers: int = 1,
                 embedding_sizes: Optional[Mapping[str, int]] = None,
                 default_embedding_size: int = 32, dropout: float = 0.0,
                 time_features: bool = False, held_counts: int = 0,
                 prior_tokens: bool = False, name: str = "event_rnn"):
        owner = "models.event_rnn"
        fields = checks.fields(owner, fields)
        num_voices = checks.integer(owner, "num_voices", num_voices, minimum=1)
        num_layers = checks.integer(owner, "num_layers", num_layers, minimum=1)
        sizes = checks.embedding_sizes(owner, embedding_sizes)
        default_embedding_size = checks.integer(
            owner, "default_embedding_size", default_embedding_size,
            minimum=1)
        dropout = checks.real(owner, "dropout", dropout, minimum=0, below=1)
        time_features = checks.boolean(owner, "time_features", time_features)
        held_counts = checks.integer(owner, "held_counts", held_counts,
                                     minimum=0)
        prior_tokens = checks.boolean(owner, "prior_tokens", prior_tokens)
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(fields, num_voices, name=name)
        self.dropout = dropout
        self.time_features = time_features
        self.held_counts = held_counts
        self.prior_tokens = prior_tokens
        self.features = (TIMES,) if self.time_features else ()
        self.embedding = VoiceEmbedding(
            self.fields, self.num_voices,
            [sizes.get(f.name, default_embedding_size) for f in self.fields])
        self.prior_embedding = None
        if prior_tokens:
            self.prior_embedding = VoiceEmbedding(
                self.fields[:1], self.num_voices,
                [sizes.get(self.fields[0].name, default_embedding_size)],
                name="prior_embedding")
        self.input_size = self.embedding.output_size + (
            layers.NUM_TIME_FEATURES if self.time_features else 0) + (
            self.num_voices * (held_counts + 1) if held_counts else 0) + (
            self.prior_embedding.output_size if prior_tokens else 0)
        self.cells = []
        width = self.input_size
        for layer in range(num_layers):
            self.cells.append(cell(input_size=width, name=f"layer_{layer}"))
            width = self.cells[-1].num_units
        self.head = head(fields=self.fields, num_voices=self.num_voices,
                         state_size=width, input_size=self.input_size)

    def _inputs(self, events: tf.Tensor, times, history) -> tf.Tensor:
        """Embedded events, with the time features of their successors and
        what `history` (`_history`) holds of each voice's past."""
        held, prior = history
        parts = [self.embedding(events)]
        if self.time_features:
            parts.append(layers.time_features(times))
        if self.held_counts:
            one_hot = tf.one_hot(tf.minimum(held, self.held_counts),
                                 self.held_counts + 1)
            shape = tf.concat([tf.shape(held)[:-1], [-1]], axis=0)
            parts.append(tf.reshape(one_hot, shape))
        if self.prior_tokens:
            parts.append(self.prior_embedding(prior[..., None]))
        return tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]

    def _history(self, events: tf.Tensor):
        """`(held counts, prior tokens)` `[B, T, V]` of every row (see the
        module doc), each None where the model does not read it."""
        tokens = events[..., 0]
        return (layers.held_counts(tokens) if self.held_counts else None,
                layers.prior_tokens(tokens) if self.prior_tokens else None)

    def logits(self, batch, training=False):
        events = batch["events"][:, :-1]
        inputs = self._inputs(events, batch.get(TIMES), self._history(events))
        outputs, _ = run_stack(self.cells, inputs, self.dropout, training)
        return self.head.logits(outputs, inputs, batch["events"][:, 1:],
                                training, previous=events[..., 0])

    def start(self, events, context, max_new_events):
        del max_new_events
        history = self._history(events)
        inputs = self._inputs(events, context.get("times"), history)
        outputs, states = run_stack(self.cells, inputs)
        held, prior = (() if rows is None else rows[:, -1]
                       for rows in history)
        return (outputs[:, -1], inputs[:, -1], states, events[:, -1, :, 0],
                held, prior)

    def voice_logits(self, state, drawn, voice):
        output, inputs, _, last = state[:4]
        return self.head.voice_logits(output, inputs, drawn, voice,
                                      previous=last)

    def advance(self, state, event, context):
        _, _, cell_states, last, held, prior = state
        tokens = event[..., 0]
        same = tf.equal(tokens, last)
        if self.held_counts:
            held = tf.where(same, held + 1, 0)
        if self.prior_tokens:
            prior = tf.where(same, prior, last)
        inputs = self._inputs(event, context.get("time"), (held, prior))
        outputs, new_states = step_stack(self.cells, inputs, cell_states)
        return outputs, inputs, new_states, tokens, held, prior
