"""Suite-wide set-up: a private corpus cache, the parsed Bach corpus, and
the repository root."""

import dataclasses
import os
import pathlib
from typing import List

import pytest
from note_seq.protobuf import music_pb2

from polyframe.data.corpus import Corpus
from polyframe_plugins.sources.bach import BachChorales

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Keeps the tests' corpus cache out of the user's cache directory.

    Subprocesses inherit it, so the corpus is parsed once per test session.
    """
    path = tmp_path_factory.mktemp("polyframe_cache")
    previous = os.environ.get("POLYFRAME_CACHE_DIR")
    os.environ["POLYFRAME_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("POLYFRAME_CACHE_DIR", None)
    else:
        os.environ["POLYFRAME_CACHE_DIR"] = previous


@dataclasses.dataclass
class LoadedBach:
    """The parsed corpus and where its cache lives."""

    source: BachChorales
    corpus: Corpus

    @property
    def pieces(self) -> List[music_pb2.NoteSequence]:
        """Every kept piece, all splits."""
        return self.corpus.train + self.corpus.valid + self.corpus.test

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.source.cache_path, "manifest.json")



@pytest.fixture(scope="session")
def bach(private_cache_dir) -> LoadedBach:
    """The Bach chorales, parsed once per session into the private cache
    (so command-line tests reuse it)."""
    source = BachChorales(cache_dir=str(private_cache_dir))
    return LoadedBach(source=source, corpus=source.load())


GIN = REPO / "gin_configs"


def _train_in_process(model_dir, *gin_args) -> None:
    from helpers import run_in_process
    code = run_in_process([*gin_args, f"--gin_file={GIN / 'smoke.gin'}",
                           f"--model_dir={model_dir}", "--mode=train"])
    assert code == 0, f"training {gin_args} failed with exit code {code}"


@pytest.fixture(scope="session")
def rnn_run(tmp_path_factory, bach):
    """A tiny trained duration-RNN directory, shared by the tests."""
    model_dir = tmp_path_factory.mktemp("runs") / "rnn"
    _train_in_process(model_dir, f"--gin_file={GIN / 'duration_rnn.gin'}")
    return model_dir


@pytest.fixture(scope="session")
def transformer_run(tmp_path_factory, bach):
    """A tiny trained event-Transformer directory."""
    model_dir = tmp_path_factory.mktemp("runs") / "transformer"
    _train_in_process(model_dir,
                      f"--gin_file={GIN / 'event_transformer.gin'}")
    return model_dir


@pytest.fixture(scope="session")
def ensemble_run(tmp_path_factory, bach):
    """A tiny trained directory of the default model as a two-member
    ensemble."""
    model_dir = tmp_path_factory.mktemp("runs") / "ensemble"
    _train_in_process(model_dir, f"--gin_file={GIN / 'duration_rnn.gin'}",
                      "--gin_param=Experiment.model = @models.ensemble",
                      "--gin_param=models.ensemble.member = @models.event_rnn",
                      "--gin_param=models.ensemble.size = 2")
    return model_dir


@pytest.fixture(scope="session")
def harmonizer_run(tmp_path_factory, bach):
    """A tiny trained melody-conditioned directory."""
    model_dir = tmp_path_factory.mktemp("runs") / "harmonizer"
    _train_in_process(model_dir, f"--gin_file={GIN / 'harmonizer.gin'}")
    return model_dir


@pytest.fixture(scope="session")
def grid_run(tmp_path_factory, bach):
    """A tiny trained grid-encoder directory on the chorales (the JSB
    benchmark's encoder, at 16th notes)."""
    model_dir = tmp_path_factory.mktemp("runs") / "grid"
    _train_in_process(
        model_dir, f"--gin_file={GIN / 'duration_rnn.gin'}",
        "--gin_param=Experiment.encoder = @encoders.grid()",
        "--gin_param=models.event_rnn.embedding_sizes = {'pitch': 4}",
        # A grid has no duration field for the default's field temperature.
        "--gin_param=SampleConfig.constraints = "
        "[@constraints.no_parallels, @constraints.max_run]")
    return model_dir
