"""What to generate after training, or with `--mode=sample`/`harmonize`."""

import dataclasses
from typing import Any, Callable, Optional, Sequence

from polyframe import audio, checks
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
            `@samplers.temperature()`); None means temperature 0.7.
        constraints: Extra constraint factories (e.g.
            `[@constraints.voice_range]`), called with `encoder=`; START and
            the END rule always apply.
        end_at_model_rate: Decide END with the model's own probability and
            let the sampler choose among the other tokens, so that a low
            temperature does not stop pieces from ending (see
            `@constraints.end_at_model_rate`).
        end_odds: With `end_at_model_rate`, multiplies the odds the model
            gives END at each event (1 = its own rate). Above 1 pieces end
            sooner, at the places the model finds likeliest to end on.
        min_quarters: With `end_at_model_rate`, no piece ends before this
            many quarter notes from its start (0: no minimum), e.g. the
            shortest piece of the corpus.
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
    end_odds: float = 1.0
    min_quarters: float = 0.0
    writers: Optional[Sequence[Any]] = None
    seed: int = 1234
    qpm: float = 100.0
    renderer: str = "auto"

    def __post_init__(self):
        owner = "SampleConfig"
        checks.integer(owner, "num_samples", self.num_samples, minimum=1)
        checks.integer(owner, "primer_events", self.primer_events, minimum=0)
        checks.integer(owner, "max_events", self.max_events, minimum=1)
        checks.boolean(owner, "end_at_model_rate", self.end_at_model_rate)
        checks.real(owner, "end_odds", self.end_odds, above=0.0)
        checks.real(owner, "min_quarters", self.min_quarters, minimum=0.0)
        if not self.end_at_model_rate and (self.end_odds != 1.0 or
                                           self.min_quarters != 0.0):
            raise checks.ConfigurationError(
                "SampleConfig.end_odds and SampleConfig.min_quarters shape "
                "END as decided at the model's rate: set "
                "SampleConfig.end_at_model_rate = True, or leave them at 1 "
                "and 0.")
        checks.integer(owner, "seed", self.seed, minimum=0)
        checks.real(owner, "qpm", self.qpm, above=0.0)
        checks.choice(owner, "renderer", self.renderer,
                      (audio.AUTO,) + audio.RENDERERS)
        if self.sampler is not None and not callable(self.sampler):
            raise checks.ConfigurationError(
                f"SampleConfig.sampler must be a sampler such as "
                f"@samplers.temperature(), got {self.sampler!r}.")
