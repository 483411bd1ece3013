"""`--mode=harmonize`: the given voice comes back note for note, in every
melody form and with both encoders that have voices; the rest is generated,
ranked, and ends with the melody. Bad input is one line, exit 2, nothing
written."""

import fractions
import json

import music21
import pretty_midi
import pytest

from helpers import one_error_line, run_in_process

Fraction = fractions.Fraction
QPM = 100.0  # SampleConfig.qpm's default: the tempo the pieces are written at
INLINE = "3/4 | G4:2 A4:1 | B4:2 R:1 | C5:1 B4:1/2 A4:1/2 G4:1 | G4:3"
# (MIDI pitch, onset, end) in quarters, rests left out.
INLINE_NOTES = [(67, 0, 2), (69, 2, 3), (71, 3, 5), (72, 6, 7),
                (71, 7, Fraction(15, 2)), (69, Fraction(15, 2), 8),
                (67, 8, 9), (67, 9, 12)]


def notes_of(midi_path, track):
    """`(pitch, onset, end)` in quarters of one named track (none if the
    voice is silent, which writes no track)."""
    midi = pretty_midi.PrettyMIDI(str(midi_path))
    instrument = next((i for i in midi.instruments if i.name == track), None)
    if instrument is None:
        return []
    per_quarter = QPM / 60.0
    return [(n.pitch, Fraction(n.start * per_quarter).limit_denominator(96),
             Fraction(n.end * per_quarter).limit_denominator(96))
            for n in sorted(instrument.notes, key=lambda n: n.start)]


def assert_every_format(folder, prefix, count):
    """Each piece in every format, the manifest and the gallery page."""
    for index in range(count):
        for extension in (".mid", ".wav", ".musicxml", ".svg", ".png"):
            path = folder / f"{prefix}_{index:03d}{extension}"
            assert path.stat().st_size > 0, path
    assert (folder / "samples.json").exists()
    page = (folder / "index.html").read_text()
    assert f"{prefix}_{count - 1:03d}.svg" in page


def harmonize(run, melody, out, *extra):
    return run_in_process(["--mode=harmonize", f"--model_dir={run}",
                           f"--melody={melody}", f"--output_dir={out}",
                           "--num_samples=2", *extra])


def melody_midi(path, notes, qpm=120.0):
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    line = pretty_midi.Instrument(0, name="Melody")
    for pitch, start, end in notes:
        line.notes.append(pretty_midi.Note(
            90, pitch, float(start) * 60 / qpm, float(end) * 60 / qpm))
    midi.instruments.append(line)
    midi.write(str(path))
    return path


def melody_musicxml(path, notes, total):
    part = music21.stream.Part()
    part.insert(0, music21.meter.TimeSignature("3/4"))
    for pitch, start, end in notes:
        note = music21.note.Note(pitch)
        note.quarterLength = float(end - start)
        part.insert(float(start), note)
    if total > notes[-1][2]:
        final = music21.note.Rest(quarterLength=float(total - notes[-1][2]))
        part.insert(float(notes[-1][2]), final)
    score = music21.stream.Score([part])
    score.write("musicxml", fp=str(path))
    return path


@pytest.fixture(params=["inline", "midi", "musicxml"])
def melody_source(request, tmp_path):
    if request.param == "inline":
        return INLINE
    if request.param == "midi":
        return str(melody_midi(tmp_path / "melody.mid", INLINE_NOTES))
    return str(melody_musicxml(tmp_path / "melody.musicxml", INLINE_NOTES,
                               12))


@pytest.mark.parametrize("run_name", ["rnn_run", "grid_run"])
def test_the_given_soprano_is_the_melody_note_for_note(
        request, run_name, melody_source, tmp_path):
    run = request.getfixturevalue(run_name)
    out = tmp_path / "out"
    assert harmonize(run, melody_source, out) == 0
    manifest = json.loads((out / "samples.json").read_text())["pieces"]
    assert len(manifest) == 2
    assert_every_format(out, "harmonization", 2)
    for index, entry in enumerate(manifest):
        midi = out / f"harmonization_{index:03d}.mid"
        assert notes_of(midi, "Soprano") == INLINE_NOTES
        # The piece lasts as long as the melody, its final rest included.
        assert entry["ended_by"] == "END"
        assert entry["length_seconds"] == pytest.approx(12 * 60 / QPM)
        for voice in ("Alto", "Tenor", "Bass"):
            assert all(end <= 12 for _, _, end in notes_of(midi, voice))
    # Best first, by the model's NLL of the generated voices.
    scores = [entry["nll_generated_voices"] for entry in manifest]
    assert scores == sorted(scores)
    # The score shows the same soprano.
    score = music21.converter.parse(
        str(out / "harmonization_000.musicxml")).stripTies()
    soprano = [(n.pitch.midi, Fraction(n.offset).limit_denominator(96))
               for n in score.parts[0].flatten().notes]
    assert soprano == [(p, s) for p, s, _ in INLINE_NOTES]


def test_repeated_notes_stay_apart_on_a_grid_without_articulation(
        grid_run, tmp_path):
    out = tmp_path / "out"
    assert harmonize(grid_run, "G4:1 G4:1 A4:2", out) == 0
    assert notes_of(out / "harmonization_000.mid", "Soprano") == [
        (67, 0, 1), (67, 1, 2), (69, 2, 4)]


def test_any_voice_can_be_the_given_one(rnn_run, tmp_path):
    out = tmp_path / "out"
    line = "C3:1 D3:1 E3:2 G2:2 C3:2"
    assert harmonize(rnn_run, line, out, "--melody_voice=bass") == 0
    assert notes_of(out / "harmonization_000.mid", "Bass") == [
        (48, 0, 1), (50, 1, 2), (52, 2, 4), (43, 4, 6), (48, 6, 8)]


def test_a_causal_model_says_how_to_harmonise_better(rnn_run, tmp_path,
                                                     caplog):
    assert harmonize(rnn_run, "G4:1 A4:1", tmp_path / "out") == 0
    assert "gin_configs/harmonizer.gin" in caplog.text


@pytest.mark.parametrize("melody, expected", [
    ("C9:1", "outside the model's pitch range"),
    ("G4:1 A4:1/7", "cannot hold exactly"),
    ("R:2", "has no notes"),
    ("G4:1 A4", "expected NOTE:QUARTERS"),
    ("/no/such/melody.mid", "file not found"),
])
def test_bad_melodies_are_one_line_and_write_nothing(
        rnn_run, tmp_path, capsys, melody, expected):
    out = tmp_path / "out"
    assert harmonize(rnn_run, melody, out) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_rhythm_off_the_grid_is_refused_not_quantised(grid_run, tmp_path,
                                                         capsys):
    out = tmp_path / "out"
    assert harmonize(grid_run, "G4:1 A4:1/3 B4:2/3 C5:1", out) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "melody note 2" in line and "A4 at quarter 1" in line
    assert not out.exists()


def test_a_chord_in_a_melody_file_is_refused(rnn_run, tmp_path, capsys):
    path = melody_midi(tmp_path / "chords.mid",
                       [(67, 0, 1), (71, 0, 1), (72, 1, 2)])
    out = tmp_path / "out"
    assert harmonize(rnn_run, str(path), out) == 2
    assert "at once" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_harmonize_needs_a_melody(rnn_run, capsys):
    assert run_in_process(["--mode=harmonize",
                           f"--model_dir={rnn_run}"]) == 2
    assert "needs --melody" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("run_name", ["transformer_run", "harmonizer_run"])
def test_other_model_families_sample_and_harmonise_through_the_same_paths(
        request, run_name, tmp_path):
    run = request.getfixturevalue(run_name)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["valid_nll_per_note"] > 0
    assert metrics["valid_nll_atb_per_note"] > 0
    assert metrics["valid_nll_end"] > 0
    samples = tmp_path / "samples"
    assert run_in_process(["--mode=sample", f"--model_dir={run}",
                           f"--output_dir={samples}", "--num_samples=2"]) == 0
    assert len(list(samples.glob("sample_*.musicxml"))) == 2
    out = tmp_path / "out"
    assert harmonize(run, INLINE, out) == 0
    assert notes_of(out / "harmonization_000.mid", "Soprano") == INLINE_NOTES
    score = music21.converter.parse(str(out / "harmonization_000.musicxml"))
    meter = score.recurse().getElementsByClass("TimeSignature")[0]
    assert meter.ratioString == "3/4"  # The melody's metre reaches the score.


def test_a_melody_model_harmonises_saved_melodies_when_sampling(
        harmonizer_run, tmp_path):
    samples = tmp_path / "samples"
    assert run_in_process(["--mode=sample", f"--model_dir={harmonizer_run}",
                           f"--output_dir={samples}", "--num_samples=2"]) == 0
    entries = json.loads((samples / "samples.json").read_text())["pieces"]
    assert all(e["primer"].startswith("melody: melody of ") for e in entries)
    assert all(e["ended_by"] == "END" for e in entries)


def test_a_model_without_voices_cannot_harmonise(tmp_path, capsys, bach):
    from conftest import GIN, _train_in_process
    run = tmp_path / "stream"
    _train_in_process(run, f"--gin_file={GIN / 'event_stream_rnn.gin'}",
                      "--gin_param=models.event_rnn.embedding_sizes = "
                      "{'event': 4}")
    out = tmp_path / "out"
    assert harmonize(run, "G4:1 A4:1", out) == 2
    assert "no voices" in one_error_line(capsys.readouterr().err)
    assert not out.exists()
