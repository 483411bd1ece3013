"""What the benchmark scripts share: a trained run restored from its flags.

Imported by the scripts beside it (`python benchmarks/<script>.py` puts this
folder on the import path).
"""

from typing import Any, Dict, Sequence, Tuple

from polyframe import main as cli


def restore(model_dir: str, bindings: Sequence[str]) -> Tuple[Any, Any, Any]:
    """The run's experiment (saved config plus `bindings`), its model with
    the best weights, and a `Composer` with the run's sampler."""
    from polyframe import jobs
    from polyframe.model_dir import ModelDir
    run = ModelDir(model_dir)
    experiment = cli.configure([run.config], list(bindings))()
    model = jobs.restore_model(experiment, run)
    return experiment, model, jobs.make_composer(experiment, model)


def corpus(experiment) -> Dict[str, Any]:
    """The run's data, encoded with the run's encoder state (preparing it
    fits the encoder again, so the learned state is put back)."""
    from polyframe.data import prepare
    encoder = experiment.encoder
    state = encoder.get_state()
    encoded = prepare.prepare(experiment.source, encoder,
                              experiment.augmentation)
    encoder.set_state(state)
    return encoded
