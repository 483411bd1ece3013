"""An exponential moving average of a model's weights, for evaluation.

The weights Adam leaves after a step carry that step's noise; an average over
the last few hundred steps lies nearer the minimum they circle, and usually
scores a lower validation NLL than any one step's weights. Training updates
the raw weights; validation, the best checkpoint and everything made from it
(samples, exports) use the average.
"""

import contextlib

import tensorflow as tf


class WeightAverage(tf.Module):
    """A shadow copy of `variables`, moved toward them after every step.

    After update n (counted from 1) each average becomes
    `d * average + (1 - d) * weight` with `d = min(decay, (n - 1) / (n + 9))`:
    the first update copies the weights, so the initialisation (or the run
    a fine-tuning starts from) is not averaged in, and the decay grows to
    `decay` as updates accumulate.

    Args:
        variables: The trainable variables to average (built already).
        decay: How much of the average each update keeps, in (0, 1).
    """

    def __init__(self, variables, decay: float):
        super().__init__(name="weight_average")
        self._variables = list(variables)
        self.decay = decay
        # Every replica holds the same weights, so the first replica's
        # update is the update.
        self.averages = [
            tf.Variable(tf.identity(v), trainable=False,
                        name=v.name.split(":")[0].replace("/", "_") + "_avg",
                        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            for v in self._variables]

    def update(self, num_updates) -> None:
        """Moves the averages toward the weights; `num_updates` counts this
        update (1 for the first)."""
        n = tf.cast(num_updates, tf.float32)
        decay = tf.minimum(self.decay, (n - 1.0) / (n + 9.0))
        for average, weight in zip(self.averages, self._variables):
            average.assign(decay * average + (1.0 - decay) *
                           tf.cast(weight, average.dtype))

    @contextlib.contextmanager
    def in_place(self):
        """Within the block the variables hold the averages (and the
        averages the weights); on leaving, even by an exception, both are
        swapped back."""
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def _swap(self) -> None:
        for average, weight in zip(self.averages, self._variables):
            held = tf.identity(weight)
            weight.assign(average)
            average.assign(held)
