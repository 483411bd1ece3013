"""The source gin files parse after an experiment, pick their source, and
take its path from DATA_PATH."""

import gin
import pytest

from polyframe import main
from polyframe.errors import UserFacingError
from polyframe_plugins.sources.midi_dir import MidiDirectory
from polyframe_plugins.sources.musicxml_dir import MusicXmlDirectory
from polyframe_plugins.sources.note_sequence_tfrecord import (
    NoteSequenceTFRecord)

from conftest import REPO

GIN_DIR = REPO / "gin_configs"
EXPERIMENT = str(GIN_DIR / "duration_rnn.gin")
SOURCES = {"midi_dir.gin": MidiDirectory,
           "musicxml_dir.gin": MusicXmlDirectory,
           "note_sequence_tfrecord.gin": NoteSequenceTFRecord}


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def build(name, params):
    return main.configure([EXPERIMENT, str(GIN_DIR / "sources" / name)],
                          params)()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_source_file_selects_its_source_with_the_data_path(name, tmp_path):
    experiment = build(name, [f"DATA_PATH = '{tmp_path}'"])
    experiment.check()
    assert type(experiment.source) is SOURCES[name]
    assert experiment.source.path == str(tmp_path)


@pytest.mark.parametrize("name", ["midi_dir.gin", "musicxml_dir.gin"])
def test_folder_sources_take_their_options_from_gin(name):
    module = name[:-len(".gin")]
    source = build(name, ["DATA_PATH = '/music'",
                          f"sources.{module}.voices = 'top_n'",
                          f"sources.{module}.num_voices = 3",
                          f"sources.{module}.num_workers = 2"]).source
    assert (source.root, source.rule.rule, source.rule.num_voices,
            source.num_workers) == ("/music", "top_n", 3, 2)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_without_data_path_loading_says_what_to_set(name):
    source = build(name, []).source
    with pytest.raises(UserFacingError, match="needs"):
        source.load()


def test_tfrecord_data_path_may_be_a_list():
    source = build("note_sequence_tfrecord.gin",
                   ["DATA_PATH = ['/a.tfrecord', '/b-*.tfrecord']"]).source
    assert list(source.path) == ["/a.tfrecord", "/b-*.tfrecord"]
