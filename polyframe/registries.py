"""The registries every plugin fills: one per kind of component."""

from polyframe.registry import Registry

SOURCES = Registry("sources", "where the music comes from (corpus readers)")
ENCODERS = Registry("encoders", "NoteSequence <-> integer event arrays")
MODELS = Registry("models", "sequence models over events (the model contract)")
CELLS = Registry("cells", "recurrent cells that carry the model's state")
HEADS = Registry("heads", "output layers that turn a state into event logits")
CONSTRAINTS = Registry(
    "constraints", "logit rules applied between the model and the sampler")
SAMPLERS = Registry("samplers", "how a token is drawn from logits")
WRITERS = Registry("writers", "output formats a generated piece is written to")

ALL = (SOURCES, ENCODERS, MODELS, CELLS, HEADS, CONSTRAINTS, SAMPLERS, WRITERS)
