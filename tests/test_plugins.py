"""Plugins from outside polyframe: a real package with a `polyframe.plugins`
entry point, built and installed by pip, and a module imported by a gin file.
Neither touches `polyframe/`."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO
from helpers import (DURATION_RNN, SMOKE, error_line, one_error_line,
                     run_in_process, run_main)
from polyframe import registries
from polyframe.data.corpus import SPLITS

CELL_MODULE = '''
"""An Elman RNN cell, shipped by a third-party package."""

import tensorflow as tf

from polyframe.cell import RecurrentCell
from polyframe.registries import CELLS


@CELLS.register("elman")
class ElmanCell(RecurrentCell):
    """h_t = tanh(x_t W + h_{t-1} U + b)."""

    def __init__(self, input_size, num_units=16, name=None):
        super().__init__(input_size, num_units, name=name)
        self.kernel = tf.Variable(
            tf.random.normal([input_size, num_units], stddev=0.1))
        self.recurrent_kernel = tf.Variable(
            tf.random.normal([num_units, num_units], stddev=0.1))
        self.bias = tf.Variable(tf.zeros([num_units]))

    @property
    def state_sizes(self):
        return (self.num_units,)

    def project_inputs(self, inputs):
        return tf.tensordot(inputs, self.kernel, axes=1) + self.bias

    def step(self, projected_input, state):
        h = tf.tanh(projected_input + tf.matmul(state[0],
                                                self.recurrent_kernel))
        return h, (h,)
'''


BLOCKED = ("plugin 'fancy' (polyframe_elman.broken) from package "
           "'polyframe-elman' failed to import (ImportError: needs the 'fancy' "
           "library) and is blocked; reinstall or uninstall 'polyframe-elman'")


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """Builds and installs a plugin package into its own site directory."""
    root = tmp_path_factory.mktemp("plugin")
    package = root / "src" / "polyframe_elman"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cell.py").write_text(CELL_MODULE)
    # A second plugin of the package is broken; it must not break the first.
    (package / "broken.py").write_text(
        "raise ImportError(\"needs the 'fancy' library\")\n")
    (root / "src" / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        """))
    (root / "src" / "setup.cfg").write_text(textwrap.dedent("""\
        [metadata]
        name = polyframe-elman
        version = 0.1

        [options]
        packages = polyframe_elman

        [options.entry_points]
        polyframe.plugins =
            elman = polyframe_elman.cell
            fancy = polyframe_elman.broken
        """))
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(site), str(root / "src")],
        check=True, capture_output=True, text=True)
    return {"PYTHONPATH": str(site)}


def test_installed_plugin_is_listed(installed_plugin):
    process = run_main(["--list_plugins"], env=installed_plugin)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "@cells.elman" in process.stdout
    assert "polyframe_elman.cell.ElmanCell" in process.stdout
    assert "polyframe-elman: elman = polyframe_elman.cell" in process.stdout
    assert BLOCKED in process.stdout.split("blocked (failed to import):")[1]
    for registry in ("sources", "encoders", "models", "cells", "heads",
                     "constraints", "samplers", "writers"):
        assert f"\n{registry}: " in "\n" + process.stdout
    for component in ("@models.event_rnn", "@models.event_transformer",
                      "@models.melody_conditioned_rnn",
                      "@constraints.voice_range", "@writers.musicxml"):
        assert component in process.stdout


def test_plugin_cell_trains_when_selected_from_gin(installed_plugin,
                                                   tmp_path):
    experiment = tmp_path / "elman.gin"
    experiment.write_text(textwrap.dedent(f"""\
        include '{DURATION_RNN}'
        include '{SMOKE}'
        models.event_rnn.cell = @cells.elman
        cells.elman.num_units = 12
        """))
    model_dir = tmp_path / "run"
    process = run_main([f"--gin_file={experiment}", "--mode=train",
                        f"--model_dir={model_dir}"], env=installed_plugin)
    assert process.returncode == 0, process.stderr[-3000:]
    assert list((model_dir / "best").glob("*.index"))
    assert "elman.num_units = 12" in (
        model_dir / "operative_config.gin").read_text()


def test_a_component_of_a_blocked_plugin_is_explained(installed_plugin,
                                                      tmp_path):
    process = run_main([f"--gin_file={DURATION_RNN}",
                        "--gin_param=models.event_rnn.cell = @cells.fancy",
                        f"--model_dir={tmp_path / 'run'}"],
                       env=installed_plugin)
    assert process.returncode == 2
    line = error_line(process)
    assert "unknown cells component 'fancy'" in line
    assert f"Blocked: {BLOCKED}" in line


def test_without_the_package_the_name_is_unknown(tmp_path, capsys):
    code = run_in_process([f"--gin_file={DURATION_RNN}",
                           "--gin_param=models.event_rnn.cell = @cells.elman",
                           f"--model_dir={tmp_path / 'run'}"])
    assert code == 2
    assert "unknown cells component 'elman'" in one_error_line(
        capsys.readouterr().err)


def test_gin_file_can_import_a_plugin_module(tmp_path, monkeypatch):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "my_cells.py").write_text(CELL_MODULE.replace(
        '"elman"', '"my_elman"'))
    experiment = tmp_path / "imported.gin"
    experiment.write_text(textwrap.dedent(f"""\
        import my_cells
        include '{DURATION_RNN}'
        include '{SMOKE}'
        models.event_rnn.cell = @cells.my_elman
        """))
    monkeypatch.syspath_prepend(str(modules))
    model_dir = tmp_path / "run"
    assert run_in_process([f"--gin_file={experiment}", "--mode=train",
                           f"--model_dir={model_dir}"]) == 0
    assert list((model_dir / "best").glob("*.index"))


def test_the_readme_model_plugin_trains_samples_and_harmonises(
        tmp_path, monkeypatch, bach):
    """The model family in the README, copied out of it, runs every job."""
    readme = (REPO / "README.md").read_text()
    code = readme.split('@MODELS.register("markov")')[0].rsplit(
        "```python\n", 1)[1] + '@MODELS.register("markov")' + readme.split(
            '@MODELS.register("markov")')[1].split("```")[0]
    (tmp_path / "readme_markov.py").write_text(code)
    config = tmp_path / "markov.gin"
    config.write_text(
        "import readme_markov\n"
        f"include '{REPO / 'gin_configs' / 'duration_rnn.gin'}'\n"
        "Experiment.model = @models.markov\n"
        "models.markov.head = @heads.autoregressive\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "run"
    assert run_in_process([f"--gin_file={config}",
                           f"--gin_file={REPO / 'gin_configs' / 'smoke.gin'}",
                           f"--model_dir={run}"]) == 0
    assert len(list((run / "samples").glob("sample_*.mid"))) == 2
    assert run_in_process(["--mode=harmonize", f"--model_dir={run}",
                           "--melody=G4:1 A4:1 B4:2", "--num_samples=1"]) == 0
    assert (run / "harmonized" / "harmonization_000.musicxml").exists()


def test_the_readme_source_plugin_loads_and_trains(tmp_path, monkeypatch):
    """The source in the README, copied out of it, feeds a training run."""
    readme = (REPO / "README.md").read_text()
    marker = '@SOURCES.register("quarter_text")'
    code = (readme.split(marker)[0].rsplit("```python\n", 1)[1] + marker +
            readme.split(marker)[1].split("```")[0])
    (tmp_path / "readme_source.py").write_text(code)
    pieces = tmp_path / "pieces"
    pieces.mkdir()
    chords = ["72 67 64 48", "74 67 62 55", "76 67 60 48", "74 65 59 55"]
    for index in range(40):
        lines = [chords[(index + step) % 4] for step in range(12 + index % 5)]
        (pieces / f"{index:02d}.txt").write_text("\n".join(lines) + "\n")
    (pieces / "broken.txt").write_text("72 67 64\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import readme_source
    corpus = registries.SOURCES.get("quarter_text")(str(pieces)).load()
    assert corpus.skipped == [("broken.txt", "every line needs 4 MIDI pitches")]
    assert sum(len(corpus.split(name)) for name in SPLITS) == 40
    first = readme_source.QuarterText(str(pieces)).load().train[0]
    assert {note.instrument for note in first.notes} == {0, 1, 2, 3}

    config = tmp_path / "mine.gin"
    config.write_text(
        "import readme_source\n"
        f"include '{REPO / 'gin_configs' / 'duration_rnn.gin'}'\n"
        "Experiment.source = @sources.quarter_text()\n"
        f"sources.quarter_text.path = '{pieces}'\n")
    run = tmp_path / "run"
    assert run_in_process([f"--gin_file={config}",
                           f"--gin_file={REPO / 'gin_configs' / 'smoke.gin'}",
                           "--mode=train", f"--model_dir={run}"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["provenance"]["pieces"] == {
        name: len(corpus.split(name)) for name in SPLITS}
