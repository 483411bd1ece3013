"""One generic trainer: compiled steps, checkpoints, validation, resuming.

The trainer knows nothing about music. It trains any `SequenceModel` (any
module whose `nll_sums(batch, training)` returns a summed `loss` and the
counts it may be normalised by), on batches that a callable makes afresh for every epoch.
Everything is built inside a `tf.distribute` strategy. The latest state is
kept in the run's `checkpoints` folder (for resuming, exactly where it
stopped) and the best-on-validation weights apart in `best` (see
`polyframe.model_dir`).

Under a multi-worker strategy every worker runs the same loop: each reads
its own shard of every global batch, and every decision to stop or to keep
a checkpoint is taken on values all-reduced over the workers, so all of
them save, validate and stop at the same steps and none is left waiting in
a collective. Workers other than the chief save into a scratch directory.
"""

import contextlib
import dataclasses
import functools
import math
import os
import queue
import time
from typing import Callable, Dict, Iterable, Optional

import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from polyframe import checks
from polyframe import metrics as metrics_lib
from polyframe import preemption
from polyframe import time_profile
from polyframe.learning_rate import WarmupCosine
from polyframe.model_dir import ModelDir
from polyframe.weight_average import WeightAverage
from polyframe.data import pipeline
from polyframe.errors import UserFacingError

# How often (in steps) a learning rate that decays with the time budget is
# brought up to date: often enough for a smooth decay, rarely enough that
# agreeing on the time costs nothing measurable across workers.
_BUDGET_CHECK_STEPS = 10
# Batches the training pipeline prepares ahead of the steps.
_PREFETCHED_BATCHES = 4


@dataclasses.dataclass
class TrainConfig:
    """How to train.

    Attributes:
        batch_size: Windows per step (over all replicas).
        window_length: Target events per training window.
        learning_rate: Adam's step size.
        clip_norm: Gradients are clipped to this global norm.
        max_epochs: Stop after this many epochs.
        max_steps: Stop after this many steps in all (None: no limit).
        max_train_minutes: Stop at the end of the first epoch that ends
            after this many minutes of training, counted over every resumed
            session of the run (None: no limit). A budget for fixed-time
            runs; the step count it reaches depends on the machine.
        patience: Stop after this many validations in a row without a
            better validation NLL (0: never stop early).
        validate_every_epochs: Validate (and keep a new best) at the end of
            every this many epochs, and always after the last; on a small
            corpus an epoch is a few steps, and validating each one can
            take a tenth of the training time.
        eval_batch_size: Whole pieces per validation batch.
        checkpoint_every_steps: Also save the latest state every this many
            steps (0: only at the end of epochs).
        checkpoint_every_epochs: Save the latest state (weights, optimizer,
            counters: what a resumed run needs) at the end of every this
            many epochs, and always at the end of training, on a stop
            signal and with every new best (so the best checkpoint never
            comes from a step the latest state has not reached). On a small
            corpus an epoch is a few steps, and saving a large model after
            each one can take a twentieth of the training time; a crash
            or kill then loses at most this many epochs.
        keep_checkpoints: How many latest checkpoints are kept.
        jit_compile: Compile the forward and backward pass with XLA.
        seed: Seeds initialisation, window offsets and shuffling.
        shuffle_windows: Training windows shuffled together. An epoch with
            no more windows is shuffled whole; a longer one (a large corpus)
            passes through a shuffle buffer of this many windows, which
            bounds the memory training needs (see
            `polyframe.data.pipeline.EpochWindows`).
        normalizer: The count the training loss is divided by ("events",
            "tokens" or "notes").
        preview_every_minutes: At a new best checkpoint, log a short sample
            to TensorBoard as audio and a piano roll, at most this often
            (0: never; the benchmark-protocol configs turn it off). Its time
            is not counted in `max_train_minutes`.
        max_nonfinite_steps: A step whose loss or gradient is not finite
            (NaN or infinite) is not applied; after this many such steps in
            a row training stops with one line saying so (the best and
            latest checkpoints keep the last finite weights).
        init_from: A trained run directory to start from (fine-tuning):
            its best weights and its encoder state, unchanged; the optimizer
            and step start afresh. The model must have the same variables
            and shapes. See `polyframe.warm_start`.
        warmup_steps: The learning rate rises linearly to `learning_rate`
            over this many steps (0: from the first step).
        decay_steps: After the warm-up, the learning rate falls along a
            cosine to `final_learning_rate_fraction` of itself at this step
            and stays there (None: no decay). Protocol configs set it to
            `max_steps`. See `polyframe.learning_rate`.
        decay_with_budget: The same decay, run over the time budget
            instead: the rate follows the share of `max_train_minutes`
            spent (checked every few steps), so a run limited by time ends
            at the final rate on a slow machine and a fast one alike. Needs
            `max_train_minutes`; excludes `decay_steps`. The steps then
            depend on the machine's speed, as the budget's stop already
            does, and a resumed run, whose rates follow its own sessions'
            times, does not repeat an uninterrupted one bit for bit.
        final_learning_rate_fraction: Where the decay ends, as a fraction
            of `learning_rate`.
        weight_average_decay: Validate, keep as best, sample and export an
            exponential moving average of the weights with this decay per
            step (0: the weights themselves). See
            `polyframe.weight_average`.
        weight_decay: Decoupled weight decay (AdamW): before each update
            every trainable weight shrinks by this times the step's
            learning rate, as a share of itself (0: none).
    """

    batch_size: int = 32
    window_length: int = 40
    learning_rate: float = 1e-3
    clip_norm: float = 5.0
    max_epochs: int = 100
    max_steps: Optional[int] = None
    max_train_minutes: Optional[float] = None
    patience: int = 10
    validate_every_epochs: int = 1
    eval_batch_size: int = 64
    checkpoint_every_steps: int = 0
    checkpoint_every_epochs: int = 1
    keep_checkpoints: int = 3
    jit_compile: bool = False
    seed: int = 0
    shuffle_windows: int = 16384
    normalizer: str = "events"
    preview_every_minutes: float = 5.0
    max_nonfinite_steps: int = 10
    init_from: Optional[str] = None
    warmup_steps: int = 0
    decay_steps: Optional[int] = None
    decay_with_budget: bool = False
    final_learning_rate_fraction: float = 0.0
    weight_average_decay: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self):
        owner = "TrainConfig"
        checks.integer(owner, "batch_size", self.batch_size, minimum=1)
        checks.integer(owner, "window_length", self.window_length, minimum=1)
        checks.real(owner, "learning_rate", self.learning_rate, above=0.0)
        checks.real(owner, "clip_norm", self.clip_norm, above=0.0)
        checks.integer(owner, "max_epochs", self.max_epochs, minimum=1)
        checks.integer(owner, "max_steps", self.max_steps, minimum=1,
                       optional=True)
        checks.real(owner, "max_train_minutes", self.max_train_minutes,
                    above=0.0, optional=True)
        checks.integer(owner, "patience", self.patience, minimum=0)
        checks.integer(owner, "validate_every_epochs",
                       self.validate_every_epochs, minimum=1)
        checks.integer(owner, "eval_batch_size", self.eval_batch_size,
                       minimum=1)
        checks.integer(owner, "checkpoint_every_steps",
                       self.checkpoint_every_steps, minimum=0)
        checks.integer(owner, "checkpoint_every_epochs",
                       self.checkpoint_every_epochs, minimum=1)
        checks.integer(owner, "keep_checkpoints", self.keep_checkpoints,
                       minimum=1)
        checks.boolean(owner, "jit_compile", self.jit_compile)
        checks.integer(owner, "seed", self.seed, minimum=0)
        checks.integer(owner, "shuffle_windows", self.shuffle_windows,
                       minimum=1)
        checks.choice(owner, "normalizer", self.normalizer,
                      ("events", "tokens", "notes"))
        checks.real(owner, "preview_every_minutes",
                    self.preview_every_minutes, minimum=0.0)
        checks.integer(owner, "max_nonfinite_steps", self.max_nonfinite_steps,
                       minimum=1)
        checks.text(owner, "init_from", self.init_from, optional=True)
        checks.integer(owner, "warmup_steps", self.warmup_steps, minimum=0)
        checks.integer(owner, "decay_steps", self.decay_steps, minimum=1,
                       optional=True)
        if (self.decay_steps is not None and
                self.decay_steps <= self.warmup_steps):
            raise checks.ConfigurationError(
                f"TrainConfig.decay_steps ({self.decay_steps}) must be "
                f"larger than TrainConfig.warmup_steps ({self.warmup_steps}):"
                " the decay starts where the warm-up ends.")
        checks.boolean(owner, "decay_with_budget", self.decay_with_budget)
        if self.decay_with_budget and self.decay_steps is not None:
            raise checks.ConfigurationError(
                "TrainConfig.decay_with_budget and TrainConfig.decay_steps "
                "both set where the decay ends; set one of them.")
        if self.decay_with_budget and self.max_train_minutes is None:
            raise checks.ConfigurationError(
                "TrainConfig.decay_with_budget decays the learning rate over "
                "the time budget; set TrainConfig.max_train_minutes too.")
        checks.real(owner, "final_learning_rate_fraction",
                    self.final_learning_rate_fraction, minimum=0.0,
                    maximum=1.0)
        checks.real(owner, "weight_average_decay", self.weight_average_decay,
                    minimum=0.0, below=1.0)
        checks.real(owner, "weight_decay", self.weight_decay, minimum=0.0)

    def learning_rate_schedule(self, budget_share=None):
        """Adam's learning rate: the constant `learning_rate`, or a
        `WarmupCosine` schedule when a warm-up or decay is set.

        Args:
            budget_share: The variable holding the share of the time budget
                spent, which a decay with the budget follows.
        """
        if (not self.warmup_steps and self.decay_steps is None and
                not self.decay_with_budget):
            return self.learning_rate
        return WarmupCosine(
            self.learning_rate, self.warmup_steps, self.decay_steps,
            self.final_learning_rate_fraction,
            progress=budget_share if self.decay_with_budget else None)


class Trainer:
    """Trains a model built by `build_model` under `strategy`.

    Args:
        config: A `TrainConfig`.
        run: The model directory checkpoints and TensorBoard logs go to.
        strategy: The `tf.distribute.Strategy` to build and run under.
        build_model: Makes the model; called once inside the strategy scope.
        writes: Where checkpoints and TensorBoard logs are written (default
            `run`); a worker that is not the chief passes a scratch
            directory, and still resumes from `run`.

    Raises:
        UserFacingError: if the batch does not split evenly over replicas.
    """

    def __init__(self, config: TrainConfig, run: ModelDir,
                 strategy: tf.distribute.Strategy,
                 build_model: Callable[[], tf.Module],
                 writes: Optional[ModelDir] = None):
        self.config = config
        self.run = run
        self.writes = writes or run
        self.strategy = strategy
        replicas = strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise UserFacingError(
                f"TrainConfig.batch_size ({config.batch_size}) must be a "
                f"multiple of the {replicas} replicas training in sync, so "
                "that every replica gets the same share of each batch.")
        tf.keras.utils.set_random_seed(config.seed)
        # A host variable, like the loop's counters below: every worker
        # sets it to the same agreed value.
        self.budget_share = tf.Variable(0.0, dtype=tf.float32,
                                        trainable=False)
        with strategy.scope():
            self.model = build_model()
            self._learning_rate = config.learning_rate_schedule(
                self.budget_share)
            self.optimizer = tf.keras.optimizers.Adam(
                learning_rate=self._learning_rate,
                global_clipnorm=config.clip_norm,
                weight_decay=config.weight_decay or None)
            self.optimizer.build(self.model.trainable_variables)
            self.average = (WeightAverage(self.model.trainable_variables,
                                          config.weight_average_decay)
                            if config.weight_average_decay else None)
        # The loop's counters are plain host variables, outside the
        # strategy: every worker keeps the same values by taking the same
        # steps and decisions.
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_valid = tf.Variable(math.inf, dtype=tf.float64,
                                      trainable=False)
        self.epochs_without_improvement = tf.Variable(0, dtype=tf.int64,
                                                      trainable=False)
        self.trained_seconds = tf.Variable(0.0, dtype=tf.float64,
                                           trainable=False)
        self.time_profile = time_profile.TimeProfile()
        self._latest_saved_at = None
        averaged = {"weight_average": self.average} if self.average else {}
        self._latest = tf.train.CheckpointManager(
            tf.train.Checkpoint(
                model=self.model, optimizer=self.optimizer, step=self.step,
                epoch=self.epoch, step_in_epoch=self.step_in_epoch,
                best_valid=self.best_valid,
                epochs_without_improvement=self.epochs_without_improvement,
                trained_seconds=self.trained_seconds,
                time_profile=self.time_profile, **averaged),
            self.writes.checkpoints, max_to_keep=config.keep_checkpoints,
            step_counter=self.step)
        self._best = tf.train.CheckpointManager(
            tf.train.Checkpoint(model=self.model, step=self.step),
            self.writes.best, max_to_keep=1, step_counter=self.step)
        self._gradients = tf.function(self._gradients_and_sums,
                                      jit_compile=config.jit_compile)
        self._train_step = tf.function(self._distributed_train_step)
        self._all_mean = tf.function(self._distributed_mean)
        self._eval_step = tf.function(
            lambda batch: self.model.nll_sums(batch, training=False),
            reduce_retracing=True)

    def restore_latest(self) -> int:
        """Resumes from the latest checkpoint if there is one; returns the step."""
        path = tf.train.latest_checkpoint(self.run.checkpoints)
        if path:
            self._latest.checkpoint.restore(path)
            self._latest_saved_at = int(self.step)
            logging.info("resumed from %s at step %d (epoch %d)", path,
                         int(self.step), int(self.epoch))
        return int(self.step)

    def evaluated_weights(self):
        """A context in which the model holds the weights that are
        validated and kept as best: the weight average if there is one,
        else the weights themselves."""
        if self.average is None:
            return contextlib.nullcontext()
        return self.average.in_place()

    def restore_best(self) -> str:
        """Loads the best-on-validation weights; returns the checkpoint path."""
        path = tf.train.latest_checkpoint(self.run.best)
        if path:
            self._best.checkpoint.restore(path).expect_partial()
        return path

    def _gradients_and_sums(self, batch):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            sums = self.model.nll_sums(batch, training=True)
        return tape.gradient(sums["loss"], variables), sums

    def _distributed_train_step(self, batch, stop_requested=0.0):
        """One step on every replica; returns the summed NLL sums,
        `skipped` (1 if the step was not applied: some replica's loss or
        gradient was not finite) and `stop` (positive if any worker was
        asked to stop: `stop_requested` is this worker's 0 or 1)."""
        def replica_step(batch, stop_requested):
            gradients, sums = self._gradients(batch)
            context = tf.distribute.get_replica_context()
            count = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                       sums[self.config.normalizer])
            scale = 1.0 / tf.maximum(count, 1.0)
            gradients = [g * scale for g in gradients]
            finite = tf.logical_and(
                tf.math.is_finite(sums["loss"]),
                tf.math.is_finite(tf.linalg.global_norm(gradients)))
            # Every replica takes the same decision, or the all-reduce in
            # apply_gradients would wait for replicas that skipped it; one
            # all-reduce also tells every replica of a stop request.
            bad, stop = tf.unstack(context.all_reduce(
                tf.distribute.ReduceOp.SUM,
                tf.stack([1.0 - tf.cast(finite, tf.float32),
                          stop_requested])))
            skipped = self._apply_if_finite(context, gradients, bad)
            sums = dict(sums)
            sums["skipped"] = skipped / float(
                self.strategy.num_replicas_in_sync)
            sums["stop"] = stop
            return sums

        per_replica = self.strategy.run(
            replica_step, args=(batch, tf.cast(stop_requested, tf.float32)))
        self.step.assign_add(1)
        self.step_in_epoch.assign_add(1)
        return {key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value,
                                          axis=None)
                for key, value in per_replica.items()}

    def _apply_if_finite(self, context, gradients, bad):
        """Applies `gradients` unless `bad` (the same on every replica) is
        positive; returns 1.0 if the step was skipped, else 0.0.

        A strategy whose `apply_gradients` synchronises through `merge_call`
        (several replicas) cannot branch around it in replica context, so
        there the branch is taken in cross-replica context and the update
        is run for each replica inside it.
        """
        variables = self.model.trainable_variables

        def apply(grads):
            self.optimizer.apply_gradients(zip(grads, variables))
            if self.average is not None:
                self.average.update(self.optimizer.iterations)
            return tf.constant(0.0)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            return tf.cond(bad > 0.0, lambda: tf.constant(1.0),
                           lambda: apply(gradients))

        def in_cross_replica(strategy, gradients, bad):
            first = strategy.experimental_local_results(bad)[0]

            def apply_everywhere():
                strategy.extended.call_for_each_replica(apply,
                                                        args=(gradients,))
                return tf.constant(0.0)

            return tf.cond(first > 0.0, lambda: tf.constant(1.0),
                           apply_everywhere)

        return context.merge_call(in_cross_replica, args=(gradients, bad))

    def _distributed_mean(self, values):
        """The mean of `values` over all replicas of all workers."""
        def replica_mean(values):
            # The copy puts the value on this replica's device.
            return tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.MEAN, tf.identity(values))
        per_replica = self.strategy.run(replica_mean, args=(values,))
        return self.strategy.experimental_local_results(per_replica)[0]

    def _agreed(self, *values: float):
        """`values` as every worker will use them (their mean over workers,
        which is each value itself when the workers agree)."""
        return [float(v) for v in self._all_mean(
            tf.constant(values, tf.float64)).numpy()]

    def _training_batches(self, feed: "_EpochFeed",
                          signature: Dict[str, tf.TensorSpec]):
        """An iterator over this worker's share of every epoch's batches,
        the epochs' windows coming from `feed`, for a whole fit.

        The windows are cut as the steps need them (`tf.data` reads them
        from a Python generator), so memory does not grow with the corpus.
        Every input pipeline (one per worker) takes every n-th window of
        the global batches and batches them for its replicas, so a step's
        global batch holds the same windows however many workers and
        replicas there are. One iterator serves every epoch, and the
        pipeline is not autotuned: freeing an autotuned iterator waits for
        its tuning thread, whose sleeps grow with the iterator's age (from
        0.2 s after an epoch to over a minute after a 13-minute run, with
        both cores idle). A fixed prefetch keeps the steps fed: reading
        batches takes under 2 % of the training time.
        """
        return iter(self.strategy.distribute_datasets_from_function(
            functools.partial(self._training_dataset, feed, signature)))

    def _training_dataset(self, feed: "_EpochFeed",
                          signature: Dict[str, tf.TensorSpec],
                          context: tf.distribute.InputContext
                          ) -> tf.data.Dataset:
        """One input pipeline's batches (see `_training_batches`)."""
        options = tf.data.Options()
        options.autotune.enabled = False
        per_replica = context.get_per_replica_batch_size(
            self.config.batch_size)
        return (tf.data.Dataset.from_generator(
            feed.chunks, output_signature=signature)
                .unbatch()
                .shard(context.num_input_pipelines,
                       context.input_pipeline_id)
                .batch(per_replica, drop_remainder=True)
                .prefetch(_PREFETCHED_BATCHES)
                .with_options(options))

    def evaluate(self, batches: Iterable[pipeline.Batch]) -> Dict[str, float]:
        """Returns NLL metrics (see `polyframe.metrics`) summed over `batches`."""
        totals: Dict[str, float] = {}
        for batch in batches:
            for key, value in self._eval_step(batch).items():
                totals[key] = totals.get(key, 0.0) + float(value)
        return metrics_lib.from_sums(totals)

    def fit(self, make_windows: Callable[[np.random.Generator],
                                         pipeline.EpochWindows],
            valid_batches: Callable[[], Iterable[pipeline.Batch]],
            on_best: Optional[Callable[[int], None]] = None) -> None:
        """Trains until `max_epochs`, `max_steps` or early stopping.

        SIGTERM or SIGINT during training saves the latest checkpoint at the
        current step and raises `preemption.Preempted`; running `fit` again
        on the same directory resumes there.

        Args:
            make_windows: Returns one epoch's training windows, drawn with
                the given generator (seeded by the epoch, so a resumed epoch
                sees exactly the same windows in the same order).
            valid_batches: Returns the validation batches.
            on_best: Called with the step after each new best checkpoint
                (e.g. a TensorBoard preview); its time is not counted in the
                training budget.

        Raises:
            preemption.Preempted: on a stop signal, after saving.
            UserFacingError: if too many steps in a row were not finite.
        """
        with preemption.StopRequests() as stop:
            self._fit(make_windows, valid_batches, on_best, stop)
        report = self.time_profile.report()
        logging.info(
            "training time by part: %s; %.1f%% of %.0f s in steps",
            ", ".join(f"{name} {report[f'{name}_seconds']:.1f} s"
                      for name in time_profile.PARTS),
            100 * report["steps_share"], report["total_seconds"])

    def _fit(self, make_windows, valid_batches, on_best, stop) -> None:
        self._session_started = time.time()
        self._seconds_before = float(self.trained_seconds)
        self._nonfinite_in_a_row = 0
        self._update_budget_share()
        writers = {name: tf.summary.create_file_writer(
            os.path.join(self.writes.tensorboard, name)) for name in ("train",
                                                                 "valid")}
        feed = _EpochFeed()
        iterators = []
        try:
            self._fit_epochs(make_windows, valid_batches, on_best, stop,
                             writers, feed, iterators)
        finally:
            # The pipeline's generator waits for the next epoch in a tf.data
            # thread; freeing the iterator while it waits would never end.
            feed.close()
            for batches in iterators:
                try:
                    for _ in batches:
                        pass
                except tf.errors.OpError:
                    pass  # The pipeline itself failed: nothing waits in it.

    def _fit_epochs(self, make_windows, valid_batches, on_best, stop,
                    writers, feed: "_EpochFeed", iterators: list) -> None:
        config = self.config
        batches = None
        while (int(self.epoch) < config.max_epochs and
               not self._out_of_steps() and not self._out_of_patience()):
            epoch = int(self.epoch)
            with self.time_profile.part("input"):
                windows = make_windows(
                    np.random.default_rng([config.seed, epoch]))
                num_steps = windows.num_windows // config.batch_size
                if num_steps == 0:
                    raise UserFacingError(
                        f"the training split makes only {windows.num_windows}"
                        f" windows, fewer than one batch of "
                        f"{config.batch_size}; use more music, or lower "
                        "TrainConfig.batch_size or TrainConfig.window_length.")
                done = int(self.step_in_epoch)
                if batches is None:
                    batches = self._training_batches(feed,
                                                     windows.signature())
                    iterators.append(batches)
                feed.put(windows, start=done * config.batch_size,
                         limit=num_steps * config.batch_size)
            totals: Dict[str, float] = {}
            epoch_started = time.time()
            progress = tqdm(total=num_steps, initial=done, leave=False,
                            desc=f"epoch {epoch}", unit="step", disable=None)
            for _ in range(num_steps - done):
                with self.time_profile.part("input"):
                    batch = next(batches)
                with self.time_profile.part("steps"):
                    sums = self._train_step(
                        batch, tf.constant(float(bool(stop.requested))))
                    sums = {key: float(value) for key, value in sums.items()}
                self._check_finite(sums)
                if not sums["skipped"]:
                    for key, value in sums.items():
                        if key != "stop":
                            totals[key] = totals.get(key, 0.0) + value
                progress.update(1)
                if totals:
                    progress.set_postfix(
                        nll=f"{totals['nll'] / max(totals['events'], 1):.3f}")
                step = int(self.step)
                if sums["stop"]:
                    self._save_latest()
                    raise preemption.Preempted(
                        stop.requested or "a stop signal to another worker",
                        step)
                if step % _BUDGET_CHECK_STEPS == 0:
                    self._update_budget_share()
                if (config.checkpoint_every_steps and
                        step % config.checkpoint_every_steps == 0):
                    with self.time_profile.part("checkpoints"):
                        self._save_latest()
                if self._out_of_steps():
                    break
            progress.close()
            finished_epoch = int(self.step_in_epoch) >= num_steps
            budget_spent = self._budget_spent()
            last = (budget_spent or self._out_of_steps() or
                    epoch + 1 >= config.max_epochs)
            validate = last or (epoch + 1) % config.validate_every_epochs == 0
            improved = self._end_epoch(epoch, totals,
                                       time.time() - epoch_started,
                                       valid_batches, writers, finished_epoch,
                                       validate, last)
            if self._agreed(float(bool(stop.requested)))[0]:
                self._save_latest()
                raise preemption.Preempted(
                    stop.requested or "a stop signal to another worker",
                    int(self.step))
            if improved and on_best is not None:
                called = time.time()
                with self.time_profile.part("previews"), self.evaluated_weights():
                    on_best(int(self.step))
                self._session_started += time.time() - called
            if self._out_of_patience():
                logging.info("early stop: no better validation NLL in %d "
                             "validations", config.patience)
                break
            if budget_spent:
                logging.info("stop: the %.1f-minute training budget is "
                             "spent", config.max_train_minutes)
                break

    def _learning_rate_now(self) -> float:
        """The rate the next step takes, for the logs (the optimizer's own
        variable is per replica under a multi-replica strategy)."""
        rate = self._learning_rate
        return float(rate(self.step) if callable(rate) else rate)

    def _update_budget_share(self) -> None:
        """Sets `budget_share` to the share of the time budget spent, for a
        learning rate that decays with the budget."""
        if self.config.decay_with_budget:
            spent, = self._agreed(self._trained_seconds())
            self.budget_share.assign(
                spent / (60 * self.config.max_train_minutes))

    def _budget_spent(self) -> bool:
        """Whether the training time, as every worker agrees on it, has
        passed `max_train_minutes`."""
        if self.config.max_train_minutes is None:
            return False
        spent, = self._agreed(self._trained_seconds())
        return spent > 60 * self.config.max_train_minutes

    def _trained_seconds(self) -> float:
        """Training time of this run, over every session so far."""
        return self._seconds_before + time.time() - self._session_started

    def _save_latest(self) -> None:
        """Saves the latest state, unless it was already saved at this step
        with the counters as they are (`_end_epoch` moves them on and
        clears the mark)."""
        step = int(self.step)
        if step == self._latest_saved_at:
            return
        self.trained_seconds.assign(self._trained_seconds())
        self._latest.save(checkpoint_number=step)
        self._latest_saved_at = step

    def _check_finite(self, sums) -> None:
        """Logs a step that was not applied; stops after too many in a row."""
        if not sums["skipped"]:
            self._nonfinite_in_a_row = 0
            return
        self._nonfinite_in_a_row += 1
        step = int(self.step)
        logging.warning("step %d: the loss or a gradient is not finite; the "
                        "step was not applied (%d in a row)", step,
                        self._nonfinite_in_a_row)
        if self._nonfinite_in_a_row >= self.config.max_nonfinite_steps:
            best = self._best.latest_checkpoint
            kept = (f"the best checkpoint ({os.path.basename(best)}) keeps "
                    "finite weights" if best else "no checkpoint was kept")
            raise UserFacingError(
                f"training diverged: {self._nonfinite_in_a_row} steps in a "
                f"row up to step {step} had a non-finite loss or gradient "
                f"and were not applied; {kept}. Lower "
                f"TrainConfig.learning_rate (now {self.config.learning_rate:g})"
                f" or TrainConfig.clip_norm (now {self.config.clip_norm:g}).")

    def _end_epoch(self, epoch, totals, seconds, valid_batches, writers,
                   finished_epoch, validate, last) -> bool:
        """Validates (if `validate`), checkpoints (see
        `TrainConfig.checkpoint_every_epochs`; `last`: training ends here)
        and logs; returns whether a new best was kept."""
        train = metrics_lib.from_sums(totals) if totals else {}
        train["learning_rate"] = self._learning_rate_now()
        valid: Dict[str, float] = {}
        improved = False
        if validate:
            with self.time_profile.part("validation"), \
                    self.evaluated_weights():
                valid = self.evaluate(valid_batches())
                score, = self._agreed(valid["nll_per_event"])
            improved = score < float(self.best_valid)
            if improved:
                self.best_valid.assign(score)
                self.epochs_without_improvement.assign(0)
            else:
                self.epochs_without_improvement.assign_add(1)
        if finished_epoch:
            self.epoch.assign_add(1)
            self.step_in_epoch.assign(0)
        due = int(self.epoch) % self.config.checkpoint_every_epochs == 0
        self._latest_saved_at = None  # The counters above have moved on.
        with self.time_profile.part("checkpoints"):
            if due or improved or last or self._out_of_patience():
                self._save_latest()
            if improved:
                with self.evaluated_weights():
                    self._best.save(checkpoint_number=int(self.step))
        step = int(self.step)
        with self.time_profile.part("summaries"):
            for name, values in (("train", train), ("valid", valid)):
                with writers[name].as_default(step=step):
                    for key, value in values.items():
                        tf.summary.scalar(key, value)
                writers[name].flush()
        if not validate:
            logging.info("epoch %d (step %d, %.1fs): train %.4f nats/event",
                         epoch, step, seconds,
                         train.get("nll_per_event", math.nan))
            return False
        logging.info(
            "epoch %d (step %d, %.1fs): train %.4f nats/event | valid %.4f "
            "nats/event, %.4f nats/token, %.4f nats/note, %.4f bits/note%s",
            epoch, step, seconds, train.get("nll_per_event", math.nan), score,
            valid["nll_per_token"], valid["nll_per_note"],
            valid["bits_per_note"], "  *best*" if improved else "")
        return improved

    def _out_of_patience(self) -> bool:
        return bool(self.config.patience and
                    int(self.epochs_without_improvement) >=
                    self.config.patience)

    def _out_of_steps(self) -> bool:
        return (self.config.max_steps is not None and
                int(self.step) >= self.config.max_steps)


class _EpochFeed:
    """Hands each epoch's windows, as the trainer makes them, to the one
    `tf.data` pipeline that reads every epoch (`Trainer._training_batches`).

    The pipeline's generator (`chunks`) waits for the next epoch in a
    `tf.data` thread and ends when the fit closes the feed.
    """

    def __init__(self):
        self._epochs: "queue.Queue" = queue.Queue()

    def put(self, windows: pipeline.EpochWindows, start: int,
            limit: int) -> None:
        """Queues the windows `start` to `limit` of an epoch."""
        self._epochs.put((windows, start, limit))

    def close(self) -> None:
        """Ends the pipeline after the epochs already queued."""
        self._epochs.put(None)

    def chunks(self):
        """Every queued epoch's windows, in chunks, until `close`."""
        while True:
            epoch = self._epochs.get()
            if epoch is None:
                return
            windows, start, limit = epoch
            yield from windows.chunks(start=start, limit=limit)
