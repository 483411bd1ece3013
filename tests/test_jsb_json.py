"""The JSB Chorales JSON source on small files written here: both layouts,
detection, voice assignment, the grid they make, and bad files."""

import json
import logging

import gin
import numpy as np
import pytest

from conftest import REPO
from helpers import DURATION_RNN
from polyframe import main
from polyframe.data.corpus import SPLITS
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES
from polyframe_plugins.encoders.grid import (FIRST_PITCH_ID, REST_ID,
                                             GridEncoder)
from polyframe_plugins.sources.jsb_json import (DROPPED_CROWDED,
                                                 JSBChoralesJSON)

SOURCE_GIN = str(REPO / "gin_configs" / "sources" / "jsb_json.gin")
SATB = [72, 67, 64, 48]


def write(tmp_path, data, name="jsb.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def notes_of(sequence):
    """`(voice, pitch, start step, end step)` at 16th notes and 120 qpm."""
    return sorted((n.instrument, n.pitch, round(n.start_time * 8),
                   round(n.end_time * 8)) for n in sequence.notes)


def separated_file(tmp_path, **pieces_per_split):
    """A separated file; each split's pieces are `[T, 4]` lists."""
    data = {split: pieces_per_split.get(split, [[SATB]]) for split in SPLITS}
    return write(tmp_path, data)


def random_separated_piece(rng, num_steps):
    """Runs of pitches and silences per voice, often repeating a pitch."""
    voices = []
    for _ in range(4):
        steps = []
        while len(steps) < num_steps:
            value = int(rng.choice([-1, rng.integers(21, 109)], p=[0.2, 0.8]))
            steps += [value] * int(rng.integers(1, 6))
        voices.append(steps[:num_steps])
    return np.array(voices).T


def test_registered():
    assert SOURCES.get("jsb_json") is JSBChoralesJSON


def test_separated_file_keeps_its_split_and_ids(tmp_path):
    path = separated_file(tmp_path, train=[[SATB]] * 3, valid=[[SATB]] * 2,
                          test=[[SATB]])
    corpus = JSBChoralesJSON(path).load()
    assert [p.id for p in corpus.train] == ["train/0000", "train/0001",
                                            "train/0002"]
    assert [p.id for p in corpus.valid] == ["valid/0000", "valid/0001"]
    assert [p.id for p in corpus.test] == ["test/0000"]
    piece = corpus.test[0]
    assert [t.qpm for t in piece.tempos] == [120.0]
    assert notes_of(piece) == [(0, 72, 0, 1), (1, 67, 0, 1), (2, 64, 0, 1),
                               (3, 48, 0, 1)]
    assert not corpus.skipped and not corpus.notes_dropped


def test_separated_voice_runs_become_notes_and_silence_is_kept(tmp_path):
    piece = [[-1, 67, 60, 48],
             [72, 67, 60, 48],
             [72, 65, -1, 48],
             [74, 65, 60, 48],
             [-1, -1, -1, -1],
             [-1, -1, -1, -1]]
    corpus = JSBChoralesJSON(separated_file(tmp_path, train=[piece])).load()
    sequence = corpus.train[0]
    assert notes_of(sequence) == [
        (0, 72, 1, 3), (0, 74, 3, 4),
        (1, 65, 2, 4), (1, 67, 0, 2),
        (2, 60, 0, 2), (2, 60, 3, 4),
        (3, 48, 0, 4)]
    assert sequence.total_time == pytest.approx(6 * 0.125)


def test_grid_encoder_reproduces_the_separated_token_grid(tmp_path):
    rng = np.random.default_rng(7)
    pieces = [random_separated_piece(rng, int(rng.integers(1, 80)))
              for _ in range(30)]
    # Leading and trailing silence, and a voice that never sings.
    pieces[0][:3] = -1
    pieces[0][-4:] = -1
    pieces[1][:, 2] = -1
    pieces[1][0, 0] = 60
    data = {"train": [p.tolist() for p in pieces[:20]],
            "valid": [p.tolist() for p in pieces[20:25]],
            "test": [p.tolist() for p in pieces[25:]]}
    corpus = JSBChoralesJSON(write(tmp_path, data)).load()
    encoder = GridEncoder()
    kept = {piece.id: piece for split in SPLITS
            for piece in corpus.split(split)}
    checked = 0
    for split in SPLITS:
        for index, piece in enumerate(data[split]):
            piece = np.array(piece)
            sequence = kept.get(f"{split}/{index:04d}")
            if sequence is None:
                assert (piece == -1).all()
                continue
            expected = np.where(piece == -1, REST_ID,
                                piece - 21 + FIRST_PITCH_ID)
            np.testing.assert_array_equal(encoder.encode(sequence)[..., 0],
                                          expected)
            checked += 1
    assert checked == 30
    assert not encoder.adjustments[
        "notes moved to the grid"] and not encoder.adjustments[
            "notes shorter than a step dropped"]


def test_piano_roll_voices_follow_pitch_order(tmp_path):
    piece = [[60, 72, 67, 64],   # four voices, listed in any order
             [60, 72, 67, 64],   # held: the same notes go on
             [62, 71],           # two pitches: tenor and bass are silent
             [],                 # nobody sings
             [48, 60, 64, 67, 72, 43]]  # six pitches: the lowest two drop
    data = {"train": [piece], "valid": [[[60]]], "test": [[[60, 64, 67]]]}
    corpus = JSBChoralesJSON(write(tmp_path, data), steps_per_quarter=2).load()
    eighth = 0.25  # seconds at 120 quarters per minute
    notes = sorted((n.instrument, n.pitch, n.start_time / eighth,
                    n.end_time / eighth) for n in corpus.train[0].notes)
    assert notes == [
        (0, 71, 2, 3), (0, 72, 0, 2), (0, 72, 4, 5),
        (1, 62, 2, 3), (1, 67, 0, 2), (1, 67, 4, 5),
        (2, 64, 0, 2), (2, 64, 4, 5),
        (3, 60, 0, 2), (3, 60, 4, 5)]
    assert corpus.train[0].total_time == pytest.approx(5 * eighth)
    assert corpus.notes_dropped == {DROPPED_CROWDED: 2}
    assert [(n.instrument, n.pitch) for n in corpus.test[0].notes] == [
        (0, 67), (1, 64), (2, 60)]


def test_a_crowded_step_fails_the_run_when_asked(tmp_path):
    piece = [[60, 64, 67], [43, 48, 60, 64, 67, 72]]
    data = {"train": [piece], "valid": [[[60]]], "test": [[[60]]]}
    path = write(tmp_path, data)
    with pytest.raises(UserFacingError) as raised:
        JSBChoralesJSON(path, format="piano_roll", steps_per_quarter=1,
                        too_many_pitches="fail").load()
    assert str(raised.value) == (
        f"JSB Chorales file {path}: piece train/0000, step 1 holds 6 pitches "
        "[72, 67, 64, 60, 48, 43], more than the 4 voices; raise num_voices "
        "(and the model's), or bind too_many_pitches = 'drop' to keep the "
        "highest.")
    kept = JSBChoralesJSON(path, format="piano_roll",
                           steps_per_quarter=1).load()
    assert kept.notes_dropped == {DROPPED_CROWDED: 2}


def test_auto_detection(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="absl")
    ragged = {"train": [[[72, 60], [72, 67, 64, 60]]], "valid": [[[60]]],
              "test": [[[60]]]}
    corpus = JSBChoralesJSON(write(tmp_path, ragged, "roll.json")).load()
    assert "piano_roll layout" in caplog.text
    assert notes_of(corpus.train[0])[0] == (0, 72, 0, 2)

    # Four numbers everywhere, listed bass first: read as voices as given,
    # with a warning, unless piano_roll is forced.
    upward = {split: [[[48, 64, 67, 72]] * 2] for split in SPLITS}
    path = write(tmp_path, upward, "upward.json")
    caplog.clear()
    detected = JSBChoralesJSON(path).load()
    assert "separated layout" in caplog.text
    assert "format='piano_roll'" in caplog.text
    assert notes_of(detected.train[0])[0] == (0, 48, 0, 2)
    forced = JSBChoralesJSON(path, format="piano_roll").load()
    assert notes_of(forced.train[0])[0] == (0, 72, 0, 2)

    # A -1 can only be a silent voice, so a file holding one is separated.
    silent = {split: [[SATB, [72, -1, 64, 48]]] for split in SPLITS}
    caplog.clear()
    corpus = JSBChoralesJSON(write(tmp_path, silent, "silent.json")).load()
    assert "separated layout" in caplog.text
    assert "format='piano_roll'" not in caplog.text
    assert [n.end_time for n in corpus.train[0].notes
            if n.instrument == 1] == [0.125]


def test_silent_and_empty_pieces_are_skipped_with_a_reason(tmp_path):
    data = {"train": [[SATB], [], [[-1] * 4] * 3], "valid": [[SATB]],
            "test": [[SATB]]}
    corpus = JSBChoralesJSON(write(tmp_path, data)).load()
    assert [p.id for p in corpus.train] == ["train/0000"]
    assert [piece_id for piece_id, _ in corpus.skipped] == [
        "train/0001", "train/0002"]
    assert all("no notes" in reason for _, reason in corpus.skipped)


@pytest.mark.parametrize("data, fmt, expected", [
    ("{not json", "auto", "is not JSON"),
    ([[SATB]], "auto", "expected an object"),
    ({"train": [[SATB]], "test": [[SATB]]}, "auto", "no 'valid' key"),
    ({"train": {"0": [SATB]}, "valid": [], "test": []}, "auto",
     "'train' holds a dict"),
    ({"train": [[SATB], [SATB, SATB, SATB, [72, -1, 64]]], "valid": [],
      "test": []}, "auto", "piece train/0001, step 3: 3 numbers"),
    ({"train": [[SATB]], "valid": [[SATB, [72, 67, 64, 120]]], "test": []},
     "auto", "piece valid/0000, step 1: pitch 120 is outside 21..108"),
    ({"train": [[SATB]], "valid": [], "test": [[SATB, [72, 67, 64, -2]]]},
     "auto", "piece test/0000, step 1: pitch -2"),
    ({"train": [[SATB, [72, -1, 64, 48]]], "valid": [], "test": []},
     "piano_roll", "-1 marks silence only in separated files"),
    ({"train": [[SATB, [72, "G4"]]], "valid": [], "test": []}, "auto",
     "piece train/0000, step 1: 'G4' is not a MIDI pitch"),
    ({"train": [[SATB, [72, 60.5]]], "valid": [], "test": []}, "auto",
     "60.5 is not a MIDI pitch"),
    ({"train": [[SATB, 72]], "valid": [], "test": []}, "auto",
     "step 1: 72 is not a list of pitches"),
    ({"train": ["piece"], "valid": [], "test": []}, "auto",
     "piece train/0000 is a str"),
], ids=["not-json", "not-an-object", "missing-split", "split-not-a-list",
        "ragged-separated-step", "pitch-too-high", "negative-pitch",
        "silence-in-piano-roll", "not-a-number", "fractional-pitch",
        "step-not-a-list", "piece-not-a-list"])
def test_bad_files_name_the_file_and_the_first_problem(tmp_path, data, fmt,
                                                       expected):
    path = write(tmp_path, data, "bad.json")
    with pytest.raises(UserFacingError) as error:
        JSBChoralesJSON(path, format=fmt).load()
    message = str(error.value)
    assert path in message and expected in message
    assert "\n" not in message


def test_missing_path_is_named(tmp_path):
    missing = str(tmp_path / "Jsb16thSeparated.json")
    with pytest.raises(UserFacingError, match="does not exist") as error:
        JSBChoralesJSON(missing).load()
    assert missing in str(error.value)
    with pytest.raises(UserFacingError, match="is a folder"):
        JSBChoralesJSON(str(tmp_path)).load()
    with pytest.raises(UserFacingError, match="DATA_PATH"):
        JSBChoralesJSON().load()


@pytest.mark.parametrize("kwargs", [{"format": "midi"},
                                    {"steps_per_quarter": 3},
                                    {"num_voices": 0}])
def test_bad_arguments_are_user_errors(kwargs):
    with pytest.raises(UserFacingError):
        JSBChoralesJSON("x.json", **kwargs)


def test_source_gin_puts_any_model_on_the_file(tmp_path):
    path = separated_file(tmp_path)
    gin.clear_config()
    try:
        experiment = main.configure([DURATION_RNN, SOURCE_GIN],
                                    [f"DATA_PATH = '{path}'"])()
    finally:
        gin.clear_config()
    assert isinstance(experiment.source, JSBChoralesJSON)
    assert experiment.source.path == path
    assert len(experiment.source.load().train) == 1
