"""Piano-roll frames over a small vocabulary, for the tests that check a
model gives a proper distribution over them."""

import itertools

import numpy as np
import tensorflow as tf

from polyframe.encoding import START_ID, Field
from polyframe_plugins.encoders.grid import FIRST_PITCH_ID, REST_ID

# A grid field of START, REST, three pitches and END.
PITCH = Field("pitch", 6, pitches=(-1, -1, 60, 61, 62, -1))
END_ID = 5
VOICES = 3
EVERY_FRAME = np.array(list(itertools.product(range(1, 6), repeat=VOICES)))


def canonical(frame):
    """Whether `frame` is how a set of pitches (or END) is written."""
    if frame[0] == END_ID:
        return all(token == END_ID for token in frame)
    for above, below in zip(frame, frame[1:]):
        if above == REST_ID and below != REST_ID:
            return False
        if above != REST_ID and below != REST_ID and not (
                FIRST_PITCH_ID <= below < above):
            return False
    return END_ID not in frame


def frame_probabilities(model, frames, before=()):
    """P(frame | START, *before) for every frame `[voices]` in `frames`,
    `before` being frames that come first."""
    rows = 2 + len(before)
    events = np.full((len(frames), rows, VOICES, 1), START_ID, np.int32)
    for row, frame in enumerate(before, start=1):
        events[:, row, :, 0] = frame
    events[:, -1, :, 0] = frames
    (losses,) = model.token_losses({"events": tf.constant(events)})
    return np.exp(-losses.numpy()[:, -1].sum(axis=-1).astype(np.float64))
