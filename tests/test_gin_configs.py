"""Every shipped gin file parses, alone or after a base experiment, and
builds an `Experiment` whose components come from the registries."""

import gin
import pytest

from polyframe import main
from polyframe.experiment import Experiment

from conftest import REPO

GIN_DIR = REPO / "gin_configs"
EXPERIMENTS = sorted(p for p in GIN_DIR.glob("*.gin") if p.name != "smoke.gin")
MODIFIERS = [GIN_DIR / "smoke.gin"]


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_there_are_experiments_to_check():
    assert {p.name for p in EXPERIMENTS} >= {"duration_rnn.gin"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_experiment_file_parses_and_builds(path):
    experiment = main.configure([str(path)], [])()
    assert isinstance(experiment, Experiment)
    experiment.check()
    assert experiment.train.batch_size > 0


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
@pytest.mark.parametrize("modifier", MODIFIERS, ids=lambda p: p.name)
def test_modifier_applies_on_top_of_experiment(path, modifier):
    experiment = main.configure([str(path), str(modifier)], [])()
    assert experiment.train.max_steps is not None
    assert experiment.sample.num_samples <= 2
