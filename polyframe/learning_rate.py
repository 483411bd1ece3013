"""The learning rate over training: a linear warm-up, then a cosine decay.

Adam's first steps on a freshly initialised model take the full step size
along gradient statistics estimated from one batch; a short warm-up from
nearly zero lets those estimates settle first. A decay at the end takes the
last steps small, so the weights settle into a minimum instead of
circling it at the full step size, which is worth most on small corpora
that a model overfits once it has seen them a few times.
"""

import math
from typing import Optional

import tensorflow as tf


class WarmupCosine(tf.keras.optimizers.schedules.LearningRateSchedule):
    """`peak` reached linearly over `warmup_steps`, then a cosine decay.

    The rate at optimizer step s (counted from 0) is:
    * `peak * (s + 1) / warmup_steps` while `s < warmup_steps`;
    * with `decay_steps`: `peak * (f + (1 - f) * (1 + cos(pi * p)) / 2)`,
      p being the fraction of the steps from `warmup_steps` to
      `decay_steps` done (0 to 1, held at 1 after), f `final_fraction`;
    * with `progress` instead: the same, p being the value of that
      variable (clipped to 0..1), which the trainer sets to the share of
      its time budget spent;
    * with neither: `peak`.

    Args:
        peak: The learning rate after warm-up.
        warmup_steps: Steps of the linear warm-up (0: none).
        decay_steps: The step at which the decay reaches its end (None:
            no decay). Must lie beyond `warmup_steps`.
        final_fraction: The rate at the end of the decay, as a fraction of
            `peak`.
        progress: A float32 variable holding how far the decay has gone
            (0 to 1), for a decay not counted in steps; excludes
            `decay_steps`.

    Raises:
        ValueError: if both `decay_steps` and `progress` are given.
    """

    def __init__(self, peak: float, warmup_steps: int = 0,
                 decay_steps: Optional[int] = None,
                 final_fraction: float = 0.0,
                 progress: Optional[tf.Variable] = None):
        super().__init__()
        if decay_steps is not None and progress is not None:
            raise ValueError("a decay runs either to decay_steps or along "
                             "progress, not both")
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.decay_steps = decay_steps
        self.final_fraction = final_fraction
        self.progress = progress

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        rate = tf.constant(self.peak, tf.float32)
        done = None
        if self.decay_steps is not None:
            span = float(self.decay_steps - self.warmup_steps)
            done = tf.clip_by_value((step - self.warmup_steps) / span, 0.0,
                                    1.0)
        elif self.progress is not None:
            done = tf.clip_by_value(tf.cast(self.progress, tf.float32), 0.0,
                                    1.0)
        if done is not None:
            cosine = 0.5 * (1.0 + tf.cos(math.pi * done))
            rate = self.peak * (self.final_fraction +
                                (1.0 - self.final_fraction) * cosine)
        if self.warmup_steps:
            warming = self.peak * (step + 1.0) / self.warmup_steps
            rate = tf.where(step < self.warmup_steps, warming, rate)
        return rate

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "decay_steps": self.decay_steps,
                "final_fraction": self.final_fraction}
