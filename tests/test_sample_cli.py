"""`--mode=sample`: primers from the user's files, pieces that end at END,
seeds that make sample i the same whatever the number of samples, and model
directories saved before the model registry existed."""

import json
import shutil

import pretty_midi
import pytest

from polyframe import musical_statistics as ms

from helpers import one_error_line, run_in_process
from test_harmonize import assert_every_format, notes_of



def sample(run, out, *extra):
    return run_in_process(["--mode=sample", f"--model_dir={run}",
                           f"--output_dir={out}", *extra])


def two_part_primer(path):
    """Soprano and bass, named, over two bars of 4/4."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for name, notes in (("Soprano", [(72, 0, 2), (71, 2, 4), (72, 4, 8)]),
                        ("Bass", [(48, 0, 4), (43, 4, 6), (48, 6, 8)])):
        track = pretty_midi.Instrument(0, name=name)
        for pitch, start, end in notes:
            track.notes.append(pretty_midi.Note(80, pitch, start / 2, end / 2))
        midi.instruments.append(track)
    midi.write(str(path))
    return path


def test_every_sample_continues_the_whole_primer(rnn_run, tmp_path):
    out = tmp_path / "out"
    primer = two_part_primer(tmp_path / "primer.mid")
    assert sample(rnn_run, out, f"--primer={primer}", "--num_samples=2") == 0
    assert_every_format(out, "sample", 2)
    for index in range(2):
        midi = out / f"sample_{index:03d}.mid"
        soprano = notes_of(midi, "Soprano")
        bass = notes_of(midi, "Bass")
        assert soprano[:3] == [(72, 0, 2), (71, 2, 4), (72, 4, 8)]
        assert bass[:3] == [(48, 0, 4), (43, 4, 6), (48, 6, 8)]
        # Alto and tenor were generated over the primer's span.
        assert any(start < 8 for _, start, _ in notes_of(midi, "Alto"))
        assert any(start < 8 for _, start, _ in notes_of(midi, "Tenor"))
    entries = json.loads((out / "samples.json").read_text())["pieces"]
    assert all(e["primer"].startswith("primer: primer.mid") for e in entries)


def test_an_inline_primer_is_a_soprano_to_continue(rnn_run, tmp_path):
    out = tmp_path / "out"
    assert sample(rnn_run, out, "--primer=E5:1 D5:1 C5:2",
                  "--num_samples=1") == 0
    assert notes_of(out / "sample_000.mid", "Soprano")[:3] == [
        (76, 0, 1), (74, 1, 2), (72, 2, 4)]


def test_a_bad_primer_is_one_line_and_writes_nothing(rnn_run, tmp_path,
                                                     capsys):
    out = tmp_path / "out"
    assert sample(rnn_run, out, "--primer=E5:1 X5:1") == 2
    assert "unknown note name" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_sample_i_depends_on_the_seed_and_i_only(rnn_run, tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    assert sample(rnn_run, small, "--seed=7", "--num_samples=1",
                  "--temperature=1.0") == 0
    assert sample(rnn_run, large, "--seed=7", "--num_samples=3",
                  "--temperature=1.0") == 0
    first = [notes_of(small / "sample_000.mid", v)
             for v in ("Soprano", "Alto", "Tenor", "Bass")]
    again = [notes_of(large / "sample_000.mid", v)
             for v in ("Soprano", "Alto", "Tenor", "Bass")]
    other = [notes_of(large / "sample_001.mid", v)
             for v in ("Soprano", "Alto", "Tenor", "Bass")]
    assert first == again
    assert first != other


def test_samples_json_says_how_each_piece_ended(rnn_run, tmp_path):
    out = tmp_path / "out"
    assert sample(rnn_run, out, "--num_samples=2",
                  "--gin_param=SampleConfig.max_events = 5") == 0
    entries = json.loads((out / "samples.json").read_text())["pieces"]
    for entry in entries:
        # Four primer events (smoke.gin) and at most five generated ones.
        assert entry["num_events"] <= 4 + 5
        assert (entry["ended_by"] == "max_events") == (
            entry["num_events"] == 9)


def test_a_directory_from_before_the_models_registry_still_samples(
        rnn_run, tmp_path, caplog):
    old = tmp_path / "old_run"
    shutil.copytree(rnn_run, old)
    config = old / "config.gin"
    text = config.read_text().replace("@models.event_rnn", "@EventRNN")
    text = text.replace("models.event_rnn.", "EventRNN.")
    config.write_text(text + "\nSampleConfig.num_events = 6\n")
    out = tmp_path / "out"
    assert sample(old, out, "--num_samples=1") == 0
    assert (out / "sample_000.mid").exists()
    assert "migrated" in caplog.text
    assert (old / "config.gin.orig").read_text().count("@EventRNN") == 1
    migrated = config.read_text()
    assert "@models.event_rnn" in migrated and "EventRNN." not in migrated
    assert "SampleConfig.max_events = 6" in migrated


def test_constraints_from_gin_reach_the_loop(rnn_run, tmp_path):
    out = tmp_path / "out"
    ranges = "{0: (60, 64), 1: (55, 59), 2: (50, 54), 3: (40, 44)}"
    assert sample(rnn_run, out, "--num_samples=2", "--temperature=1.0",
                  "--gin_param=SampleConfig.primer_events = 0",
                  "--gin_param=SampleConfig.constraints = "
                  "[@constraints.voice_range]",
                  f"--gin_param=constraints.voice_range.ranges = {ranges}"
                  ) == 0
    bounds = {"Soprano": (60, 64), "Alto": (55, 59), "Tenor": (50, 54),
              "Bass": (40, 44)}
    checked = 0
    for index in range(2):
        for voice, (low, high) in bounds.items():
            notes = notes_of(out / f"sample_{index:03d}.mid", voice)
            assert all(low <= pitch <= high for pitch, _, _ in notes)
            checked += len(notes)
    assert checked >= 8


def test_pieces_end_at_a_low_temperature_unless_asked_not_to(rnn_run,
                                                             tmp_path):
    def lengths(out, *extra):
        assert sample(rnn_run, out, "--num_samples=4", "--temperature=0.05",
                      "--gin_param=SampleConfig.max_events = 300",
                      "--gin_param=SampleConfig.end_odds = 1",
                      "--gin_param=SampleConfig.min_quarters = 0",
                      "--gin_param=SampleConfig.writers = []", *extra) == 0
        entries = json.loads((out / "samples.json").read_text())["pieces"]
        return [e["num_events"] for e in entries]

    at_rate = lengths(tmp_path / "rate")
    cold = lengths(tmp_path / "cold", "--gin_param="
                   "SampleConfig.end_at_model_rate = False")
    # Cold sampling sharpens END away wherever it is not the likeliest
    # token, so the same samples run longer without the rule.
    assert sum(at_rate) < sum(cold)


def test_end_odds_and_min_quarters_shape_where_pieces_end(rnn_run, tmp_path):
    out = tmp_path / "out"
    # Odds so high that END comes at the first event the minimum allows.
    # Without max_run: a near-argmax tiny model that keeps its pitch would
    # fill the run's remaining room with ever shorter notes, and 12 events
    # would not reach the minimum.
    assert sample(rnn_run, out, "--num_samples=2", "--temperature=0.05",
                  "--gin_param=SampleConfig.primer_events = 0",
                  "--gin_param=SampleConfig.constraints = "
                  "[@constraints.no_parallels]",
                  "--gin_param=SampleConfig.end_odds = 1e9",
                  "--gin_param=SampleConfig.min_quarters = 6",
                  "--gin_param=SampleConfig.writers = [@writers.midi()]") == 0
    entries = json.loads((out / "samples.json").read_text())["pieces"]
    assert [e["ended_by"] for e in entries] == ["END", "END"]
    for entry in entries:
        midi = out / f"sample_{entry['index']:03d}.mid"
        notes = [n for voice in ("Soprano", "Alto", "Tenor", "Bass")
                 for n in notes_of(midi, voice)]
        # notes_of gives quarters; the piece is its events before END.
        assert max(start for _, start, _ in notes) < 6
        assert max(end for _, _, end in notes) >= 6


def test_end_odds_need_end_at_the_models_rate(rnn_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert sample(rnn_run, out, "--gin_param=SampleConfig.end_odds = 2",
                  "--gin_param=SampleConfig.end_at_model_rate = False") == 2
    line = one_error_line(capsys.readouterr().err)
    assert "SampleConfig.end_at_model_rate = True" in line, line
    assert not out.exists()


def test_samples_carry_their_musical_statistics_beside_validation(
        rnn_run, tmp_path):
    out = tmp_path / "out"
    assert sample(rnn_run, out, "--num_samples=2") == 0
    manifest = json.loads((out / "samples.json").read_text())
    metrics = json.loads((rnn_run / "metrics.json").read_text())
    reference = metrics["valid_musical_statistics"]
    assert manifest["statistics"]["validation"] == reference
    # Every piece of the bundled chorales' split (314/40/51) is measured.
    assert reference["in_key_share"]["pieces"] == 40
    assert metrics["test_musical_statistics"]["in_key_share"]["pieces"] == 51
    rows = []
    for entry in manifest["pieces"]:
        midi = pretty_midi.PrettyMIDI(str(out / f"sample_{entry['index']:03d}.mid"))
        voices = ("Soprano", "Alto", "Tenor", "Bass")
        seconds_per_quarter = 60.0 / midi.get_tempo_changes()[1][0]
        notes = [ms.Note(voices.index(track.name), n.pitch,
                         n.start / seconds_per_quarter,
                         n.end / seconds_per_quarter)
                 for track in midi.instruments for n in track.notes]
        expected = ms.piece_statistics(notes, 4, voices)
        assert entry["statistics"] == pytest.approx(
            {k: round(v, 4) for k, v in expected.items()}, abs=2e-4)
        rows.append(expected)
    summary = manifest["statistics"]["pieces"]
    assert summary["longest_run_quarters"]["max"] == pytest.approx(
        max(r["longest_run_quarters"] for r in rows), abs=1e-4)
    page = (out / "index.html").read_text()
    assert "<caption>Musical statistics</caption>" in page


def test_a_model_directory_is_never_read_with_pickle(rnn_run, tmp_path,
                                                     monkeypatch):
    import pickle

    import numpy

    def refuse(*args, **kwargs):
        raise AssertionError("a model directory was read with pickle")

    for module, name in ((pickle, "load"), (pickle, "loads"),
                         (pickle, "Unpickler"), (numpy, "load")):
        monkeypatch.setattr(module, name, refuse)
    out = tmp_path / "out"
    assert sample(rnn_run, out, "--num_samples=1",
                  "--gin_param=SampleConfig.writers = [@writers.midi()]") == 0
    assert (out / "sample_000.mid").exists()
