"""Generation: continue primers event by event in one compiled loop.

The loop sees a model only through the model contract (`start`,
`voice_logits`, `advance`; see `polyframe.sequence_model`). For every token
it asks the model for logits, passes them through the chain of constraints
(START forbidden, the END rule, given voices, ranges...) and lets the
sampler draw. All samples of a call run together as one batch inside a single
`tf.function`, so a piece costs one graph execution, not one Python call per
token. Each sample stops at its own END (or at `max_events`); the loop ends
when all have.

Every token is drawn with the stateless seed `(seed, token counter)`;
stateless categorical draws are made row by row, so sample `i` (row `i`)
depends on the seed and `i` only: the same seed gives the same music
whatever `--num_samples` is (a test checks it).
"""

import dataclasses
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from polyframe.clock import EventClock
from polyframe.constraint import (Constraint, StepContext, apply_chain,
                                  initial_states, update_states)
from polyframe.sequence_model import SequenceModel

Sampler = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclasses.dataclass
class Generated:
    """What a generation call returns.

    Attributes:
        events: `[batch, primer + steps, voices, fields]` int32: the primer
            (without START), then every generated event; a sample's events
            after its own END are undefined.
        lengths: `[batch]`: events each sample generated before its END
            (or all of them, if it never ended).
        ended: `[batch]` bool: whether the sample ended by END.
        primer_events: How many primer events lead each sample.
    """

    events: np.ndarray
    lengths: np.ndarray
    ended: np.ndarray
    primer_events: int

    def piece(self, index: int) -> np.ndarray:
        """Sample `index`'s primer and generated events, END excluded."""
        return self.events[index, :self.primer_events + self.lengths[index]]


class Generator:
    """Continues batches of primers with a trained model.

    Args:
        model: A `SequenceModel`.
        sampler: Called as `sampler(logits [batch, vocab], seed [2])`;
            rows must be drawn independently (every shipped sampler is).
        constraints: Applied in order to every token's logits.
        clock: The encoder's event clock; None counts events instead (time
            of event n = n), for encoders without per-voice timing.
        end_id: The first field's END id, or None if pieces have no END.
        hold_id: The first field's continuation token (HOLD: the voice's
            note goes on), if the encoder has one; the loop then tells
            constraints what each voice sounds (`StepContext.last_tokens`).
    """

    def __init__(self, model: SequenceModel, sampler: Sampler,
                 constraints: Sequence[Constraint] = (),
                 clock: Optional[EventClock] = None,
                 end_id: Optional[int] = None,
                 hold_id: Optional[int] = None):
        self.model = model
        self.sampler = sampler
        self.constraints = tuple(constraints)
        self.clock = clock
        self.end_id = end_id
        self.hold_id = -1 if hold_id is None else int(hold_id)
        self._generate = tf.function(self._generate_graph)

    def __call__(self, primers: np.ndarray, max_events: int, seed: int,
                 conditioning: Optional[Mapping[str, np.ndarray]] = None
                 ) -> Generated:
        """Generates up to `max_events` events after each primer.

        Args:
            primers: `[batch, 1 + primer_events, voices, fields]`, each row
                starting with the START row.
            max_events: The most events generated per sample.
            seed: Seeds the draws.
            conditioning: Extra model inputs (e.g. the melody), batch first.

        Returns:
            A `Generated`.
        """
        conditioning = {k: tf.constant(v) for k, v in
                        (conditioning or {}).items()}
        events, lengths, ended = self._generate(
            tf.constant(primers, tf.int32), tf.constant(max_events, tf.int32),
            tf.constant(seed, tf.int32), conditioning)
        generated = np.transpose(events.numpy(), [1, 0, 2, 3])
        return Generated(
            events=np.concatenate([primers[:, 1:], generated], axis=1),
            lengths=lengths.numpy(), ended=ended.numpy(),
            primer_events=primers.shape[1] - 1)

    def _time(self, clock_state, step):
        if self.clock is None:
            return step + tf.zeros_like(clock_state[0])
        return self.clock.time(clock_state)

    def _quarters(self, clock_state):
        if self.clock is None:
            return tf.cast(clock_state[0], tf.float32)
        return self.clock.quarters(clock_state)

    def _advance_clock(self, clock_state, event):
        if self.clock is None:
            return (clock_state[0] + 1,)
        return self.clock.advance(clock_state, event)

    def _generate_graph(self, primers, max_events, seed, conditioning):
        # Every tensor in the loop gets a batch size unknown to the graph,
        # so the loop's shapes hold for any batch, 1 included.
        primers = _unknown_batch(primers)
        conditioning = {k: _unknown_batch(v) for k, v in conditioning.items()}
        model = self.model
        batch = tf.shape(primers)[0]
        num_voices = primers.shape[2]
        num_fields = primers.shape[3]
        clock_state = (self.clock.initial_state(batch) if self.clock
                       else (tf.zeros([batch], tf.int32),))
        clock_state, times, last_tokens, run_start, memory = \
            self._play_primer(primers, clock_state)
        context: Dict[str, tf.Tensor] = dict(conditioning)
        context["times"] = times
        state = model.start(primers, context, max_events)

        events = tf.TensorArray(tf.int32, size=0, dynamic_size=True,
                                element_shape=[None, num_voices, num_fields])
        lengths = tf.zeros([batch], tf.int32)
        ended = tf.zeros([batch], tf.bool)
        step = tf.constant(0)
        while step < max_events and not tf.reduce_all(ended):
            time = self._time(clock_state, step)
            event = self._draw_event(state, step, time, seed, batch,
                                     num_voices, num_fields, last_tokens,
                                     run_start, memory)
            last_tokens, run_start = self._sounding(
                event[..., 0], time, last_tokens, run_start)
            memory = update_states(self.constraints, memory, event)
            is_end = (tf.equal(event[:, 0, 0], self.end_id)
                      if self.end_id is not None else tf.zeros_like(ended))
            lengths += tf.cast(tf.logical_not(ended | is_end), tf.int32)
            ended = ended | is_end
            events = events.write(step, event)
            clock_state = self._advance_clock(clock_state, event)
            context = dict(conditioning)
            context["time"] = self._quarters(clock_state)
            state = model.advance(state, event, context)
            step += 1
        return events.stack(), lengths, ended

    def successor_times(self, rows: tf.Tensor) -> tf.Tensor:
        """Start (quarters) of the successor of each of `rows` `[B, R, V, F]`
        (START first), as the loop's clock counts it: the `times` feature
        of a batch whose inputs are `rows`."""
        batch = tf.shape(rows)[0]
        clock_state = (self.clock.initial_state(batch) if self.clock
                       else (tf.zeros([batch], tf.int32),))
        return self._play_primer(rows, clock_state)[1]

    def _sounding(self, tokens, time, last_tokens, run_start):
        """What each voice sounds after an event whose first-field tokens
        are `tokens` `[batch, voices]` and which starts at `time` `[batch]`,
        and since when: HOLD, or the token it already sounds, goes on; any
        other token starts anew at `time`."""
        goes_on = (tf.equal(tokens, self.hold_id) |
                   tf.equal(tokens, last_tokens))
        return (tf.where(goes_on, last_tokens, tokens),
                tf.where(goes_on, run_start, time[:, None]))

    def _play_primer(self, primers, clock_state):
        """Plays the primer's rows after START on the clock.

        Returns the clock state after the primer; its times `[B, P + 1]`
        (row t's successor starts at `times[:, t]`); and what each voice
        sounds going into the first generated event, and since when (the
        `last_tokens` and `run_start` of `StepContext`; START, since 0,
        for a voice the primer leaves silent); and the constraints' states
        after the primer (`StepContext.state`). A primer length unknown to
        the graph (an exported signature takes any) is played in a graph
        loop; a known one unrolls.
        """
        last_tokens = primers[:, 0, :, 0]
        run_start = tf.zeros_like(last_tokens)
        memory = initial_states(self.constraints, tf.shape(primers)[0])
        num_rows = tf.shape(primers)[1]

        def play(row, clock_state, last_tokens, run_start, memory):
            # Without a clock the loop counts generated events from 0, so
            # the primer's last row is event -1.
            time = self._time(clock_state, row - num_rows)
            last_tokens, run_start = self._sounding(
                primers[:, row, :, 0], time, last_tokens, run_start)
            memory = update_states(self.constraints, memory, primers[:, row])
            return (self._advance_clock(clock_state, primers[:, row]),
                    last_tokens, run_start, memory)

        if primers.shape[1] is not None:
            times = [self._quarters(clock_state)]
            for row in range(1, primers.shape[1]):
                clock_state, last_tokens, run_start, memory = play(
                    row, clock_state, last_tokens, run_start, memory)
                times.append(self._quarters(clock_state))
            return (clock_state, tf.stack(times, axis=1), last_tokens,
                    run_start, memory)
        rows = tf.shape(primers)[1]
        times = tf.TensorArray(tf.float32, size=rows)
        times = times.write(0, self._quarters(clock_state))
        for row in tf.range(1, rows):
            clock_state, last_tokens, run_start, memory = play(
                row, clock_state, last_tokens, run_start, memory)
            times = times.write(row, self._quarters(clock_state))
        return (clock_state, tf.transpose(times.stack()), last_tokens,
                run_start, memory)

    def _draw_event(self, state, step, time, seed, batch, num_voices,
                    num_fields, last_tokens=None, run_start=None,
                    memory=None):
        """Draws one event `[batch, voices, fields]`, voice by voice."""
        undrawn = tf.zeros([batch], tf.int32)
        tokens = [[undrawn] * num_fields for _ in range(num_voices)]

        def drawn():
            return tf.stack([tf.stack(v, axis=-1) for v in tokens], axis=1)

        for voice in range(num_voices):
            voice_logits = self.model.voice_logits(state, drawn(), voice)
            for field, logits in enumerate(voice_logits):
                counter = (step * num_voices + voice) * num_fields + field
                token_seed = tf.stack([seed, counter])
                context = StepContext(voice=voice, field=field, step=step,
                                      time=time, drawn=drawn(),
                                      seed=token_seed,
                                      last_tokens=last_tokens,
                                      run_start=run_start)
                logits = apply_chain(self.constraints, logits, context,
                                     memory)
                tokens[voice][field] = tf.cast(self.sampler(
                    logits, token_seed), tf.int32)
        return drawn()


def hold_id(encoder) -> Optional[int]:
    """The encoder's first-field continuation token (HOLD), if it has one."""
    continuation = encoder.continuation_tokens()
    return None if continuation is None else int(continuation[0])


def _unknown_batch(tensor: tf.Tensor) -> tf.Tensor:
    """`tensor` with its first dimension made unknown to the graph."""
    shape = [None] + tensor.shape.as_list()[1:]
    return tf.compat.v1.placeholder_with_default(tensor, shape)
