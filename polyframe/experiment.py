"""What a run is made of, as chosen in gin: `Experiment`.

Gin builds an `Experiment` at the binary; `polyframe.data.prepare` turns its
source and encoder into encoded splits and `polyframe.jobs` runs it.
"""

import dataclasses
from typing import Any, Callable, Optional

from polyframe import checks
from polyframe.data.augmentation import Augmentation
from polyframe.distribution import STRATEGIES
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError
from polyframe.sampling import SampleConfig
from polyframe.sequence_model import TIMES, SequenceModel
from polyframe.trainer import TrainConfig


@dataclasses.dataclass
class Experiment:
    """Everything a run needs, as chosen in gin.

    Attributes:
        source: A data source (registered in `sources`) with `load()`.
        encoder: An `EventEncoder` (registered in `encoders`).
        model: Factory of the model (registered in `models`), called with
            the encoder's `fields` and `num_voices`, e.g.
            `@models.event_rnn` with its cell and head bound.
        train: A `TrainConfig`.
        sample: A `SampleConfig`.
        augmentation: How the training split is augmented.
        distribution: The `tf.distribute` strategy: see
            `polyframe.distribution.make_strategy`.
    """

    source: Any = None
    encoder: Optional[EventEncoder] = None
    model: Optional[Callable[..., SequenceModel]] = None
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    sample: SampleConfig = dataclasses.field(default_factory=SampleConfig)
    augmentation: Augmentation = dataclasses.field(
        default_factory=Augmentation)
    distribution: str = "auto"

    def __post_init__(self):
        checks.choice("Experiment", "distribution", self.distribution,
                      STRATEGIES)

    def check(self) -> None:
        """Checks the whole experiment before any data is read.

        Every choice must be made, and the model, its parts and the sample
        constraints are built once with the encoder's fields as they are
        before fitting (small vocabularies), so that a bad size or rate
        bound to any of them is reported now, not after the corpus is read.

        Raises:
            UserFacingError: naming the first choice left unmade.
            checks.ConfigurationError: naming the first bad value.
        """
        for name in ("source", "encoder", "model"):
            if getattr(self, name) is None:
                raise UserFacingError(
                    f"no {name} chosen: bind Experiment.{name} in a gin file "
                    "(see gin_configs/duration_rnn.gin).")
        model = self.build_model()
        if TIMES in model.features and self.encoder.clock() is None:
            raise checks.ConfigurationError(
                f"{type(model).__name__} reads event times, which "
                f"{type(self.encoder).__name__} does not keep (it has no event "
                "clock); use the duration or grid encoder, or a model without "
                "time_features.")
        for make in self.sample.constraints:
            make(encoder=self.encoder)

    def build_model(self) -> SequenceModel:
        """Builds the model for the (fitted or restored) encoder."""
        return self.model(fields=self.encoder.fields,
                          num_voices=self.encoder.num_voices)
