"""Piano-roll frames over a small vocabulary, for the tests that check a
model gives a proper distribution over them."""

import itertools

import numpy as np
import tensorflow as tf

from polyframe.encoding import START_ID, Field
from polyframe_plugins.encoders.grid import FIRST_PITCH_ID, REST_ID

# A grid field of START, REST, three pitches and END.
PITCH = Field("pitch", 6)
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


def frame_probabilities(model, frames):
    """P(frame | START) for every frame `[voices]` in `frames`."""
    events = np.full((len(frames), 2, VOICES, 1), START_ID, np.int32)
    events[:, 1, :, 0] = frames
    (losses,) = model.token_losses({"events": tf.constant(events)})
    return np.exp(-losses.numpy()[:, 0].sum(axis=-1).astype(np.float64))
