"""Warm start: a new run begins from another run's best weights.

`TrainConfig.init_from = 'runs/chorales'` fine-tunes: the new run takes that
run's best-on-validation weights and its encoder state unchanged (the same
vocabularies, so every token id means what the weights learned; the
encoder is not fitted on the new data, and durations it has no token for
are mapped to the nearest and counted, as for valid and test). Only the
weights are taken: the optimizer, the step and the early-stopping record
start afresh. Once the new run has its own checkpoint it resumes from that,
like any run.

Everything is checked before the new run writes anything: the directory
must hold a trained run, and a model built from the new config must have
exactly the variables (names and shapes) of that run's checkpoint.
"""

import json
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Tuple

import tensorflow as tf
from absl import logging

from polyframe.errors import UserFacingError
from polyframe.model_dir import ModelDir

_PREFIX = "model/"
_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


class WarmStart:
    """The run a new run starts from.

    Args:
        init_from: The trained run's directory (`TrainConfig.init_from`).
        model_dir: The new run's directory.

    Raises:
        UserFacingError: if `init_from` is the new run itself, or is not a
            trained run (no best checkpoint or no encoder state).
    """

    def __init__(self, init_from: str, model_dir: str):
        self.run = ModelDir(init_from)
        if os.path.abspath(init_from) == os.path.abspath(model_dir):
            raise UserFacingError(
                f"TrainConfig.init_from is the run's own --model_dir "
                f"{model_dir!r}; a run resumes from its own checkpoints by "
                "itself. Name another trained run.")
        if not os.path.isdir(init_from):
            raise UserFacingError(
                f"TrainConfig.init_from: {init_from!r} does not exist; it "
                "must name a trained model directory.")
        self.checkpoint = tf.train.latest_checkpoint(self.run.best)
        if not self.checkpoint:
            raise UserFacingError(
                f"TrainConfig.init_from: {init_from!r} holds no trained model "
                f"(no checkpoint under {self.run.best!r}).")
        if not os.path.isfile(self.run.encoder_state):
            raise UserFacingError(
                f"TrainConfig.init_from: {init_from!r} has no encoder.json; "
                "it is not a complete polyframe model directory.")
        with open(self.run.encoder_state, encoding="utf-8") as handle:
            self.encoder_state: Dict[str, Any] = json.load(handle)

    def load_encoder(self, encoder) -> None:
        """Gives `encoder` the state of `init_from`'s encoder.

        Raises:
            UserFacingError: if that state does not fit this encoder (e.g.
                another kind of encoder).
        """
        try:
            encoder.set_state(self.encoder_state)
        except (ValueError, KeyError, TypeError) as error:
            raise UserFacingError(
                f"TrainConfig.init_from: the encoder state of "
                f"{self.run.root!r} does not fit this run's "
                f"{type(encoder).__name__}: {error}. Use the same encoder "
                "as that run.") from None

    def check_model(self, build_model: Callable[[], tf.Module]) -> None:
        """Builds a model as the new run will and compares its variables
        with the checkpoint's, before anything is written.

        Args:
            build_model: Makes the new run's model (its encoder must hold
                `encoder_state` already).

        Raises:
            UserFacingError: naming the first variable (by checkpoint name)
                that is missing on either side or differs in shape.
        """
        difference = first_difference(
            checkpoint_shapes(self.checkpoint), model_shapes(build_model()))
        if difference is not None:
            name, theirs, ours = difference
            raise UserFacingError(
                f"TrainConfig.init_from: this model does not match "
                f"{self.run.root!r}: variable {name} is {_shape(ours)} here "
                f"and {_shape(theirs)} there. Use the same model settings "
                "as that run.")

    def restore(self, model: tf.Module) -> None:
        """Loads the best weights of `init_from` into `model` (weights only).

        Raises:
            UserFacingError: if the variables do not match (see
                `check_model`).
        """
        difference = first_difference(checkpoint_shapes(self.checkpoint),
                                      model_shapes(model))
        if difference is not None:  # check_model ran on another build.
            raise UserFacingError(
                f"TrainConfig.init_from: variable {difference[0]} of "
                f"{self.run.root!r} does not match this model.")
        status = tf.train.Checkpoint(model=model).read(self.checkpoint)
        status.assert_existing_objects_matched().expect_partial()
        logging.info("warm start: weights from %s, encoder state from %s; "
                     "the optimizer and step start afresh", self.checkpoint,
                     self.run.encoder_state)


Shapes = Dict[str, Tuple[int, ...]]


def checkpoint_shapes(checkpoint: str) -> Shapes:
    """The model's variables in a run checkpoint, by name, with shapes."""
    return {name[len(_PREFIX):-len(_SUFFIX)]: tuple(shape)
            for name, shape in tf.train.list_variables(checkpoint)
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX)}


def model_shapes(model: tf.Module) -> Shapes:
    """`model`'s variables under the names a run checkpoint gives them.

    The names come from writing the model's own checkpoint (object-based
    names are what restoring matches by), in a temporary directory.
    """
    with tempfile.TemporaryDirectory() as directory:
        path = tf.train.Checkpoint(model=model).write(
            os.path.join(directory, "model"))
        return checkpoint_shapes(path)


def first_difference(theirs: Shapes, ours: Shapes
                     ) -> Optional[Tuple[str, Optional[Tuple[int, ...]],
                                         Optional[Tuple[int, ...]]]]:
    """The first name (in sorted order) missing on one side or with other
    shapes: `(name, their shape, our shape)`, None for a missing side; None
    if everything matches."""
    names: List[str] = sorted(set(theirs) | set(ours))
    for name in names:
        if theirs.get(name) != ours.get(name):
            return name, theirs.get(name), ours.get(name)
    return None


def _shape(shape: Optional[Tuple[int, ...]]) -> str:
    if shape is None:
        return "missing"
    return "[" + ", ".join(str(d) for d in shape) + "]"
