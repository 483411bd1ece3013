"""A harmoniser: an event RNN that sees the whole melody, future included.

A causal event model that harmonises a given melody is blind to where the
melody goes: choosing the alto at bar 3 it cannot know that the melody
cadences at bar 4. This model reads the melody as a separate input and
encodes it with a backward (optionally also a forward) recurrent pass over
its notes, so every melody note carries a summary of itself and of
everything after it. At every event the model looks up the melody note
sounding at that event's start time and feeds that summary, with a few
timing features, to its cell stack and to its head.

What it sees, per target event at time `times[b, t]` (quarters):

* the embedded input event (row t, as in `EventRNN`), causal in events;
* the vector of the melody note sounding at `times[b, t]` (onset <= time <
  onset + duration), which summarises that note and all later ones;
* quarters since that note began, whether it begins exactly at this event,
  and quarters until it ends (when the next melody note or rest begins),
  each distance as log2(1 + quarters).

Each melody note enters the encoder as its pitch embedding (MIDI pitch, rest
or padding) and log2 of its duration. Its position in the bar is not used:
the features do not say where bars begin.

With `melody_lookahead` > 0 every event also sees a window of melody notes
directly: the one before the sounding note, the sounding note and the next
`melody_lookahead` ones, each as its pitch embedding, log2 duration and
signed log2 distance of its onset from the event, through one dense layer;
and how many quarters are left until the melody ends. The window is a
gather, not a recurrence, so it costs little on a CPU where a recurrent pass
over a whole melody of a few hundred notes costs more than the events'
own cells; the recurrent pass can then be switched off (`melody_units=0`).

Melody features come only from the batch's `melody_pitch` and
`melody_timing` (the notes and rests of `melody_voice`), never from that
voice's column of the event array. The event column has HOLD rows wherever
*another* voice moves, so reading it ahead of time would leak the other
voices' rhythm, which is exactly what the model must predict; the melody's
own notes say nothing about the other voices.

The melody encoder runs on the real notes only: the backward pass reverses
the first `length` notes of each piece (`tf.reverse_sequence`), so
`MELODY_PAD` notes at the end never change a real note's vector.
"""

import math
from typing import Callable, Mapping, NamedTuple, Optional, Sequence

import tensorflow as tf

from polyframe import checks, layers
from polyframe.cell import RecurrentCell, run_stack, step_stack
from polyframe.encoding import Field
from polyframe.head import Head
from polyframe.layers import VoiceEmbedding
from polyframe.registries import MODELS
from polyframe.sequence_model import (MELODY, MELODY_PAD, MELODY_VOCAB, TIMES,
                                      SequenceModel)

# Timing features per event: since the note began, note starts here, until
# it ends.
_NUM_TIMING_FEATURES = 3
# The onset given to padding notes, so that `searchsorted` never lands on one.
_FAR_AWAY = 1e9
# Durations are floored here (a 64th note) before taking log2.
_MIN_DURATION = 1.0 / 16.0
# Melody notes before the sounding one in the lookahead window.
_LOOKBEHIND = 1
# Per window note: log2 duration, signed log2 distance, and "is a note".
_WINDOW_NOTE_FEATURES = 3


def _signed_log2(x: tf.Tensor) -> tf.Tensor:
    """sign(x) * log2(1 + |x|): distances in quarters, squashed both ways."""
    return tf.sign(x) * tf.math.log1p(tf.abs(x)) / math.log(2.0)


class MelodyMemory(NamedTuple):
    """The encoded melody, kept in the generation state as a plain tuple.

    Attributes:
        vectors: `[B, M, melody_width]`, one summary per melody note (zero
            for padding; width 0 without a recurrent pass).
        onsets: `[B, M]` onsets in quarters; padding notes lie far away.
        ends: `[B, M]` onset + duration in quarters.
        lengths: `[B]` int32, how many notes are real.
        notes: `[B, M, melody_embedding_size + 1]`, each note's pitch
            embedding and log2 duration (what the lookahead window reads).
    """

    vectors: tf.Tensor
    onsets: tf.Tensor
    ends: tf.Tensor
    lengths: tf.Tensor
    notes: tf.Tensor


@MODELS.register("melody_conditioned_rnn")
class MelodyConditionedRNN(SequenceModel):
    """An event RNN conditioned on an encoding of the whole melody.

    Args:
        fields: The encoder's fields.
        num_voices: Voices per event.
        cell: Factory `cell(input_size=..., name=...)` of a `RecurrentCell`
            for the event stack, e.g. the registered `lstm` class.
        head: Factory of a `Head`, called with fields, voices and widths; its
            `inputs` are the embedded event and the melody context.
        num_layers: How many event cells are stacked.
        embedding_sizes: Event embedding width by field name; fields not
            named get `default_embedding_size`.
        default_embedding_size: See above.
        dropout: Dropout rate between layers, on the melody note vectors
            and before the head, in training.
        melody_cell: Factory of the melody encoder's cell, called as
            `melody_cell(input_size=..., num_units=melody_units, name=...)`;
            `None` uses `cell`.
        melody_embedding_size: Width of the melody pitch embedding (MIDI
            pitches, rest and padding).
        melody_units: Width of each melody pass (`num_units` of its cell);
            0 runs no recurrent pass (the lookahead window must then be on).
        bidirectional: Whether a forward pass over the melody is added to
            the backward one, so that each note also summarises what came
            before it. Off by default: the events before a step already
            show the melody's past, and the forward pass costs time.
        melody_lookahead: How many melody notes after the sounding one
            every event sees directly (see the module docstring); 0 turns
            the window off.
        lookahead_units: Width of the dense layer over the window.
        melody_voice: The voice the melody features are taken from.
        time_features: Whether each step also reads where its event starts
            in the piece (`polyframe.layers.time_features`), as the event
            RNN can.
        name: Name scope of the variables.

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`models.melody_conditioned_rnn.<argument>`):
            `fields` must be a non-empty sequence of `Field`; `num_voices`,
            `num_layers`, `default_embedding_size`, the `embedding_sizes`,
            `melody_embedding_size` and `lookahead_units` whole numbers
            >= 1; `melody_units` and `melody_lookahead` whole numbers >= 0,
            not both 0, and `melody_units` >= 1 if `bidirectional`;
            `dropout` in [0, 1); `bidirectional` True or False;
            `melody_voice` a whole number in [0, num_voices).
    """

    features = (TIMES, MELODY)

    def __init__(self, fields: Sequence[Field], num_voices: int,
                 cell: Callable[..., RecurrentCell],
                 head: Callable[..., Head], num_layers: int = 1,
                 embedding_sizes: Optional[Mapping[str, int]] = None,
                 default_embedding_size: int = 32, dropout: float = 0.0,
                 melody_cell: Optional[Callable[..., RecurrentCell]] = None,
                 melody_embedding_size: int = 32, melody_units: int = 64,
                 bidirectional: bool = False, melody_voice: int = 0,
                 time_features: bool = False, melody_lookahead: int = 0,
                 lookahead_units: int = 128,
                 name: str = "melody_conditioned_rnn"):
        owner = "models.melody_conditioned_rnn"
        fields = checks.fields(owner, fields)
        num_voices = checks.integer(owner, "num_voices", num_voices, minimum=1)
        num_layers = checks.integer(owner, "num_layers", num_layers, minimum=1)
        sizes = checks.embedding_sizes(owner, embedding_sizes)
        default_embedding_size = checks.integer(
            owner, "default_embedding_size", default_embedding_size,
            minimum=1)
        dropout = checks.real(owner, "dropout", dropout, minimum=0, below=1)
        melody_embedding_size = checks.integer(
            owner, "melody_embedding_size", melody_embedding_size, minimum=1)
        melody_units = checks.integer(owner, "melody_units", melody_units,
                                      minimum=0)
        bidirectional = checks.boolean(owner, "bidirectional", bidirectional)
        melody_lookahead = checks.integer(owner, "melody_lookahead",
                                          melody_lookahead, minimum=0)
        lookahead_units = checks.integer(owner, "lookahead_units",
                                         lookahead_units, minimum=1)
        if melody_units == 0 and (bidirectional or melody_lookahead == 0):
            raise checks.ConfigurationError(
                f"{owner}.melody_units is 0, so the melody is read by the "
                f"lookahead window alone: set {owner}.melody_lookahead >= 1 "
                f"and {owner}.bidirectional = False, or melody_units >= 1.")
        time_features = checks.boolean(owner, "time_features", time_features)
        melody_voice = checks.integer(owner, "melody_voice", melody_voice,
                                      minimum=0)
        if melody_voice >= num_voices:  # The encoder decides the voices.
            raise checks.ConfigurationError(
                f"{owner}.melody_voice must be a whole number >= 0 and < "
                f"num_voices ({num_voices}), got {melody_voice!r}.")
        name = checks.text(owner, "name", name, optional=True)
        super().__init__(fields, num_voices, name=name)
        self.dropout = dropout
        self.melody_voice = melody_voice
        self.bidirectional = bidirectional
        self.time_features = time_features
        self.melody_lookahead = melody_lookahead
        melody_cell = melody_cell or cell
        with self.name_scope:
            self.embedding = VoiceEmbedding(
                self.fields, self.num_voices,
                [sizes.get(f.name, default_embedding_size)
                 for f in self.fields])
            self.melody_embedding = tf.Variable(
                tf.random.normal([MELODY_VOCAB, melody_embedding_size],
                                 stddev=melody_embedding_size ** -0.5),
                name="melody_embedding")
            melody_input = melody_embedding_size + 1  # + log2 duration
            self.backward = self.forward = None
            if melody_units:
                self.backward = melody_cell(input_size=melody_input,
                                            num_units=melody_units,
                                            name="melody_backward")
            if self.bidirectional:
                self.forward = melody_cell(input_size=melody_input,
                                           num_units=melody_units,
                                           name="melody_forward")
            self.melody_width = (self.backward.num_units * (
                2 if self.bidirectional else 1) if melody_units else 0)
            window_units = 0
            if melody_lookahead:
                width = (_LOOKBEHIND + 1 + melody_lookahead) * (
                    melody_embedding_size + _WINDOW_NOTE_FEATURES)
                self.window_kernel = tf.Variable(
                    tf.random.normal([width, lookahead_units],
                                     stddev=width ** -0.5),
                    name="lookahead_kernel")
                self.window_bias = tf.Variable(tf.zeros([lookahead_units]),
                                               name="lookahead_bias")
                window_units = lookahead_units + 1  # + quarters to the end
            self.context_size = (self.melody_width + _NUM_TIMING_FEATURES +
                                 window_units +
                                 (layers.NUM_TIME_FEATURES if time_features else 0))
            self.input_size = self.embedding.output_size + self.context_size
            self.cells = []
            width = self.input_size
            for layer in range(num_layers):
                self.cells.append(cell(input_size=width, name=f"layer_{layer}"))
                width = self.cells[-1].num_units
            self.head = head(fields=self.fields, num_voices=self.num_voices,
                             state_size=width, input_size=self.input_size)

    # The melody.

    def encode_melody(self, pitch: tf.Tensor, timing: tf.Tensor,
                      training: bool = False) -> MelodyMemory:
        """Summarises every melody note with what follows (and precedes) it.

        Args:
            pitch: `[B, M]` int32 MELODY_VOCAB ids; `MELODY_PAD` only at the end.
            timing: `[B, M, 2]` onset and duration in quarters.
            training: Whether dropout is active.
        """
        pitch = tf.convert_to_tensor(pitch, tf.int32)
        timing = tf.cast(timing, tf.float32)
        real = tf.not_equal(pitch, MELODY_PAD)
        real_f = tf.cast(real, tf.float32)
        lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
        onsets, durations = timing[..., 0], timing[..., 1]
        log_duration = tf.math.log(
            tf.maximum(durations, _MIN_DURATION)) / math.log(2.0)
        inputs = tf.concat([tf.gather(self.melody_embedding, pitch),
                            (log_duration * real_f)[..., None]], axis=-1)
        if self.backward is not None:
            reversed_inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1,
                                                  batch_axis=0)
            backward, _ = self.backward.run(reversed_inputs,
                                            training=training)
            vectors = tf.reverse_sequence(backward, lengths, seq_axis=1,
                                          batch_axis=0)
            if self.forward is not None:
                forward, _ = self.forward.run(inputs, training=training)
                vectors = tf.concat([vectors, forward], axis=-1)
            vectors *= real_f[..., None]
            if training and self.dropout > 0:
                vectors = tf.nn.dropout(vectors, self.dropout)
        else:
            vectors = tf.zeros_like(inputs[..., :0])
        far = tf.fill(tf.shape(onsets), _FAR_AWAY)
        return MelodyMemory(vectors, tf.where(real, onsets, far),
                            tf.where(real, onsets + durations, far), lengths,
                            inputs * real_f[..., None])

    def melody_context(self, memory: MelodyMemory, times: tf.Tensor,
                       training: bool = False) -> tf.Tensor:
        """The melody as seen from events starting at `times` `[B, T]`.

        Returns:
            `[B, T, context_size]`: the vector of the note sounding at each
            time (the last one with onset <= time), quarters since it began,
            whether it begins at this time, and quarters until it ends; with
            the lookahead window, its dense layer's output and quarters
            until the melody ends. All zero for a piece without melody notes.
        """
        times = tf.cast(times, tf.float32)
        sounding = tf.searchsorted(memory.onsets, times, side="right") - 1
        last = tf.maximum(memory.lengths - 1, 0)[:, None]
        index = tf.clip_by_value(sounding, 0, last)
        vectors = tf.gather(memory.vectors, index, batch_dims=1)
        onset = tf.gather(memory.onsets, index, batch_dims=1)
        end = tf.gather(memory.ends, index, batch_dims=1)
        since = tf.maximum(times - onset, 0.0)
        until = tf.maximum(end - times, 0.0)
        starts = tf.cast(tf.abs(times - onset) < 1e-4, tf.float32)
        timing = tf.stack([tf.math.log1p(since) / math.log(2.0), starts,
                           tf.math.log1p(until) / math.log(2.0)], axis=-1)
        has_melody = tf.cast(memory.lengths > 0, tf.float32)[:, None, None]
        parts = [vectors, timing]
        if self.melody_lookahead:
            parts += self._window(memory, times, index, training)
        context = tf.concat(parts, axis=-1) * has_melody
        if self.time_features:
            context = tf.concat([context, layers.time_features(times)], axis=-1)
        return context

    def _window(self, memory: MelodyMemory, times: tf.Tensor,
                sounding: tf.Tensor, training: bool) -> list:
        """The lookahead window around each event's sounding note, through
        its dense layer, and quarters until the melody ends (log2(1 + q))."""
        offsets = tf.range(-_LOOKBEHIND, self.melody_lookahead + 1)
        positions = sounding[..., None] + offsets  # [B, T, W]
        lengths = memory.lengths[:, None, None]
        inside = (positions >= 0) & (positions < lengths)
        index = tf.clip_by_value(positions, 0, tf.maximum(lengths - 1, 0))
        notes = tf.gather(memory.notes, index, batch_dims=1)
        distance = tf.gather(memory.onsets, index, batch_dims=1) - \
            times[..., None]
        inside_f = tf.cast(inside, tf.float32)
        features = tf.concat(
            [notes, _signed_log2(distance)[..., None],
             tf.ones_like(distance)[..., None]], axis=-1) * inside_f[..., None]
        flat = tf.reshape(features, tf.concat(
            [tf.shape(features)[:2], [self.window_kernel.shape[0]]], axis=0))
        hidden = tf.nn.relu(tf.tensordot(flat, self.window_kernel, 1) +
                            self.window_bias)
        if training and self.dropout > 0:
            hidden = tf.nn.dropout(hidden, self.dropout)
        last = tf.maximum(memory.lengths - 1, 0)[:, None]
        melody_end = tf.gather(memory.ends, last, batch_dims=1)  # [B, 1]
        left = tf.maximum(melody_end - times, 0.0)
        return [hidden, (tf.math.log1p(left) / math.log(2.0))[..., None]]

    # Training.

    def _inputs(self, events: tf.Tensor, memory: MelodyMemory,
                times: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Embedded events `[B, T, V, F]` joined with the melody at `times`."""
        return tf.concat([self.embedding(events),
                          self.melody_context(memory, times, training)],
                         axis=-1)

    def logits(self, batch, training=False):
        events = batch["events"]
        memory = self.encode_melody(batch["melody_pitch"],
                                    batch["melody_timing"], training)
        inputs = self._inputs(events[:, :-1], memory, batch["times"],
                              training)
        outputs, _ = run_stack(self.cells, inputs, self.dropout, training)
        return self.head.logits(outputs, inputs, events[:, 1:], training,
                                previous=events[:, :-1, :, 0])

    # Generation.

    def start(self, events, context, max_new_events):
        """Encodes the melody once and reads the primer.

        Args:
            events: `[B, P + 1, V, F]`, START then the primer.
            context: `times` `[B, P + 1]` (the start of each row's
                successor), `melody_pitch` `[B, M]`, `melody_timing`
                `[B, M, 2]`.
            max_new_events: Unused; the state does not grow.

        Returns:
            `(output [B, units], head input [B, input_size], cell states,
            (melody vectors [B, M, W], onsets [B, M], ends [B, M],
            lengths [B], notes [B, M, E + 1]), first-field ids of the last
            event [B, V])`.
        """
        del max_new_events
        memory = self.encode_melody(context["melody_pitch"],
                                    context["melody_timing"])
        inputs = self._inputs(events, memory, context["times"])
        outputs, states = run_stack(self.cells, inputs)
        return (outputs[:, -1], inputs[:, -1], states, tuple(memory),
                events[:, -1, :, 0])

    def voice_logits(self, state, drawn, voice):
        output, inputs, _, _, last = state
        return self.head.voice_logits(output, inputs, drawn, voice,
                                      previous=last)

    def advance(self, state, event, context):
        """Appends `event` `[B, V, F]`; `context["time"]` `[B]` is the start
        of the event the new state predicts."""
        _, _, cell_states, melody, _ = state
        memory = MelodyMemory(*melody)
        inputs = self._inputs(event[:, None], memory,
                              tf.reshape(context["time"], [-1, 1]))[:, 0]
        outputs, new_states = step_stack(self.cells, inputs, cell_states)
        return outputs, inputs, new_states, melody, event[..., 0]
