"""Generation: continue primers event by event in one compiled loop.

All samples of a call are generated together as one batch. The loop, the
cells, the head and the sampler all run inside a single `tf.function`, so a
sample costs one graph execution, not one Python call per token.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from polyframe.model import EventRNN

Sampler = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclasses.dataclass
class SampleConfig:
    """What to generate after training (or with `--mode=sample`).

    Attributes:
        num_samples: How many pieces to write.
        primer_events: Events of a validation piece each sample starts from;
            0 starts from nothing.
        num_events: Events generated after the primer.
        sampler: Draws a token from logits (a registered sampler, e.g.
            `@samplers.temperature()`); None means temperature 0.35.
        seed: Seeds the draws; the same seed gives the same samples.
        qpm: Tempo of the written MIDI, quarter notes per minute.
        renderer: How WAVs are made: "auto", "fluidsynth", "timidity" or
            "builtin".
    """

    num_samples: int = 4
    primer_events: int = 8
    num_events: int = 64
    sampler: Optional[Sampler] = None
    seed: int = 1234
    qpm: float = 100.0
    renderer: str = "auto"


class Generator:
    """Continues batches of primers with a trained model.

    Args:
        model: The trained `EventRNN`.
        sampler: Called as `sampler(logits [batch, vocab], seed [2])`.
    """

    def __init__(self, model: EventRNN, sampler: Sampler):
        self.model = model
        self.sampler = sampler
        self._generate = tf.function(self._generate_graph)

    def __call__(self, primers: np.ndarray, num_events: int,
                 seed: int) -> np.ndarray:
        """Generates `num_events` events after each primer.

        Args:
            primers: `[batch, 1 + primer_events, voices, fields]`, each row
                starting with the START row.
            num_events: How many events to generate.
            seed: Seeds the draws.

        Returns:
            `[batch, primer_events + num_events, voices, fields]` int32: the
            primer (without START) followed by the generated events.
        """
        generated = self._generate(tf.constant(primers, tf.int32),
                                   tf.constant(num_events, tf.int32),
                                   tf.constant(seed, tf.int32))
        return np.concatenate([primers[:, 1:], generated.numpy()], axis=1)

    def _generate_graph(self, primers, num_events, seed):
        model = self.model
        batch = tf.shape(primers)[0]
        if primers.shape[1] > 1:
            _, states = model.run_cells(model.embedding(primers[:, :-1]))
            states = [tuple(s) for s in states]
        else:
            states = model.zero_states(batch)
        last = primers[:, -1]
        events = tf.TensorArray(tf.int32, size=num_events)
        for step in tf.range(num_events):
            outputs, inputs, states = model.step(last, states)

            def sample_fn(logits, voice, field, step=step):
                draw_seed = tf.stack(
                    [seed, step * 1024 + voice * 32 + field])
                ids = self.sampler(logits + model.start_penalty(field),
                                   draw_seed)
                return tf.cast(ids, tf.int32)

            last = model.head.sample(outputs, inputs, sample_fn)
            events = events.write(step, last)
        return tf.transpose(events.stack(), [1, 0, 2, 3])
