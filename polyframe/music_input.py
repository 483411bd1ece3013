"""Music a user gives on the command line: a melody to harmonise, a primer.

`--melody=SOURCE` (harmonize mode) and `--primer=SOURCE` (sample mode) take
a MIDI file, a MusicXML file or inline text. This module reads any of them
into a `GivenMusic`: a NoteSequence whose notes carry their voice in
`instrument`, plus the exact facts in quarter notes that the caller needs to
place the music on the model's clock (its length including a final rest, a
pickup, the time and key signature). It only reads and checks what was
written; whether the model's encoder can hold the notes (pitch range,
rhythm) is for the caller to check.

Sources:

* A path ending in .mid/.midi (read with pretty_midi) or .xml/.mxl/.musicxml
  (read with music21, which keeps part names, pickups, tied notes and the
  exact offsets of tuplets). A missing file is an error, never inline text.
* Anything else is inline text: whitespace-separated tokens `NOTE:QUARTERS`,
  e.g. `G4:1 F#4:1/2 R:1.5` (C4 is MIDI 60; `R` is a rest). An optional time
  signature (`3/4`) may come first, and `|` (or `||`) tokens mark barlines,
  which are then checked against it: the first bar may be short (a
  pickup), the last may be short, every other bar must be complete.

Every problem the user can fix is a `UserFacingError` with a one-line
message that names the file, part, token or quarter position concerned.
"""

import dataclasses
import fractions
import io
import os
import re
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mido
from note_seq.protobuf import music_pb2
import pretty_midi

from polyframe.data import timing
# The corpus's rule for "named after a voice", so both read names alike.
from polyframe.data.voices import DEFAULT_VOICE_NAMES, _first_word
from polyframe.errors import UserFacingError

Fraction = fractions.Fraction

VOICE_NAMES = tuple(name.capitalize() for name in DEFAULT_VOICE_NAMES)
VELOCITY = 80
# note_seq's standard resolution, recorded in the NoteSequence.
TICKS_PER_QUARTER = 220
MIDI_EXTENSIONS = (".mid", ".midi")
MUSICXML_EXTENSIONS = (".xml", ".mxl", ".musicxml")
INLINE_FORM = ("expected NOTE:QUARTERS, e.g. G4:1 or R:1/2 (a time signature "
               "like 3/4 only as the first token, | for barlines)")
NOTE_FORM = ("write a letter A-G, an optional # or b (## or bb for double), "
             "and an octave, e.g. C4 (MIDI 60), F#4, Bb3; R is a rest")

_PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Position of each natural on the circle of fifths, C = 0.
_LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
_ALTERATIONS = {"": 0, "#": 1, "##": 2, "x": 2, "b": -1, "bb": -2}
_NOTE_PATTERN = re.compile(r"([A-Ga-g])(##|#|x|bb|b)?(-?\d+)")
_TIME_SIGNATURE_PATTERN = re.compile(r"(\d+)/(\d+)")
_MODES = {
    "major": music_pb2.NoteSequence.KeySignature.MAJOR,
    "minor": music_pb2.NoteSequence.KeySignature.MINOR,
    None: music_pb2.NoteSequence.KeySignature.NOT_SPECIFIED,
}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#",
                "B")


@dataclasses.dataclass(frozen=True)
class GivenMusic:
    """Music the user gave, with its voices and exact quarter-note facts.

    Attributes:
        sequence: The notes, voice in `instrument` (0 = soprano), at one
            tempo (`tempos[0]`); time and key signatures copied in when
            known; `total_time` at `end_quarters`.
        voices: The voices that have notes, sorted.
        end_quarters: Length in quarters, a final rest included.
        time_signature: `(numerator, denominator)`; (4, 4) when unknown.
        key_fifths: Sharps (+) or flats (-) of the key signature; None when
            unknown.
        key_mode: "major", "minor" or None.
        pickup_quarters: Length of an incomplete first bar; 0 when none.
        description: A short summary for logs.
    """

    sequence: music_pb2.NoteSequence
    voices: Tuple[int, ...]
    end_quarters: Fraction
    time_signature: Tuple[int, int]
    key_fifths: Optional[int]
    key_mode: Optional[str]
    pickup_quarters: Fraction
    description: str


@dataclasses.dataclass(frozen=True)
class _Note:
    """A note in exact quarters from the start of the music."""

    start: Fraction
    end: Fraction
    pitch: int


@dataclasses.dataclass
class _Part:
    """One part (MusicXML) or instrument (MIDI) as read, before voicing."""

    name: str
    notes: List[_Note]

    def mean_pitch(self) -> float:
        return sum(note.pitch for note in self.notes) / len(self.notes)


@dataclasses.dataclass
class _Score:
    """What a reader found, before parts become voices.

    Attributes:
        label: The source as the user named it (a path), or "inline melody".
        parts: Every part, in the file's order.
        top_part: The part a melody is taken from when none is named.
        end: Where the music ends, a final rest included.
        qpm: The tempo the notes are timed at.
        time_signatures: `(position, numerator, denominator)`, in order.
        keys: `(position, fifths, mode or None)`, in order.
        pickup: Length of an incomplete first bar; 0 when none.
        noun: What a part is called in messages ("part", "track").
    """

    label: str
    parts: List[_Part]
    top_part: int = 0
    end: Fraction = Fraction(0)
    qpm: float = timing.DEFAULT_QPM
    time_signatures: List[Tuple[Fraction, int, int]] = dataclasses.field(
        default_factory=list)
    keys: List[Tuple[Fraction, int, Optional[str]]] = dataclasses.field(
        default_factory=list)
    pickup: Fraction = Fraction(0)
    noun: str = "part"


def read_melody(source: str, voice: int = 0,
                part: Optional[str] = None) -> GivenMusic:
    """Reads a single melodic line to harmonise.

    Args:
        source: A MIDI or MusicXML path, or inline text (module docstring).
        voice: The voice the melody is sung by (0 = soprano).
        part: The file's part (MusicXML part name, MIDI track name, any case,
            or its number counted from 1) holding the melody. None: the first
            part of a MusicXML score, the highest MIDI instrument by mean
            pitch (drums left out).

    Returns:
        The melody as voice `voice` alone.

    Raises:
        UserFacingError: if the source cannot be read, the part is unknown,
            or the melody is empty or has notes sounding at once.
    """
    score = _read(source, "melody")
    index = _melody_part(score, part)
    chosen = score.parts[index]
    where = _part_label(score, index)
    if not chosen.notes:
        raise UserFacingError(
            f"{where} has no notes; give a melody with at least "
            "one note" + (f", or another {score.noun} with --melody_part."
                          if len(score.parts) > 1 else "."))
    _check_part(chosen, where, "pick a single line with --melody_part.")
    summary = (f"{score.noun} {chosen.name!r}, " if chosen.name else
               f"{score.noun} {index + 1}, " if len(score.parts) > 1 else "")
    description = (f"{os.path.basename(score.label)} "
                   f"({summary}{_count(len(chosen.notes), 'note')})")
    return _given(score, {voice: chosen}, description)


def read_primer(source: str, num_voices: int = 4,
                voice_names: Sequence[str] = VOICE_NAMES) -> GivenMusic:
    """Reads the opening a model continues: one part per voice.

    Parts named after a voice (first word of the name, any case, or its first
    letter: "Soprano", "alto 2", "T") are that voice, and parts not so named
    are then left out, as in the corpus (`polyframe.data.voices`). Otherwise
    the parts with notes become voices by mean pitch, the highest voice 0.
    Fewer parts than voices is fine; inline text is one voice, the first.

    Args:
        source: A MIDI or MusicXML path, or inline text (module docstring).
        num_voices: How many voices the model has.
        voice_names: Their names, highest first.

    Returns:
        The primer, with the given voices in `voices`.

    Raises:
        UserFacingError: if the source cannot be read, has no notes, has more
            parts than voices, two parts for one voice, or a voice with notes
            sounding at once.
    """
    score = _read(source, "primer")
    by_voice = _primer_voices(score, num_voices, voice_names)
    for voice, part in by_voice.items():
        where = f"the {_voice_label(voice, voice_names)} of {score.label}"
        if part.name:
            where += f" ({score.noun} {part.name!r})"
        _check_part(part, where, f"give the {_voice_label(voice, voice_names)}"
                    " one note at a time.")
    return _given(score, by_voice,
                  _primer_description(score, by_voice, voice_names))


def parse_voice_name(name: str,
                     voice_names: Sequence[str] = VOICE_NAMES) -> int:
    """Returns the index of a voice given by name, first letter or number.

    Args:
        name: E.g. "soprano", "Soprano", "s" or "0".
        voice_names: The voices, highest first.

    Raises:
        UserFacingError: for an unknown name, listing the choices.
    """
    aliases = _voice_aliases(voice_names)
    aliases.update({str(index): index for index in range(len(voice_names))})
    key = name.strip().lower()
    if key in aliases:
        return aliases[key]
    choices = ", ".join(voice.lower() for voice in voice_names)
    raise UserFacingError(
        f"unknown voice {name!r}; choose one of {choices} (or its first "
        f"letter, or its number 0-{len(voice_names) - 1}).")


# Reading a source.


def _read(source: str, what: str) -> _Score:
    """Reads a file by its extension, else inline text."""
    extension = os.path.splitext(source.strip())[1].lower()
    reader = _FILE_READERS.get(extension)
    if reader is not None:
        return reader(_existing_file(source.strip()))
    if os.path.isfile(source):
        raise UserFacingError(
            f"{source} is a {extension or 'extension-less'} file; give a "
            f"MIDI ({', '.join(MIDI_EXTENSIONS)}) or MusicXML "
            f"({', '.join(MUSICXML_EXTENSIONS)}) file, or inline notes like "
            "'G4:1 A4:1 B4:2'.")
    return _read_inline(source, f"inline {what}")


def _existing_file(path: str) -> str:
    if not os.path.isfile(os.path.expanduser(path)):
        raise UserFacingError(
            f"file not found: {path}; give an existing MIDI or MusicXML file, "
            "or inline notes like 'G4:1 A4:1 B4:2'.")
    return path


def _read_midi(path: str) -> _Score:
    """Reads every non-drum instrument of a MIDI file, named by its track."""
    data = _file_bytes(path)
    if not data.startswith(b"MThd"):
        raise UserFacingError(
            f"{path} is not a MIDI file (it starts with {data[:4]!r}, not "
            "b'MThd'); give a Standard MIDI File, or a MusicXML file.")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
        meta, end_tick = _midi_meta(midi)
        with warnings.catch_warnings():
            # Timing events outside track 0: `_midi_meta` reads them anyway.
            warnings.simplefilter("ignore", RuntimeWarning)
            parsed = pretty_midi.PrettyMIDI(mido_object=midi)
    except Exception as error:  # pylint: disable=broad-except
        # mido and pretty_midi reject malformed data with many error types.
        raise UserFacingError(
            f"cannot read {path}: corrupt or truncated MIDI "
            f"({_one_line(error)}); export it again.") from None

    def quarters(seconds: float) -> Fraction:
        return _exact(Fraction(parsed.time_to_tick(seconds),
                               parsed.resolution))

    parts = [_Part(instrument.name.strip(),
                   [_Note(quarters(n.start), quarters(n.end), n.pitch)
                    for n in instrument.notes])
             for instrument in parsed.instruments if not instrument.is_drum]
    parts = [part for part in parts if part.notes]
    tempos = meta.get("set_tempo", [])
    top = max(range(len(parts)), key=lambda i: (parts[i].mean_pitch(), -i),
              default=0)
    return _Score(
        label=path, parts=parts, top_part=top,
        end=_exact(Fraction(end_tick, midi.ticks_per_beat)),
        qpm=mido.tempo2bpm(tempos[0][1].tempo) if tempos else
        timing.DEFAULT_QPM,
        time_signatures=[(at, m.numerator, m.denominator)
                         for at, m in meta.get("time_signature", [])],
        keys=[(at, *_key_of_name(m.key))
              for at, m in meta.get("key_signature", [])],
        noun="track")


def _midi_meta(midi: mido.MidiFile
               ) -> Tuple[Dict[str, List[Tuple[Fraction, mido.MetaMessage]]],
                          int]:
    """Returns the timing events of all tracks by type, and the end tick.

    pretty_midi reads tempo, time and key signatures from the first track
    only, and not the key's spelling (F# or Gb), so they are read here from
    every track. The end is the latest end of a track; a single tick after
    the track's last event is not counted, as pretty_midi (and other
    writers) add one there.
    """
    meta: Dict[str, List[Tuple[Fraction, mido.MetaMessage]]] = {}
    end = 0
    for track in midi.tracks:
        tick = last = 0
        for message in track:
            tick += message.time
            if message.type == "end_of_track":
                break
            last = tick
            if message.type in ("set_tempo", "time_signature",
                                "key_signature"):
                meta.setdefault(message.type, []).append(
                    (Fraction(tick, midi.ticks_per_beat), message))
        end = max(end, last if tick - last <= 1 else tick)
    for events in meta.values():
        events.sort(key=lambda event: event[0])
    return meta, end


def _read_musicxml(path: str) -> _Score:
    """Reads every part of a MusicXML score with music21, ties merged."""
    # music21 takes seconds to import; only MusicXML needs it.
    import music21  # pylint: disable=import-outside-toplevel
    try:
        score = music21.converter.parse(os.path.expanduser(path),
                                        forceSource=True)
        parts = list(score.parts)
    except Exception as error:  # pylint: disable=broad-except
        # music21 reports bad XML or archives with many error types.
        raise UserFacingError(
            f"cannot read {path}: broken MusicXML ({_one_line(error)}); "
            "export it again.") from None
    marks = _music21_marks(parts, music21.tempo.MetronomeMark)
    bpms = [mark.getQuarterBPM() for _, mark in marks]
    bpms = [bpm for bpm in bpms if bpm]
    return _Score(
        label=path,
        parts=[_Part((part.partName or "").strip(), _music21_notes(part))
               for part in parts],
        end=_exact(score.highestTime),
        qpm=float(bpms[0]) if bpms else timing.DEFAULT_QPM,
        time_signatures=[
            (at, mark.numerator, mark.denominator) for at, mark in
            _music21_marks(parts, music21.meter.TimeSignature)],
        keys=[(at, mark.sharps, _music21_mode(mark)) for at, mark in
              _music21_marks(parts, music21.key.KeySignature)],
        pickup=_music21_pickup(parts, music21.stream.Measure))


def _music21_notes(part) -> List[_Note]:
    """Returns a music21 part's notes (chords as several), ties merged and
    grace notes left out."""
    notes = []
    for element in part.flatten().stripTies().notes:
        length = _exact(element.quarterLength)
        if length <= 0:
            continue
        start = _exact(element.offset)
        notes.extend(_Note(start, start + length, pitch.midi)
                     for pitch in element.pitches)
    return notes


def _music21_marks(parts, kind) -> List[Tuple[Fraction, object]]:
    """Returns `(offset, element)` of every `kind` in the first part that
    has one (signatures and tempo marks are repeated in every part)."""
    for part in parts:
        found = [(_exact(element.offset), element) for element in
                 part.flatten().getElementsByClass(kind)]
        if found:
            return found
    return []


def _music21_mode(signature) -> Optional[str]:
    mode = getattr(signature, "mode", None)
    return mode if mode in ("major", "minor") else None


def _music21_pickup(parts, measure_class) -> Fraction:
    """Returns the length of a first measure shorter than its bar (music21
    marks it with `paddingLeft`), else 0."""
    if not parts:
        return Fraction(0)
    first = parts[0].getElementsByClass(measure_class).first()
    if first is None or not first.paddingLeft:
        return Fraction(0)
    return _exact(first.barDuration.quarterLength) - _exact(first.paddingLeft)


_FILE_READERS: Dict[str, Callable[[str], _Score]] = {
    **{extension: _read_midi for extension in MIDI_EXTENSIONS},
    **{extension: _read_musicxml for extension in MUSICXML_EXTENSIONS},
}


# Inline text.


def _read_inline(text: str, label: str) -> _Score:
    """Reads `[TIME_SIGNATURE] NOTE:QUARTERS ... [| ...]` as one part."""
    tokens = text.split()
    written = []
    if tokens and ":" not in tokens[0] and "/" in tokens[0]:
        written = [(Fraction(0), *_time_signature(tokens[0], label))]
    first = len(written)
    signature = written[0][1:] if written else (4, 4)
    notes: List[_Note] = []
    bars: List[Tuple[Fraction, List[str]]] = [(Fraction(0), [])]
    position = Fraction(0)
    for number, token in enumerate(tokens[first:], first + 1):
        if _is_barline(token):
            bars.append((position, []))
            continue
        try:
            pitch, length = _parse_token(token)
        except ValueError as problem:
            raise UserFacingError(
                f"{label}, token {number} {token!r} at quarter "
                f"{_quarters(position)}: {problem}.") from None
        if pitch is not None:
            notes.append(_Note(position, position + length, pitch))
        position += length
        bars[-1][1].append(token)
    pickup = Fraction(0)
    if any(_is_barline(token) for token in tokens):
        pickup = _check_bars(bars, position, signature, label)
    return _Score(label=label, parts=[_Part("", notes)], end=position,
                  time_signatures=written, pickup=pickup)


def _is_barline(token: str) -> bool:
    """`|`, or `||` (a double or final barline)."""
    return set(token) == {"|"}


def _time_signature(token: str, label: str) -> Tuple[int, int]:
    match = _TIME_SIGNATURE_PATTERN.fullmatch(token)
    if match:
        numerator, denominator = int(match[1]), int(match[2])
        if numerator > 0 and denominator > 0 and \
                denominator & (denominator - 1) == 0:
            return numerator, denominator
    raise UserFacingError(
        f"{label}: bad time signature {token!r} (token 1); write beats/unit, "
        "the unit a power of two, e.g. 3/4 or 6/8.")


def _parse_token(token: str) -> Tuple[Optional[int], Fraction]:
    """Returns `(MIDI pitch or None for a rest, quarters)` of `NOTE:QUARTERS`.

    Raises:
        ValueError: saying what is wrong with the token.
    """
    name, colon, text = token.partition(":")
    if not colon or not name or not text:
        raise ValueError(INLINE_FORM)
    try:
        length = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"bad duration {text!r}; write quarters as a number or fraction, "
            "e.g. 1, 0.5, 3/2 or 1/3") from None
    if length <= 0:
        raise ValueError(f"duration {text} is not positive; give quarters "
                         "> 0, e.g. 1 or 1/2")
    return (None if name.upper() == "R" else _parse_pitch(name)), length


def _parse_pitch(name: str) -> int:
    """Returns the MIDI pitch of a note name such as `C4` (60) or `Bb3`.

    Raises:
        ValueError: for an unknown name or a pitch outside 0..127.
    """
    match = _NOTE_PATTERN.fullmatch(name)
    if not match:
        raise ValueError(f"unknown note name {name!r}; {NOTE_FORM}")
    letter, accidental, octave = match.groups()
    pitch = (12 * (int(octave) + 1) + _PITCH_CLASSES[letter.upper()] +
             _ALTERATIONS[accidental or ""])
    if not 0 <= pitch <= 127:
        raise ValueError(f"{name} is MIDI pitch {pitch}, outside 0..127")
    return pitch


def _check_bars(bars: List[Tuple[Fraction, List[str]]], end: Fraction,
                signature: Tuple[int, int], label: str) -> Fraction:
    """Checks bar lengths against the time signature; returns the pickup.

    Empty bars (a leading, trailing or doubled `|`) are ignored. The first
    bar may be short (a pickup), the last may be short, the others must be
    complete.

    Raises:
        UserFacingError: naming the first bar that does not fit.
    """
    bar_length = Fraction(4 * signature[0], signature[1])
    starts = [start for start, tokens in bars if tokens] + [end]
    written = [tokens for _, tokens in bars if tokens]
    lengths = [b - a for a, b in zip(starts, starts[1:])]
    for number, length in enumerate(lengths, 1):
        short_allowed = number in (1, len(lengths))
        if length > bar_length or (length < bar_length and not short_allowed):
            raise UserFacingError(
                f"{label}: bar {number} ({' '.join(written[number - 1])}) "
                f"lasts {_quarters(length)} quarters, but a "
                f"{signature[0]}/{signature[1]} bar lasts "
                f"{_quarters(bar_length)}; fix its durations, its barlines or "
                "the time signature.")
    if len(lengths) > 1 and lengths[0] < bar_length:
        return lengths[0]
    return Fraction(0)


# Choosing parts.


def _melody_part(score: _Score, part: Optional[str]) -> int:
    """Returns the index of the melody's part: by name or number, else the
    score's top part."""
    if not score.parts:
        drums = " (drum tracks are not used)" if score.noun == "track" else ""
        raise UserFacingError(
            f"{score.label} holds no notes{drums}; give a file with a melody.")
    if part is None:
        return score.top_part
    wanted = part.strip().lower()
    matches = [index for index, candidate in enumerate(score.parts)
               if candidate.name.lower() == wanted]
    if len(matches) == 1:
        return matches[0]
    if not matches and wanted.isdigit() and 1 <= int(wanted) <= len(
            score.parts):
        return int(wanted) - 1
    problem = (f"{len(matches)} {score.noun}s named {part!r}" if matches else
               f"no {score.noun} named {part!r}")
    raise UserFacingError(
        f"{score.label} has {problem}; its {score.noun}s are "
        f"{_listing(score)}; give a name or number with --melody_part.")


def _primer_voices(score: _Score, num_voices: int,
                   voice_names: Sequence[str]) -> Dict[int, _Part]:
    """Returns the part of every given voice: by name, else by pitch."""
    sounding = [part for part in score.parts if part.notes]
    if not sounding:
        raise UserFacingError(
            f"{score.label} has no notes (only rests or drums); give a primer "
            "with at least one note.")
    aliases = _voice_aliases(voice_names[:num_voices])
    named: Dict[int, List[_Part]] = {}
    for part in sounding:
        voice = aliases.get(_first_word(part.name).rstrip("."))
        if voice is not None:
            named.setdefault(voice, []).append(part)
    for voice, parts in sorted(named.items()):
        if len(parts) > 1:
            names = ", ".join(repr(part.name) for part in parts)
            raise UserFacingError(
                f"{score.label} has {len(parts)} {score.noun}s for the "
                f"{_voice_label(voice, voice_names)} ({names}); keep one, or "
                "rename the others.")
    if named:
        return {voice: parts[0] for voice, parts in named.items()}
    by_pitch = sorted(sounding, key=lambda part: -part.mean_pitch())
    if len(by_pitch) > num_voices:
        extra = ", ".join(repr(part.name) if part.name else "(unnamed)"
                          for part in by_pitch[num_voices:])
        raise UserFacingError(
            f"{score.label} has {len(by_pitch)} {score.noun}s with notes, but "
            f"the model has {num_voices} voices; remove the lowest {extra}, "
            "or name the parts after the voices (Soprano, Alto, ...).")
    return dict(enumerate(by_pitch))


def _voice_aliases(voice_names: Sequence[str]) -> Dict[str, int]:
    """Returns voice index by lower-case name and by first letter (where no
    two voices share it)."""
    names = [name.lower() for name in voice_names]
    letters = [name[:1] for name in names]
    aliases = {letter: index for index, letter in enumerate(letters)
               if letter and letters.count(letter) == 1}
    aliases.update({name: index for index, name in enumerate(names)})
    return aliases


def _check_part(part: _Part, where: str, hint: str) -> None:
    """Raises UserFacingError unless the part's notes are in MIDI range and
    sound one at a time."""
    for note in part.notes:
        if not 0 <= note.pitch <= 127:
            raise UserFacingError(
                f"{where} has a note of MIDI pitch {note.pitch} at quarter "
                f"{_quarters(note.start)}, outside 0..127.")
    ordered = sorted(part.notes, key=lambda note: (note.start, note.pitch))
    sounding_until = None
    for note in ordered:
        if sounding_until is not None and note.start < sounding_until:
            at = note.start
            chord = [n for n in ordered if n.start <= at < n.end]
            pitches = ", ".join(f"{_note_name(n.pitch)} ({n.pitch})"
                                for n in chord)
            raise UserFacingError(
                f"{where} has {len(chord)} notes sounding at once at quarter "
                f"{_quarters(at)}: {pitches}; {hint}")
        sounding_until = max(sounding_until or note.end, note.end)


# Building the result.


def _given(score: _Score, by_voice: Dict[int, _Part],
           description: str) -> GivenMusic:
    """Returns the chosen parts as voices of one NoteSequence at one tempo."""
    notes = sorted((note.start, voice, note.pitch, note.end)
                   for voice, part in by_voice.items() for note in part.notes)
    end = max([score.end] + [note[3] for note in notes])
    sequence = music_pb2.NoteSequence(ticks_per_quarter=TICKS_PER_QUARTER)
    sequence.tempos.add(time=0.0, qpm=score.qpm)

    def seconds(quarters: Fraction) -> float:
        return timing.quarters_to_seconds(quarters, score.qpm)

    for start, voice, pitch, stop in notes:
        sequence.notes.add(pitch=pitch, velocity=VELOCITY,
                           start_time=seconds(start), end_time=seconds(stop),
                           instrument=voice)
    for voice, part in sorted(by_voice.items()):
        if part.name:
            sequence.instrument_infos.add(instrument=voice, name=part.name)
    for at, numerator, denominator in score.time_signatures:
        sequence.time_signatures.add(time=seconds(at), numerator=numerator,
                                     denominator=denominator)
    for at, fifths, mode in score.keys:
        sequence.key_signatures.add(time=seconds(at),
                                    key=_tonic_pitch_class(fifths, mode),
                                    mode=_MODES[mode])
    sequence.total_time = seconds(end)
    _, fifths, mode = score.keys[0] if score.keys else (None, None, None)
    return GivenMusic(
        sequence=sequence,
        voices=tuple(sorted(by_voice)),
        end_quarters=end,
        time_signature=(tuple(score.time_signatures[0][1:])
                        if score.time_signatures else (4, 4)),
        key_fifths=fifths,
        key_mode=mode,
        pickup_quarters=score.pickup,
        description=description)


def _primer_description(score: _Score, by_voice: Dict[int, _Part],
                        voice_names: Sequence[str]) -> str:
    voices = ", ".join(
        _voice_label(voice, voice_names) +
        (f" {part.name!r}" if part.name else "")
        for voice, part in sorted(by_voice.items()))
    notes = sum(len(part.notes) for part in by_voice.values())
    chosen = [id(part) for part in by_voice.values()]
    left_out = [part.name or "(unnamed)" for part in score.parts
                if part.notes and id(part) not in chosen]
    ignored = f"; left out {', '.join(left_out)}" if left_out else ""
    return (f"{os.path.basename(score.label)} ({voices}; "
            f"{_count(notes, 'note')}{ignored})")


# Small helpers.


def _exact(value) -> Fraction:
    """Returns a music21/MIDI position as a Fraction on TempoMap's grid."""
    return Fraction(value).limit_denominator(timing.MAX_DENOMINATOR)


def _key_of_name(name: str) -> Tuple[int, Optional[str]]:
    """Returns `(fifths, mode)` of a mido key name such as "Bb" or "F#m"."""
    minor = name.endswith("m")
    tonic = name[:-1] if minor else name
    fifths = (_LETTER_FIFTHS[tonic[0]] + 7 * _ALTERATIONS[tonic[1:]] -
              (3 if minor else 0))
    return fifths, "minor" if minor else "major"


def _tonic_pitch_class(fifths: int, mode: Optional[str]) -> int:
    """Returns the pitch class of the key's tonic (major when unknown)."""
    major = (7 * fifths) % 12
    return (major + 9) % 12 if mode == "minor" else major


def _note_name(pitch: int) -> str:
    return f"{_SHARP_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _quarters(value: Fraction) -> str:
    """Formats a position: "3", "3.5" or "10/3"."""
    if value.denominator == 1:
        return str(value.numerator)
    if (value * 1000).denominator == 1:
        return f"{float(value):g}"
    return str(value)


def _voice_label(voice: int, voice_names: Sequence[str]) -> str:
    return voice_names[voice].lower() if voice < len(voice_names) else \
        f"voice {voice}"


def _part_label(score: _Score, index: int) -> str:
    """E.g. "melody.mid track 'Flute'", "melody.xml part 2", or the label
    alone for a single unnamed part (inline text)."""
    name = score.parts[index].name
    if name:
        return f"{score.label} {score.noun} {name!r}"
    if len(score.parts) > 1:
        return f"{score.label} {score.noun} {index + 1}"
    return score.label


def _listing(score: _Score) -> str:
    return ", ".join(f"{index} {part.name!r}" if part.name else
                     f"{index} (unnamed)"
                     for index, part in enumerate(score.parts, 1))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _file_bytes(path: str) -> bytes:
    try:
        with open(os.path.expanduser(path), "rb") as file:
            return file.read()
    except OSError as error:
        raise UserFacingError(
            f"cannot read {path}: {error.strerror or error}.") from None


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
