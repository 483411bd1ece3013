"""The `musicxml` writer: the piece as a score that notation programs open.

One part per voice, named after it, with the clef the voice is sung in, the
piece's time signature (a pickup becomes an incomplete first bar), a key
signature (given, else music21's key analysis of the notes), the tempo, and
a "generated" mark where the primer ends. Bars are built here, so a note
that crosses a barline is cut into tied notes; music21's exporter then
splits lengths no single note can show into tied notes and tuplets.

Durations are exact: the file counts `TICKS_PER_QUARTER` divisions per
quarter (music21's default, 10080, cannot show 5/11 of a quarter), so the
file reads back with exactly the notes of the MIDI file, tuplets included.
A voice that sings two overlapping notes of different lengths gets a second
notation voice (layer) in its stave; notes of equal onset and length become
a chord.
"""

import contextlib
import dataclasses
from typing import Iterator, List, Optional, Sequence, Tuple

from music21 import (chord, clef, defaults, duration, expressions, key,
                     meter, metadata, note, pitch, stream, tempo, tie)
from music21.musicxml import m21ToXml

from polyframe import checks
from polyframe.registries import WRITERS
from polyframe.writer import (TICKS_PER_QUARTER, Fraction, GeneratedPiece,
                              QuarterNote, Writer, write_bytes)

GENERATED_MARK = "generated"

# Clefs by voice name (lower case); other voices get the clef that suits
# their notes.
_CLEFS_BY_NAME = {
        "soprano": clef.TrebleClef,
        "alto": clef.TrebleClef,
        "tenor": clef.Treble8vbClef,
        "bass": clef.BassClef,
}


@WRITERS.register("musicxml")
class MusicXmlWriter(Writer):
    """Writes `<stem>.musicxml`.

    Args:
        mark: Text of the rehearsal mark where the primer ends.

    Raises:
        checks.ConfigurationError: if `mark` is not a non-empty string.
    """

    extension = ".musicxml"

    def __init__(self, mark: str = GENERATED_MARK):
        self.mark = checks.text("writers.musicxml", "mark", mark)

    def write(self, piece: GeneratedPiece) -> List[str]:
        return [write_bytes(self.path(piece),
                            to_musicxml(build_score(piece, self.mark)))]


def to_musicxml(score: stream.Score) -> bytes:
    """The MusicXML text of `score`, with exact divisions."""
    with _divisions_per_quarter(TICKS_PER_QUARTER):
        return m21ToXml.GeneralObjectExporter(score).parse()


@contextlib.contextmanager
def _divisions_per_quarter(divisions: int) -> Iterator[None]:
    """Sets music21's export resolution (a module global) for one export."""
    previous = defaults.divisionsPerQuarter
    defaults.divisionsPerQuarter = divisions
    try:
        yield
    finally:
        defaults.divisionsPerQuarter = previous


@dataclasses.dataclass(frozen=True)
class _Sound:
    """A note or chord of one layer: pitches sounding from onset to end."""

    onset: Fraction
    end: Fraction
    pitches: Tuple[int, ...]


def build_score(piece: GeneratedPiece, mark: str = GENERATED_MARK) -> stream.Score:
    """The piece as a music21 score with parts, bars and signatures.

    Args:
        piece: The piece.
        mark: Text of the rehearsal mark at `piece.primer_end_time`.

    Returns:
        A score with one part per voice (`piece.num_voices`), each a list of
        measures; offsets are quarters from the start of the pickup.
    """
    notes = piece.quarter_notes()
    signature = _key_signature(piece, notes)
    spans = _measure_spans(piece.pickup_quarters, piece.bar_quarters,
                           piece.length_quarters)
    score = stream.Score()
    title = piece.title or "Untitled"
    score.insert(0, metadata.Metadata(title=title, movementName=title,
                                      composer="polyframe"))
    for voice in range(piece.num_voices):
        part_notes = [n for n in notes if n.voice == voice]
        part = _part(piece, voice, part_notes, spans, signature)
        if voice == 0:
            _mark_primer_end(part, spans, piece.primer_end_quarters, mark)
        score.insert(0, part)
    return score


def _part(piece: GeneratedPiece, voice: int, notes: Sequence[QuarterNote],
          spans: Sequence[Tuple[Fraction, Fraction]],
          signature: key.KeySignature) -> stream.Part:
    name = piece.voice_name(voice)
    part = stream.Part(id=f"P{voice + 1}")
    part.partName = name
    part.partAbbreviation = name[:1] + "." if name else ""
    layers = _layers(notes)
    for index, (start, stop) in enumerate(spans):
        measure = stream.Measure(number=index if piece.pickup_quarters else index + 1)
        if index == 0:
            measure.insert(0, _clef(name, [n.pitch for n in notes]))
            measure.insert(0, key.KeySignature(signature.sharps))
            measure.timeSignature = _time_signature(piece.time_signature)
            if voice == 0:
                measure.insert(0, tempo.MetronomeMark(number=round(piece.qpm, 2),
                                                      referent=1.0))
            if piece.pickup_quarters:  # An implicit (unnumbered) short bar.
                measure.paddingLeft = float(piece.bar_quarters - piece.pickup_quarters)
                measure.showNumber = stream.enums.ShowNumber.NEVER
        if len(layers) <= 1:
            _fill(measure, layers[0] if layers else [], start, stop, signature)
        else:
            for number, layer in enumerate(layers, start=1):
                inner = stream.Voice(id=str(number))
                _fill(inner, layer, start, stop, signature, hide_rests=number > 1)
                measure.insert(0, inner)
        part.insert(start, measure)
    return part


def _time_signature(signature: Tuple[int, int]) -> meter.TimeSignature:
    return meter.TimeSignature(f"{signature[0]}/{signature[1]}")


def _measure_spans(pickup: Fraction, bar: Fraction,
                   end: Fraction) -> List[Tuple[Fraction, Fraction]]:
    """`(start, stop)` of every bar: the pickup, then full bars past `end`."""
    spans = [(Fraction(0), pickup)] if pickup else []
    start = pickup
    while start < end or start == pickup:
        spans.append((start, start + bar))
        start += bar
    return spans


def _layers(notes: Sequence[QuarterNote]) -> List[List[_Sound]]:
    """Splits one voice's notes into layers in which no sounds overlap."""
    pitches = {}
    for n in notes:
        pitches.setdefault((n.onset, n.end), []).append(n.pitch)
    layers: List[List[_Sound]] = []
    for (onset, end), chord_pitches in sorted(pitches.items()):
        sound = _Sound(onset, end, tuple(sorted(set(chord_pitches))))
        free = next((layer for layer in layers if layer[-1].end <= onset), None)
        if free is None:
            layers.append([sound])
        else:
            free.append(sound)
    return layers


def _fill(container: stream.Stream, sounds: Sequence[_Sound], start: Fraction,
          stop: Fraction, signature: key.KeySignature,
          hide_rests: bool = False) -> None:
    """Puts the part of `sounds` inside [start, stop) into `container`.

    Gaps become rests; a sound that goes on past a barline is tied over it.
    """
    position = start
    for sound in sounds:
        if sound.end <= start or sound.onset >= stop:
            continue
        onset, end = max(sound.onset, start), min(sound.end, stop)
        if onset > position:
            container.insert(position - start, _rest(onset - position, hide_rests))
        element = _sounding(sound.pitches, signature)
        element.duration = duration.Duration(end - onset)
        tie_type = _tie_type(sound.onset < start, sound.end > stop)
        if tie_type:
            element.tie = tie.Tie(tie_type)
        container.insert(onset - start, element)
        position = end
    if position < stop:
        container.insert(position - start, _rest(stop - position, hide_rests))


def _tie_type(from_before: bool, goes_on: bool) -> Optional[str]:
    return {(False, True): "start", (True, True): "continue",
            (True, False): "stop"}.get((from_before, goes_on))


def _rest(length: Fraction, hidden: bool) -> note.Rest:
    rest = note.Rest()
    rest.duration = duration.Duration(length)
    rest.style.hideObjectOnPrint = hidden
    return rest


def _sounding(pitches: Sequence[int], signature: key.KeySignature):
    spelled = [_spell(p, signature) for p in pitches]
    if len(spelled) == 1:
        return note.Note(spelled[0])
    return chord.Chord(spelled)


def _spell(midi: int, signature: key.KeySignature) -> pitch.Pitch:
    """Spells a MIDI pitch as the key prefers: its own accidentals first,
    then flats in flat keys and sharps otherwise.

    A natural on a step the key signature alters is spelled out on every
    note, not only where it is shown, so that tied notes keep equal pitches
    when the file is read back (music21 joins ties only between equal ones).
    """
    spelled = pitch.Pitch(midi=midi)
    in_key = {p.name for p in signature.alteredPitches}
    if spelled.accidental is None:
        if signature.accidentalByStep(spelled.step) is not None:
            spelled.accidental = pitch.Accidental("natural")
        return spelled
    alternative = spelled.getEnharmonic()
    if spelled.name in in_key or alternative.name in in_key:
        return spelled if spelled.name in in_key else alternative
    wants_flat = signature.sharps < 0
    return alternative if wants_flat != (spelled.accidental.alter < 0) else spelled


def _clef(name: str, pitches: Sequence[int]) -> clef.Clef:
    known = _CLEFS_BY_NAME.get(name.strip().lower())
    if known is not None:
        return known()
    if not pitches:
        return clef.TrebleClef()
    return clef.bestClef(stream.Stream([note.Note(midi=p) for p in pitches]),
                         allowTreble8vb=True)


def _key_signature(piece: GeneratedPiece,
                   notes: Sequence[QuarterNote]) -> key.KeySignature:
    """The given key signature, else the key music21 hears in the notes."""
    if piece.key_fifths is not None:
        return key.KeySignature(piece.key_fifths)
    if not notes:
        return key.KeySignature(0)
    melody = stream.Stream()
    for n in notes:
        melody.insert(n.onset, note.Note(midi=n.pitch, quarterLength=n.duration))
    return melody.analyze("key")


def _mark_primer_end(part: stream.Part, spans: Sequence[Tuple[Fraction, Fraction]],
                     primer_end: Optional[Fraction], mark: str) -> None:
    """Puts a rehearsal mark where the model takes over, if inside the piece."""
    if primer_end is None or primer_end <= 0:
        return
    measures = list(part.getElementsByClass(stream.Measure))
    for measure, (start, stop) in zip(measures, spans):
        if start <= primer_end < stop:
            measure.insert(primer_end - start, expressions.RehearsalMark(mark))
            return
