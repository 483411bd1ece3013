"""Running the real command line from tests."""

import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

from conftest import REPO

DURATION_RNN = str(REPO / "gin_configs" / "duration_rnn.gin")
SMOKE = str(REPO / "gin_configs" / "smoke.gin")


def run_main(args: Sequence[str], env: Optional[Dict[str, str]] = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python -m polyframe.main ARGS` and returns the finished process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "polyframe.main", *args], cwd=REPO,
        env=full_env, capture_output=True, text=True, timeout=timeout)


def error_line(process: subprocess.CompletedProcess) -> str:
    """The one line polyframe prints for a user error (TF's import noise,
    which polyframe does not control, is ignored)."""
    ours = [line for line in process.stderr.splitlines()
            if line.startswith("polyframe: error:")]
    assert len(ours) == 1, process.stderr[-3000:]
    assert "Traceback" not in process.stderr, process.stderr[-3000:]
    return ours[0]


def run_in_process(args: Sequence[str]) -> int:
    """Runs `polyframe.main` with ARGS in this process and returns its exit
    code (0 when it returns normally).

    The one-line error goes to stderr as on the command line; read it with
    pytest's `capsys`. Every flag is reset first and gin is cleared, so runs
    do not leak settings into each other.
    """
    import gin
    from absl import flags
    from polyframe import main

    gin.clear_config()
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["polyframe", *args])
    try:
        main.main([])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        gin.clear_config()
        flags.FLAGS.unparse_flags()
    return 0


def one_error_line(stderr: str) -> str:
    """The single `polyframe: error:` line of an in-process run."""
    ours = [line for line in stderr.splitlines()
            if line.startswith("polyframe: error:")]
    assert len(ours) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return ours[0]


def tiny_rnn(encoder):
    """An untrained four-unit GRU model for `encoder`, seeded, for tests of
    the generation loop whose constraints decide what is drawn."""
    import functools

    import tensorflow as tf

    from polyframe import registries
    tf.random.set_seed(0)
    cell = functools.partial(registries.CELLS.get("gru"), num_units=4)
    head = functools.partial(registries.HEADS.get("independent"),
                             hidden_size=4)
    return registries.MODELS.get("event_rnn")(
        encoder.fields, encoder.num_voices, cell, head,
        default_embedding_size=2)


def assert_greedy_is_teacher_forced_argmax(model, primers, max_events):
    """Greedy generation draws, after the primer, the argmax of the logits
    the model gives the whole generated sequence at once."""
    import numpy as np
    import tensorflow as tf

    from polyframe import registries
    from polyframe.generation import Generator
    from polyframe.sequence_model import without_start
    from polyframe_plugins.constraints.basic import ForbidStart
    generate = Generator(model, registries.SAMPLERS.get("greedy")(),
                         [ForbidStart(None)])
    events = generate(primers, max_events=max_events, seed=0).events
    full = np.concatenate([primers[:, :1], events], axis=1)
    logits = model.logits({"events": tf.constant(full)})
    first = primers.shape[1] - 1
    for index, (field, field_logits) in enumerate(zip(model.fields, logits)):
        predicted = tf.argmax(without_start(field_logits, field.vocab_size),
                              -1).numpy()
        np.testing.assert_array_equal(predicted[:, first:],
                                      events[:, first:, :, index])
