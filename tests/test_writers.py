"""Output writers on small hand-made pieces: real files, read back.

The MIDI and MusicXML files must hold exactly the piece's notes (pitch,
onset and length in quarters, voice), tuplets and ties over barlines
included; the score and piano roll must be real images.
"""

import dataclasses
import importlib.metadata
import os
import wave
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from matplotlib import image as mpimg
from music21 import clef, converter, expressions, key, stream
from note_seq.protobuf import music_pb2
import pretty_midi
import pytest

from polyframe import writer as writer_lib
from polyframe.registries import WRITERS
from polyframe.writer import Fraction, GeneratedPiece
from polyframe_plugins.writers.midi import DEFAULT_PROGRAMS, MidiWriter
from polyframe_plugins.writers.musicxml import GENERATED_MARK, MusicXmlWriter
from polyframe_plugins.writers.piano_roll import PianoRollWriter
from polyframe_plugins.writers.score_svg import ScoreSvgWriter
from polyframe_plugins.writers.wav import WavWriter

SATB = ("Soprano", "Alto", "Tenor", "Bass")
QPM = 90.0
F = Fraction

# (voice, pitch, onset, duration) in quarters. 3/4 with a one-quarter
# pickup; the soprano has a triplet, 5/12 + 7/12 and 5/11 + 6/11 notes; the
# alto and bass hold notes over barlines; the tenor sings a chord whose
# notes end at different times.
CHORALE = (
        (0, 72, F(0), F(1)),
        (0, 74, F(1), F(1, 3)), (0, 76, F(4, 3), F(1, 3)), (0, 77, F(5, 3), F(1, 3)),
        (0, 79, F(2), F(5, 12)), (0, 77, F(29, 12), F(7, 12)),
        (0, 76, F(3), F(5, 11)), (0, 74, F(38, 11), F(6, 11)),
        (0, 72, F(4), F(3)),
        (1, 67, F(0), F(3)), (1, 65, F(3), F(2)), (1, 64, F(5), F(2)),
        (2, 64, F(0), F(2)), (2, 60, F(0), F(1)), (2, 59, F(2), F(2)),
        (2, 60, F(4), F(3)),
        (3, 48, F(0), F(1)), (3, 43, F(1), F(5)), (3, 48, F(6), F(1)),
)
PRIMER_END = F(2)


def seconds(quarters) -> float:
    return float(quarters) * 60.0 / QPM


def make_piece(stem, notes=CHORALE, **overrides) -> GeneratedPiece:
    """A piece of `notes` ((voice, pitch, onset, duration) in quarters)."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=QPM)
    for voice, pitch, onset, duration in notes:
        sequence.notes.add(pitch=pitch, velocity=80, instrument=voice,
                           start_time=seconds(onset),
                           end_time=seconds(onset + duration))
    sequence.total_time = max((seconds(o + d) for _, _, o, d in notes), default=0)
    fields = dict(sequence=sequence, stem=str(stem), voice_names=SATB,
                  primer_end_time=seconds(PRIMER_END), time_signature=(3, 4),
                  key_fifths=-1, pickup_quarters=F(1), title="Test chorale",
                  metadata={"primer": "hand-made", "nll_per_generated_note": 1.5})
    fields.update(overrides)
    return GeneratedPiece(**fields)


def midi_notes(path, names=SATB):
    """Sorted (voice, pitch, onset, duration) of a MIDI file, in quarters."""
    midi = pretty_midi.PrettyMIDI(str(path))
    notes = []
    for instrument in midi.instruments:
        voice = names.index(instrument.name)
        for note in instrument.notes:
            start, end = midi.time_to_tick(note.start), midi.time_to_tick(note.end)
            notes.append((voice, note.pitch, F(start, midi.resolution),
                          F(end - start, midi.resolution)))
    return sorted(notes)


def musicxml_notes(score):
    """Sorted (part, pitch, onset, duration) of a parsed score, ties joined."""
    notes = []
    for index, part in enumerate(score.parts):
        for element in part.stripTies().flatten().notes:
            for pitch in element.pitches:
                notes.append((index, pitch.midi, F(element.offset),
                              F(element.quarterLength)))
    return sorted(notes)


def parse(path):
    return converter.parse(str(path), format="musicxml", forceSource=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The chorale written in every format, in the default order."""
    folder = tmp_path_factory.mktemp("writers")
    piece = make_piece(folder / "chorale")
    writers = [PianoRollWriter(), ScoreSvgWriter(), WavWriter(renderer="builtin"),
               MusicXmlWriter(), MidiWriter()]
    paths = writer_lib.write_all(writers, [piece])
    return piece, paths[piece.stem]


def test_writers_are_registered_plugins():
    entry_points = {ep.name: ep.value for ep in importlib.metadata.entry_points(
            group="polyframe.plugins")}
    for name in writer_lib.DEFAULT_WRITERS:
        assert entry_points[f"writers.{name}"] == f"polyframe_plugins.writers.{name}"
        assert name in WRITERS
    made = writer_lib.make_writers(options={"wav": {"renderer": "builtin"}})
    assert [type(w) for w in made] == [MidiWriter, WavWriter, MusicXmlWriter,
                                       ScoreSvgWriter, PianoRollWriter]
    assert made[1].renderer == "builtin"


def test_writers_run_after_what_they_read():
    svg, wav, xml, mid, png = (ScoreSvgWriter(), WavWriter(), MusicXmlWriter(),
                               MidiWriter(), PianoRollWriter())
    assert writer_lib.order_writers([svg, wav, png, xml, mid]) == [png, xml, svg, mid, wav]
    assert writer_lib.order_writers([mid, wav]) == [mid, wav]


def test_every_format_is_written_and_nothing_else(written):
    piece, paths = written
    assert sorted(os.path.basename(p) for p in paths) == [
            "chorale.mid", "chorale.musicxml", "chorale.png", "chorale.svg",
            "chorale.wav"]
    # Atomic writes leave no temporary files behind.
    assert sorted(os.listdir(os.path.dirname(piece.stem))) == sorted(
            os.path.basename(p) for p in paths)


def test_midi_has_named_tracks_programs_and_the_notes(written):
    piece, _ = written
    midi = pretty_midi.PrettyMIDI(piece.stem + ".mid")
    assert [i.name for i in midi.instruments] == list(SATB)
    assert [i.program for i in midi.instruments] == list(DEFAULT_PROGRAMS)
    assert midi_notes(piece.stem + ".mid") == sorted(CHORALE)
    _, tempi = midi.get_tempo_changes()
    assert list(tempi) == [pytest.approx(QPM, abs=0.01)]  # Whole microseconds.
    # The pickup is a bar of its own, then 3/4.
    assert [(t.numerator, t.denominator) for t in midi.time_signature_changes] == [
            (1, 4), (3, 4)]
    assert "primer end" in [t.text for t in midi.text_events]


def test_midi_programs_are_configurable(tmp_path):
    piece = make_piece(tmp_path / "organ")
    MidiWriter(programs=(19,)).write(piece)
    midi = pretty_midi.PrettyMIDI(piece.stem + ".mid")
    assert [i.program for i in midi.instruments] == [19] * 4


def test_musicxml_reads_back_with_the_midi_notes(written):
    piece, _ = written
    score = parse(piece.stem + ".musicxml")
    assert musicxml_notes(score) == midi_notes(piece.stem + ".mid") == sorted(CHORALE)


def test_musicxml_has_named_parts_clefs_metre_pickup_and_key(written):
    piece, _ = written
    score = parse(piece.stem + ".musicxml")
    assert [p.partName for p in score.parts] == list(SATB)
    clefs = [type(p.recurse().getElementsByClass(clef.Clef).first())
             for p in score.parts]
    assert clefs == [clef.TrebleClef, clef.TrebleClef, clef.Treble8vbClef,
                     clef.BassClef]
    for part in score.parts:
        first, second = list(part.getElementsByClass(stream.Measure))[:2]
        assert first.timeSignature.ratioString == "3/4"
        assert first.duration.quarterLength == 1  # The pickup...
        assert first.paddingLeft == 2             # ... of a 3/4 bar.
        assert second.offset == 1
        signature = part.recurse().getElementsByClass(key.KeySignature).first()
        assert signature.sharps == -1


def test_musicxml_marks_where_the_primer_ends(written):
    piece, _ = written
    soprano = parse(piece.stem + ".musicxml").parts[0]
    marks = list(soprano.recurse().getElementsByClass(expressions.RehearsalMark))
    assert [m.content for m in marks] == [GENERATED_MARK]
    assert marks[0].getOffsetInHierarchy(soprano) == PRIMER_END


def test_musicxml_infers_a_fitting_key(tmp_path):
    # A D major scale over a D major cadence: two sharps.
    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    notes = [(0, p, F(i), F(1)) for i, p in enumerate(scale)]
    notes += [(3, 50, F(0), F(4)), (3, 45, F(4), F(3)), (3, 50, F(7), F(1))]
    piece = make_piece(tmp_path / "d", notes, key_fifths=None,
                       time_signature=(4, 4), pickup_quarters=0,
                       primer_end_time=None)
    MusicXmlWriter().write(piece)
    score = parse(piece.stem + ".musicxml")
    assert score.parts[0].recurse().getElementsByClass(
            key.KeySignature).first().sharps == 2
    assert not list(score.recurse().getElementsByClass(expressions.RehearsalMark))
    assert musicxml_notes(score) == sorted(notes)


def test_overlapping_notes_in_one_voice_round_trip(tmp_path):
    # One voice holding a note under a melody (an event-stream decode).
    notes = [(0, 60, F(0), F(4)), (0, 64, F(0), F(1)), (0, 67, F(1), F(1, 3)),
             (0, 65, F(4, 3), F(8, 3)), (0, 60, F(4), F(2))]
    piece = make_piece(tmp_path / "layers", notes, voice_names=("Piano",),
                       time_signature=(4, 4), pickup_quarters=0)
    MidiWriter().write(piece)
    MusicXmlWriter().write(piece)
    assert musicxml_notes(parse(piece.stem + ".musicxml")) == midi_notes(
            piece.stem + ".mid", ("Piano",)) == sorted(notes)


@st.composite
def voiced_pieces(draw):
    """Four voices of notes and rests on a 16th grid, some over barlines."""
    numerator, denominator = draw(st.sampled_from([(4, 4), (3, 4), (2, 4), (6, 8)]))
    bar = 16 * numerator // denominator  # In 16ths.
    pickup = draw(st.integers(0, bar - 1)) if draw(st.booleans()) else 0
    length = pickup + bar * draw(st.integers(1, 2))
    notes = []
    for voice, (low, high) in enumerate(((60, 79), (53, 72), (48, 67), (36, 60))):
        position = 0
        while position < length:
            step = draw(st.sampled_from([1, 2, 3, 4, 4, 6, 8, 12, 16]))
            step = min(step, length - position)
            if draw(st.integers(0, 5)):  # Mostly notes, some rests.
                notes.append((voice, draw(st.integers(low, high)),
                              F(position, 4), F(step, 4)))
            position += step
    primer = draw(st.one_of(st.none(), st.integers(1, length)))
    # Mostly given keys (spelling in every key); key analysis is slow.
    fifths = draw(st.one_of(st.integers(-6, 6), st.integers(-6, 6), st.none()))
    return notes, (numerator, denominator), F(pickup, 4), primer, fifths


# No shrinking: a failure shows its (unshrunk) example at once, where
# shrinking music21 round trips can take minutes.
@settings(max_examples=30, derandomize=True, deadline=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(drawn=voiced_pieces())
def test_random_pieces_round_trip_through_musicxml(tmp_path, drawn):
    notes, signature, pickup, primer, fifths = drawn
    piece = make_piece(tmp_path / "random", notes, time_signature=signature,
                       pickup_quarters=pickup, key_fifths=fifths,
                       primer_end_time=None if primer is None else seconds(F(primer, 4)))
    MidiWriter().write(piece)
    MusicXmlWriter().write(piece)
    assert musicxml_notes(parse(piece.stem + ".musicxml")) == midi_notes(
            piece.stem + ".mid") == sorted(notes)


def test_score_svg_is_an_engraved_score(written):
    piece, _ = written
    root = ET.parse(piece.stem + ".svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    classes = [element.get("class", "") for element in root.iter()]
    # Every note, and every tied part of one, is engraved as a note group.
    assert sum(c.split()[:1] == ["note"] for c in classes) >= len(CHORALE)
    assert any(c.startswith("staff") for c in classes)
    assert os.path.getsize(piece.stem + ".svg") > 10_000


def test_score_pages_are_stacked_into_one_svg(tmp_path):
    piece = make_piece(tmp_path / "pages")
    small_pages = ScoreSvgWriter(page_width=800, options={
            "pageHeight": 500, "adjustPageHeight": False})
    small_pages.write(piece)  # Also writes the MusicXML it needs, elsewhere.
    assert not os.path.exists(piece.stem + ".musicxml")
    root = ET.parse(piece.stem + ".svg").getroot()
    pages = root.findall("{http://www.w3.org/2000/svg}svg")
    assert len(pages) > 1

    def px(value):
        return float(value.removesuffix("px"))

    heights = [px(page.get("height")) for page in pages]
    assert [px(page.get("y")) for page in pages] == [
            sum(heights[:i]) for i in range(len(pages))]
    assert px(root.get("height")) == sum(heights)


def test_piano_roll_is_a_png(written):
    piece, _ = written
    pixels = mpimg.imread(piece.stem + ".png")
    height, width = pixels.shape[:2]
    assert width >= 500 and height >= 300
    assert pixels.std() > 0.05  # Not a blank canvas.


def test_wav_writer_renders_a_midi_of_its_own_when_there_is_none(tmp_path):
    piece = make_piece(tmp_path / "alone")
    assert WavWriter(renderer="builtin").write(piece) == [piece.stem + ".wav"]
    assert sorted(os.listdir(tmp_path)) == ["alone.wav"]
    with wave.open(piece.stem + ".wav") as audio:
        length = audio.getnframes() / audio.getframerate()
    assert seconds(7) <= length <= seconds(7) + 1.5  # Plus the release.


def test_piece_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="shorter than a bar"):
        make_piece(tmp_path / "x", pickup_quarters=3)
    piece = make_piece(tmp_path / "x")
    piece.sequence.tempos.add(time=1.0, qpm=60)
    with pytest.raises(ValueError, match="one tempo"):
        dataclasses.replace(piece)
