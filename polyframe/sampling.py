"""What to generate after training, or with `--mode=sample`/`harmonize`."""

import dataclasses
from typing import Any, Callable, Optional, Sequence

from polyframe.generation import Sampler


@dataclasses.dataclass
class SampleConfig:
    """How pieces are generated and written.

    Attributes:
        num_samples: How many pieces to write.
        primer_events: Events of a saved validation opening each sample
            starts from when no `--primer` is given; 0 starts from silence.
        max_events: The most events generated per sample; each sample stops
            earlier at its own END. The default is longer than any chorale.
        sampler: Draws a token from logits (a registered sampler, e.g.
            `@samplers.temperature()`); None means temperature 0.35.
        constraints: Extra constraint factories (e.g.
            `[@constraints.voice_range]`), called with `encoder=`; START and
            the END rule always apply.
        end_at_model_rate: Decide END with the model's own probability and
            let the sampler choose among the other tokens, so that a low
            temperature does not stop pieces from ending (see
            `@constraints.end_at_model_rate`).
        writers: Output writers (registered in `writers`, e.g.
            `[@writers.midi(), @writers.musicxml()]`); None writes every
            format.
        seed: Seeds the draws; sample i depends on (seed, i) only.
        qpm: Tempo of the written pieces, quarter notes per minute.
        renderer: How WAVs are made: "auto", "fluidsynth", "timidity" or
            "builtin".
    """

    num_samples: int = 4
    primer_events: int = 8
    max_events: int = 600
    sampler: Optional[Sampler] = None
    constraints: Sequence[Callable] = ()
    end_at_model_rate: bool = True
    writers: Optional[Sequence[Any]] = None
    seed: int = 1234
    qpm: float = 100.0
    renderer: str = "auto"

    def __post_init__(self):
        for name in ("num_samples", "max_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value < 1:
                raise ValueError(f"SampleConfig.{name} must be a whole "
                                 f"number of at least 1, got {value!r}")
        if isinstance(self.primer_events, bool) or not isinstance(
                self.primer_events, int) or self.primer_events < 0:
            raise ValueError("SampleConfig.primer_events must be a whole "
                             f"number of at least 0, got "
                             f"{self.primer_events!r}")
        if not self.qpm > 0:
            raise ValueError(f"SampleConfig.qpm must be positive, got "
                             f"{self.qpm!r}")
