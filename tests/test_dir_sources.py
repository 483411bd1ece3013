"""The midi_dir and musicxml_dir sources on real files written by the tests:
voice rules, timing, every kind of bad file, splits and user errors."""

import json
import zipfile

import hypothesis
from hypothesis import strategies as st
import mido
from music21 import meter, note as m21_note, stream, tempo
from note_seq.protobuf import music_pb2
import pretty_midi
import pytest

from helpers import DURATION_RNN, one_error_line, run_in_process
from conftest import REPO
from polyframe.data import cache, lazy_pieces, skip_reasons
from polyframe.data.corpus import SPLITS, SplitFractions, split_of
from polyframe.data.timing import TempoMap
from polyframe.data.voice_rules import (DROPPED_CHORD, DROPPED_DRUM,
                                        DROPPED_OUT_OF_RANGE,
                                        DROPPED_TOO_MANY, SHORTENED_BY_NEXT,
                                        VoiceRule)
from polyframe.data.voices import (DROPPED_NOT_A_VOICE, DROPPED_ZERO_LENGTH,
                                   select_voices)
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES
from polyframe_plugins.sources.midi_dir import MidiDirectory
from polyframe_plugins.sources.musicxml_dir import MusicXmlDirectory
from polyframe_plugins.sources.note_sequence_tfrecord import (
    NoteSequenceTFRecord)

MIDI_GIN = str(REPO / "gin_configs" / "sources" / "midi_dir.gin")

# Four voices over four beats, every line a step apart from the next.
CHORALE = {"Soprano": [72, 74, 76, 77], "Alto": [67, 69, 67, 65],
           "Tenor": [64, 62, 60, 62], "Bass": [48, 50, 52, 53]}


def quarters(pitches, length=1.0):
    """`(pitch, start, end)` in quarters for a line of equal notes."""
    return [(p, i * length, (i + 1) * length) for i, p in enumerate(pitches)]


def write_midi(path, tracks, qpm=120.0):
    """Writes `tracks`: `(name, [(pitch, start, end) in quarters], is_drum)`
    or `(name, notes)`, one MIDI instrument (track) each."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    for track in tracks:
        name, notes = track[:2]
        instrument = pretty_midi.Instrument(
            program=0 if len(track) > 2 else 52, name=name,
            is_drum=len(track) > 2 and track[2])
        for pitch, start, end in notes:
            instrument.notes.append(pretty_midi.Note(
                velocity=80, pitch=pitch, start=start * 60 / qpm,
                end=end * 60 / qpm))
        midi.instruments.append(instrument)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))
    return path


def write_chorale(path, names=tuple(CHORALE)):
    return write_midi(path, [(name, quarters(line))
                             for name, line in zip(names, CHORALE.values())])


def load(source_class, folder, tmp_path, **kwargs):
    kwargs.setdefault("num_workers", 1)
    source = source_class(str(folder), cache_dir=str(tmp_path / "cache"),
                          **kwargs)
    return source, source.load()


def pieces(corpus):
    return {piece.id: piece for name in SPLITS for piece in corpus.split(name)}


def lines(piece):
    """Pitches of every voice in time order."""
    by_voice = {}
    for note in sorted(piece.notes, key=lambda n: n.start_time):
        by_voice.setdefault(note.instrument, []).append(note.pitch)
    return [by_voice.get(voice, []) for voice in range(max(by_voice) + 1)]


def report_of(source):
    with open(source.report_path, encoding="utf-8") as handle:
        return json.load(handle)


def skipped_reasons(source):
    return {item["path"]: item["reason"]
            for item in report_of(source)["skipped"]}


def test_sources_are_registered():
    assert SOURCES.get("midi_dir") is MidiDirectory
    assert SOURCES.get("musicxml_dir") is MusicXmlDirectory


# --- MIDI voice rules --------------------------------------------------------


def test_named_tracks_are_the_voices_whatever_their_pitch(tmp_path):
    folder = tmp_path / "midi"
    # The track named Alto has the highest line: names win over pitch.
    write_midi(folder / "named.mid", [
        ("Bass", quarters(CHORALE["Bass"])),
        ("Alto", quarters(CHORALE["Soprano"])),
        ("Piano accompaniment", quarters([84, 86, 88, 89])),
        ("soprano 1", quarters(CHORALE["Alto"])),
        ("Tenor\rViola", quarters(CHORALE["Tenor"]))])
    source, corpus = load(MidiDirectory, folder, tmp_path)
    piece = pieces(corpus)["named.mid"]
    assert lines(piece) == [CHORALE["Alto"], CHORALE["Soprano"],
                            CHORALE["Tenor"], CHORALE["Bass"]]
    assert [info.name for info in piece.instrument_infos] == [
        "soprano 1", "Alto", "Tenor\rViola", "Bass"]
    assert corpus.notes_dropped == {DROPPED_NOT_A_VOICE: 4}
    assert report_of(source)["notes_dropped_by_file"] == {
        "named.mid": {DROPPED_NOT_A_VOICE: 4}}


def test_strict_skips_a_voice_with_a_chord_that_auto_thins(tmp_path):
    folder = tmp_path / "midi"
    soprano = quarters(CHORALE["Soprano"]) + [(79, 0.0, 1.0)]
    write_midi(folder / "chord.mid", [("Soprano", soprano)] + [
        (name, quarters(line)) for name, line in CHORALE.items()
        if name != "Soprano"])
    write_chorale(folder / "good.mid")
    _, thinned = load(MidiDirectory, folder, tmp_path / "auto")
    assert lines(pieces(thinned)["chord.mid"])[0] == [79, 74, 76, 77]
    source, strict = load(MidiDirectory, folder, tmp_path / "strict",
                          voices="strict")
    assert list(pieces(strict)) == ["good.mid"]
    assert skipped_reasons(source) == {"chord.mid": "unusable voices"}


def test_unnamed_instruments_give_the_highest_by_mean_pitch(tmp_path):
    folder = tmp_path / "midi"
    write_midi(folder / "sextet.mid", [
        ("Cello", quarters(CHORALE["Bass"])),
        ("Piccolo", quarters([96, 98, 100, 101])),
        ("Contrabass", quarters([36, 38, 40, 41])),
        ("Viola", quarters(CHORALE["Tenor"])),
        ("Violin", quarters(CHORALE["Alto"])),
        ("Flute", quarters(CHORALE["Soprano"]))])
    for voices in ("auto", "top_n"):
        source, corpus = load(MidiDirectory, folder, tmp_path, voices=voices)
        assert lines(pieces(corpus)["sextet.mid"]) == [
            [96, 98, 100, 101], CHORALE["Soprano"], CHORALE["Alto"],
            CHORALE["Tenor"]]
        assert corpus.notes_dropped == {DROPPED_NOT_A_VOICE: 8}

    write_chorale(folder / "chorale.mid")
    source, corpus = load(MidiDirectory, folder, tmp_path, voices="satb")
    assert list(pieces(corpus)) == ["chorale.mid"]
    assert skipped_reasons(source) == {"sextet.mid": skip_reasons.NO_VOICES}
    assert "no instrument is named after a voice" in dict(
        corpus.skipped)["sextet.mid"]


def test_ambiguous_or_missing_names_fall_back_under_auto_only(tmp_path):
    folder = tmp_path / "midi"
    write_chorale(folder / "two_sopranos.mid",
                  names=("Soprano 1", "Soprano 2", "Tenor", "Bass"))
    source, corpus = load(MidiDirectory, folder, tmp_path)
    assert lines(pieces(corpus)["two_sopranos.mid"]) == list(CHORALE.values())
    with pytest.raises(UserFacingError, match="no usable music"):
        load(MidiDirectory, folder, tmp_path, voices="satb")


def test_one_track_per_voice_keeps_one_note_at_a_time(tmp_path):
    folder = tmp_path / "midi"
    write_midi(folder / "messy.mid", [
        # A chord in the soprano: the highest note stays.
        ("Soprano", [(72, 0, 1), (76, 0, 1), (74, 1, 2)]),
        # Legato: each note sounds into the next one and is cut there.
        ("Alto", [(67, 0, 1.25), (69, 1, 2)]),
        ("Tenor", quarters([60, 62])),
        # Octaves in the bass: the lowest note stays.
        ("Bass", [(60, 0, 2), (48, 0, 2)])])
    source, corpus = load(MidiDirectory, folder, tmp_path)
    piece = pieces(corpus)["messy.mid"]
    assert lines(piece) == [[76, 74], [67, 69], [60, 62], [48]]
    tempo_map = TempoMap(piece)
    alto = sorted((tempo_map.to_quarters(n.start_time),
                   tempo_map.to_quarters(n.end_time))
                  for n in piece.notes if n.instrument == 1)
    assert alto == [(0, 1), (1, 2)]
    assert corpus.notes_dropped == {DROPPED_CHORD: 2}
    assert report_of(source)["notes_shortened"] == {SHORTENED_BY_NEXT: 1}


def test_a_piano_is_split_by_pitch_order_at_each_onset(tmp_path):
    folder = tmp_path / "midi"
    chords = [(72, 67, 64, 48), (74, 69, 62, 50), (76, 67, 60, 52, 55)]
    notes = [(pitch, beat, beat + 1) for beat, chord in enumerate(chords)
             for pitch in chord]
    # The soprano holds over the next beat while the others move on.
    notes += [(77, 3, 5), (65, 3, 4), (62, 3, 4), (53, 3, 4),
              (64, 4, 5), (60, 4, 5), (48, 4, 5)]
    write_midi(folder / "piano.mid", [("Piano", notes)])
    for voices in ("auto", "split"):
        source, corpus = load(MidiDirectory, folder, tmp_path, voices=voices)
        # Five notes at beat 2: the outer four stay, the inner 60 is dropped.
        assert lines(pieces(corpus)["piano.mid"]) == [
            [72, 74, 76, 77], [67, 69, 67, 65, 64], [64, 62, 55, 62, 60],
            [48, 50, 52, 53, 48]]
        assert corpus.notes_dropped == {DROPPED_TOO_MANY: 1}
    with pytest.raises(UserFacingError, match="1 voices not found"):
        load(MidiDirectory, folder, tmp_path, voices="top_n")


def test_drum_and_out_of_range_notes_are_dropped(tmp_path):
    folder = tmp_path / "midi"
    tracks = [(name, quarters(line)) for name, line in CHORALE.items()]
    tracks[3][1].append((12, 4, 5))  # Below the piano's lowest key.
    tracks.append(("Drums", quarters([36, 38, 36, 38]), True))
    write_midi(folder / "band.mid", tracks)
    _, corpus = load(MidiDirectory, folder, tmp_path)
    assert lines(pieces(corpus)["band.mid"]) == list(CHORALE.values())
    assert corpus.notes_dropped == {DROPPED_DRUM: 4, DROPPED_OUT_OF_RANGE: 1}


def test_three_voices(tmp_path):
    folder = tmp_path / "midi"
    write_chorale(folder / "chorale.mid")
    _, corpus = load(MidiDirectory, folder, tmp_path, num_voices=3)
    assert lines(pieces(corpus)["chorale.mid"]) == list(CHORALE.values())[:3]
    with pytest.raises(UserFacingError, match="voice_names"):
        MidiDirectory(str(folder), voices="satb", num_voices=3)
    _, corpus = load(MidiDirectory, folder, tmp_path, voices="satb",
                     num_voices=2, voice_names=["Tenor", "Bass"])
    assert lines(pieces(corpus)["chorale.mid"]) == [CHORALE["Tenor"],
                                                    CHORALE["Bass"]]


# --- Timing ------------------------------------------------------------------


def write_timing_midi(path):
    """A pickup beat in 1/4, a 4/4 bar at 120 qpm, one at 60, then 3/4 bars
    at 90 qpm. That last tempo change sits in a voice's track, as in many
    files."""
    ticks = 480
    conductor = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
        mido.MetaMessage("time_signature", numerator=1, denominator=4,
                         time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4,
                         time=ticks),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60),
                         time=4 * ticks),
        mido.MetaMessage("time_signature", numerator=3, denominator=4,
                         time=4 * ticks),
    ])
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks)
    midi.tracks.append(conductor)
    for channel, (name, line) in enumerate(CHORALE.items()):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        beats = 12
        for beat in range(beats):
            if channel == 0 and beat == 9:
                track.append(mido.MetaMessage("set_tempo",
                                              tempo=mido.bpm2tempo(90)))
            pitch = line[beat % 4]
            track.append(mido.Message("note_on", channel=channel, note=pitch,
                                      velocity=80, time=0))
            track.append(mido.Message("note_off", channel=channel,
                                      note=pitch, velocity=0, time=ticks))
        midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))


def test_midi_tempo_and_time_signature_changes_and_pickup(tmp_path):
    folder = tmp_path / "midi"
    write_timing_midi(folder / "timing.mid")
    _, corpus = load(MidiDirectory, folder, tmp_path)
    piece = pieces(corpus)["timing.mid"]
    tempo_map = TempoMap(piece)
    for voice in range(4):
        starts = sorted(tempo_map.to_quarters(n.start_time)
                        for n in piece.notes if n.instrument == voice)
        assert starts == list(range(12))
    # Beats 0-4 at 120 qpm, 5-8 at 60, 9-11 at 90: the last change counts
    # although it is not in the first track.
    assert piece.total_time == pytest.approx(2.5 + 4 + 2)
    assert [t.time for t in piece.tempos] == pytest.approx([0, 2.5, 6.5])
    assert [t.qpm for t in piece.tempos] == pytest.approx([120, 60, 90])
    assert [(t.numerator, t.denominator) for t in piece.time_signatures] == [
        (1, 4), (4, 4), (3, 4)]


SCORE = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list>{part_list}</part-list>{parts}
</score-partwise>
"""


def musicxml(parts):
    """A score: `parts` maps names to [(measure attributes xml, notes)],
    notes `((step, octave) or None for a rest, divisions)`; 0 divisions is
    a grace note."""
    part_list, bodies = [], []
    for index, (name, measures) in enumerate(parts.items()):
        part_list.append(f'<score-part id="P{index}"><part-name>{name}'
                         '</part-name></score-part>')
        body = [f'<part id="P{index}">']
        for number, (extra, notes) in enumerate(measures):
            implicit = ' implicit="yes"' if number == 0 else ""
            body.append(f'<measure number="{number}"{implicit}>')
            body.append(extra)
            for pitch, duration in notes:
                if duration == 0:
                    body.append(
                        f"<note><grace/><pitch><step>{pitch[0]}</step>"
                        f"<octave>{pitch[1]}</octave></pitch><type>eighth"
                        "</type></note>")
                elif pitch is None:
                    body.append(f"<note><rest/><duration>{duration}"
                                "</duration></note>")
                else:
                    body.append(
                        f"<note><pitch><step>{pitch[0]}</step><octave>"
                        f"{pitch[1]}</octave></pitch><duration>{duration}"
                        "</duration></note>")
            body.append("</measure>")
        body.append("</part>")
        bodies.append("\n".join(body))
    return SCORE.format(part_list="".join(part_list), parts="\n".join(bodies))


def timing_score():
    """Pickup quarter, a 4/4 bar at 60 qpm, a 3/4 bar at 120 qpm: SATB. The
    soprano has a grace note before its second note."""
    first = ('<attributes><divisions>2</divisions><time><beats>4</beats>'
             '<beat-type>4</beat-type></time></attributes>'
             '<direction><sound tempo="60"/></direction>')
    change = ('<attributes><time><beats>3</beats><beat-type>4</beat-type>'
              '</time></attributes><direction><sound tempo="120"/>'
              '</direction>')
    octaves = {"Soprano": 5, "Alto": 4, "Tenor": 4, "Bass": 3}
    return musicxml({
        name: [(first, [(("G", octave), 2)]),
               ("", [(("B", octave - 1), 0)] * (name == "Soprano") +
                [(("C", octave), 8)]),
               (change, [(("D", octave), 6)]),
               ("", [(("E", octave), 2), (None, 4)])]
        for name, octave in octaves.items()})


def write_mxl(path, xml):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/container.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
            '<rootfile full-path="score.xml"/></rootfiles></container>'))
        archive.writestr("score.xml", xml)


def test_musicxml_tempo_and_time_signature_changes_and_pickup(tmp_path):
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "plain.xml").write_text(timing_score())
    write_mxl(folder / "packed.mxl", timing_score())
    _, corpus = load(MusicXmlDirectory, folder, tmp_path)
    by_id = pieces(corpus)
    assert sorted(by_id) == ["packed.mxl", "plain.xml"]
    assert corpus.notes_dropped == {DROPPED_ZERO_LENGTH: 2}
    for piece in by_id.values():
        tempo_map = TempoMap(piece)
        soprano = sorted((tempo_map.to_quarters(n.start_time),
                          tempo_map.to_quarters(n.end_time), n.pitch)
                         for n in piece.notes if n.instrument == 0)
        assert soprano == [(0, 1, 79), (1, 5, 72), (5, 8, 74), (8, 9, 76)]
        assert lines(piece)[3] == [55, 48, 50, 52]
        assert [(t.numerator, t.denominator) for t in piece.time_signatures
               ][-1] == (3, 4)
        assert [t.qpm for t in piece.tempos] == [60, 120]


def test_musicxml_written_by_music21_keeps_its_offsets(tmp_path):
    folder = tmp_path / "xml"
    folder.mkdir()
    score = stream.Score()
    for name, line in CHORALE.items():
        part = stream.Part()
        part.partName = name
        pickup = stream.Measure(number=0)
        pickup.timeSignature = meter.TimeSignature("4/4")
        pickup.paddingLeft = 3.0
        if name == "Soprano":
            pickup.insert(0, tempo.MetronomeMark(number=72))
        pickup.append(m21_note.Note(line[0], quarterLength=1))
        bar = stream.Measure(number=1)
        bar.timeSignature = meter.TimeSignature("3/4")
        bar.append(m21_note.Note(line[1], quarterLength=1.5))
        bar.append(m21_note.Note(line[2], quarterLength=0.5))
        bar.append(m21_note.Note(line[3], quarterLength=1))
        part.append([pickup, bar])
        score.insert(0, part)
    score.write("musicxml", fp=str(folder / "music21.musicxml"))
    _, corpus = load(MusicXmlDirectory, folder, tmp_path)
    piece = pieces(corpus)["music21.musicxml"]
    tempo_map = TempoMap(piece)
    for voice, part in enumerate(score.parts):
        expected = [(n.getOffsetInHierarchy(score), n.pitch.midi)
                    for n in part.recurse().notes]
        got = sorted((tempo_map.to_quarters(n.start_time), n.pitch)
                     for n in piece.notes if n.instrument == voice)
        assert got == expected


# --- Bad files ---------------------------------------------------------------


def test_every_bad_midi_file_is_skipped_and_named(tmp_path):
    folder = tmp_path / "midi"
    good = write_chorale(folder / "good.mid")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "text.mid").write_text("Not MIDI: a text file named .mid\n")
    data = good.read_bytes()
    (folder / "truncated.mid").write_bytes(data[:len(data) // 2])
    write_midi(folder / "drums.mid", [("Kit", quarters([36, 38]), True)])
    write_midi(folder / "silent.mid", [])
    write_midi(folder / "sub" / "too_low.MID",
               [(name, quarters([12, 14])) for name in CHORALE])
    write_midi(folder / "duet.midi", [("Flute", quarters([72, 74])),
                                      ("Cello", quarters([48, 50]))])
    (folder / "notes.txt").write_text("not music, not read")
    source, corpus = load(MidiDirectory, folder, tmp_path)
    assert list(pieces(corpus)) == ["good.mid"]
    expected = {
        "empty.mid": skip_reasons.EMPTY_FILE,
        "text.mid": skip_reasons.NOT_MIDI,
        "truncated.mid": skip_reasons.CORRUPT_MIDI,
        "drums.mid": skip_reasons.DRUMS_ONLY,
        "silent.mid": skip_reasons.NO_NOTES,
        "sub/too_low.MID": skip_reasons.NOTHING_LEFT,
        "duet.midi": skip_reasons.NOTHING_LEFT,
    }
    assert skipped_reasons(source) == expected
    report = report_of(source)
    assert report["num_files"] == 8 and report["num_kept"] == 1
    assert report["skipped_by_reason"] == {
        skip_reasons.EMPTY_FILE: 1, skip_reasons.NOT_MIDI: 1,
        skip_reasons.CORRUPT_MIDI: 1, skip_reasons.DRUMS_ONLY: 1,
        skip_reasons.NO_NOTES: 1, skip_reasons.NOTHING_LEFT: 2}
    details = {item["path"]: item["detail"] for item in report["skipped"]}
    assert "truncated" in details["truncated.mid"]
    assert "tenor and bass" in details["duet.midi"]
    assert {path for path, _ in corpus.skipped} == set(expected)


def test_every_bad_musicxml_file_is_skipped_and_named(tmp_path):
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "good.musicxml").write_text(timing_score())
    (folder / "broken.xml").write_text(timing_score()[:400])
    (folder / "empty.xml").write_text("")
    (folder / "rests.xml").write_text(musicxml(
        {"Soprano": [('<attributes><divisions>1</divisions></attributes>',
                      [(None, 4)])]}))
    (folder / "not_a_zip.mxl").write_bytes(b"PK\x03\x04 but no archive")
    (folder / "drum_part.xml").write_text(timing_score().replace(
        "<pitch><step>G</step><octave>5</octave></pitch>",
        "<unpitched><display-step>G</display-step>"
        "<display-octave>5</display-octave></unpitched>"))
    source, corpus = load(MusicXmlDirectory, folder, tmp_path)
    assert list(pieces(corpus)) == ["good.musicxml"]
    assert skipped_reasons(source) == {
        "broken.xml": skip_reasons.BROKEN_MUSICXML,
        "empty.xml": skip_reasons.EMPTY_FILE,
        "rests.xml": skip_reasons.NO_NOTES,
        "not_a_zip.mxl": skip_reasons.BROKEN_MUSICXML,
        "drum_part.xml": skip_reasons.UNSUPPORTED,
    }


def test_folder_without_usable_music_names_the_reasons(tmp_path):
    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / "a.mid").write_bytes(b"")
    (folder / "b.mid").write_bytes(b"junk")
    (folder / "c.mid").write_bytes(b"more junk")
    with pytest.raises(UserFacingError) as error:
        load(MidiDirectory, folder, tmp_path)
    message = str(error.value)
    assert "no usable music" in message and str(folder) in message
    assert "2 not a MIDI file, 1 empty file" in message
    assert "report.json" in message


def test_missing_or_empty_folder_is_a_user_facing_error(tmp_path):
    with pytest.raises(UserFacingError, match="no_such_folder"):
        load(MidiDirectory, tmp_path / "no_such_folder", tmp_path)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no music here")
    with pytest.raises(UserFacingError, match="no MusicXML files"):
        load(MusicXmlDirectory, empty, tmp_path)
    with pytest.raises(UserFacingError, match="DATA_PATH"):
        MidiDirectory(None).load()


def test_bad_options_are_user_facing_errors(tmp_path):
    with pytest.raises(UserFacingError, match="midi_dir.voices must be one of"):
        MidiDirectory(str(tmp_path), voices="sat")
    with pytest.raises(UserFacingError, match="num_workers"):
        MidiDirectory(str(tmp_path), num_workers=0)
    with pytest.raises(UserFacingError, match="musicxml_dir.max_pitch"):
        MusicXmlDirectory(str(tmp_path), min_pitch=60, max_pitch=40)


# --- Splits ------------------------------------------------------------------


def test_pieces_are_split_by_a_hash_of_their_path(tmp_path):
    folder = tmp_path / "midi"
    for index in range(30):
        write_chorale(folder / f"set{index % 3}" / f"piece{index}.mid")
    _, corpus = load(MidiDirectory, folder, tmp_path, valid_fraction=0.2,
                     test_fraction=0.2)
    fractions = SplitFractions(0.2, 0.2)
    for name in SPLITS:
        for piece in corpus.split(name):
            assert split_of(piece.id, fractions) == name
    assert sum(len(corpus.split(name)) for name in SPLITS) == 30
    assert all(corpus.split(name) for name in SPLITS)


def test_train_valid_test_folders_are_the_split(tmp_path):
    folder = tmp_path / "midi"
    for split, count in (("train", 4), ("validation", 2), ("test", 1)):
        for index in range(count):
            write_chorale(folder / split / f"{index}.mid")
    _, corpus = load(MidiDirectory, folder, tmp_path)
    assert sorted(p.id for p in corpus.train) == [f"train/{i}.mid"
                                                  for i in range(4)]
    assert sorted(p.id for p in corpus.valid) == ["validation/0.mid",
                                                  "validation/1.mid"]
    assert [p.id for p in corpus.test] == ["test/0.mid"]


# --- TFRecord source ---------------------------------------------------------


def test_tfrecord_source_reads_a_list_of_shards(tmp_path):
    folder = tmp_path / "midi"
    for index in range(5):
        write_chorale(folder / f"{index}.mid")
    source, corpus = load(MidiDirectory, folder, tmp_path, shard_size=2)
    shards = sorted(str(p) for p in
                    (tmp_path / "cache").rglob("shard-*.tfrecord"))
    assert len(shards) == 3
    from_list = pieces(NoteSequenceTFRecord([shards[0], shards[2]]).load())
    assert sorted(from_list) == ["0.mid", "1.mid", "4.mid"]
    from_glob = pieces(NoteSequenceTFRecord(
        shards[0].replace("00000-of", "*-of")).load())
    assert from_glob.keys() == pieces(corpus).keys()
    with pytest.raises(UserFacingError, match="nothing-here"):
        NoteSequenceTFRecord([shards[0],
                              str(tmp_path / "nothing-here")]).load()


def test_tfrecord_source_streams_its_pieces_from_a_cache(tmp_path,
                                                         monkeypatch):
    folder = tmp_path / "midi"
    for index in range(6):
        write_chorale(folder / f"{index}.mid")
    load(MidiDirectory, folder, tmp_path, shard_size=3)
    shards = sorted(str(p) for p in
                    (tmp_path / "cache").rglob("shard-*.tfrecord"))
    first = NoteSequenceTFRecord(shards).load()
    assert all(isinstance(first.split(s), lazy_pieces.StoredRecords)
               for s in ("train", "valid", "test"))

    def no_reading(path):
        raise AssertionError(f"read {path} although its pieces are cached")

    monkeypatch.setattr(cache, "read_note_sequences", no_reading)
    again = NoteSequenceTFRecord(shards).load()
    assert pieces(again) == pieces(first)
    assert sorted(pieces(again)) == [f"{i}.mid" for i in range(6)]
    monkeypatch.undo()
    # A changed file is read again.
    cache.write_note_sequences(shards[0], list(
        cache.read_note_sequences(shards[0]))[:1])
    monkeypatch.setattr(cache, "read_note_sequences", no_reading)
    with pytest.raises(AssertionError, match="although its pieces"):
        NoteSequenceTFRecord(shards).load()


# --- The command line --------------------------------------------------------


# Training from a MIDI folder through the command line is run (and killed,
# and run twice at once) in test_crash_safety.py.


def test_command_line_names_a_missing_folder(tmp_path, capsys):
    missing = tmp_path / "no_such_midis"
    code = run_in_process([
        f"--gin_file={DURATION_RNN}", f"--gin_file={MIDI_GIN}",
        f"--gin_param=DATA_PATH='{missing}'",
        f"--model_dir={tmp_path / 'run'}"])
    assert code == 2
    assert str(missing) in one_error_line(capsys.readouterr().err)


# --- Voice rules on arbitrary notes ------------------------------------------


NOTE = st.tuples(st.integers(15, 115), st.integers(0, 12), st.integers(0, 4),
                 st.sampled_from([False] * 9 + [True]))


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    rule=st.sampled_from(["auto", "top_n", "split", "satb"]),
    parts=st.lists(st.tuples(st.sampled_from(["Soprano", "Alto", "Tenor",
                                              "Bass", "Piano", ""]),
                             st.lists(NOTE, min_size=1, max_size=12)),
                   min_size=1, max_size=6))
def test_voice_rules_give_what_select_voices_accepts(rule, parts):
    """Whatever the notes, a kept piece has every note accounted for, and
    the voices' own checker (`select_voices`) accepts it as it is."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=90)
    for part, (name, notes) in enumerate(parts):
        sequence.part_infos.add(part=part, name=name)
        for pitch, start, length, drum in notes:
            sequence.notes.add(part=part, pitch=pitch, start_time=start / 3,
                               end_time=(start + length) / 3, is_drum=drum,
                               velocity=64)
    try:
        piece = VoiceRule(rule).apply(sequence)
    except skip_reasons.UnusableFileError:
        return
    assert len(piece.sequence.notes) + sum(
        piece.notes_dropped.values()) == len(sequence.notes)
    checked, dropped = select_voices(piece.sequence, 4, voice_names=())
    assert dropped == {}
    assert [(n.instrument, n.pitch, n.start_time, n.end_time)
            for n in checked.notes] == [
        (n.instrument, n.pitch, n.start_time, n.end_time)
        for n in piece.sequence.notes]
