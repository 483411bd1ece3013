"""The registries every plugin fills: one per kind of component."""

from polyframe.registry import Registry

SOURCES = Registry("sources", "where the music comes from (corpus readers)")
ENCODERS = Registry("encoders", "NoteSequence <-> integer event arrays")
CELLS = Registry("cells", "recurrent cells that carry the model's state")
HEADS = Registry("heads", "output layers that turn a state into event logits")
SAMPLERS = Registry("samplers", "how a token is drawn from logits")

ALL = (SOURCES, ENCODERS, CELLS, HEADS, SAMPLERS)
