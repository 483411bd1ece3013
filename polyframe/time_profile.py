"""Where a training run's time goes: steps, input, validation, checkpoints.

A fixed-step benchmark is only as fast as the work around its steps; this
accounts for every second of the training loop by part, over every session
of a run (the totals are saved in the checkpoint), so `metrics.json` can say
what share of the time the model was actually training.
"""

import contextlib
import time
from typing import Dict

import tensorflow as tf

PARTS = ("steps", "input", "validation", "checkpoints", "summaries",
         "previews")


class TimeProfile(tf.Module):
    """Seconds spent in each of `PARTS`, kept in a checkpointable variable."""

    def __init__(self):
        super().__init__(name="time_profile")
        self.seconds = tf.Variable(tf.zeros([len(PARTS)], tf.float64),
                                   trainable=False)

    @contextlib.contextmanager
    def part(self, name: str):
        """Counts the time the block takes toward `name`."""
        index = PARTS.index(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds.scatter_nd_add(
                [[index]], [time.perf_counter() - started])

    def add(self, name: str, seconds: float) -> None:
        """Counts `seconds` toward `name` (for time measured elsewhere)."""
        self.seconds.scatter_nd_add([[PARTS.index(name)]], [seconds])

    def report(self) -> Dict[str, float]:
        """Seconds by part, their total, and the share of the total spent
        in training steps (rounded for metrics.json)."""
        seconds = dict(zip(PARTS, (float(s) for s in self.seconds.numpy())))
        total = sum(seconds.values())
        report = {f"{name}_seconds": round(value, 2)
                  for name, value in seconds.items()}
        report["total_seconds"] = round(total, 2)
        report["steps_share"] = round(seconds["steps"] / total, 4) if total \
            else 0.0
        return report
