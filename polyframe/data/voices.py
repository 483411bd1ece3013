"""Picks the sung voices of a score and checks that each one is monophonic.

Sources hand every parsed piece to `select_voices`, which returns a new
NoteSequence whose notes carry their voice in `note.instrument` (0 = highest
voice, e.g. soprano) and keep their `part` and `program`.

Policy:

* Named voices. A part belongs to a voice when the first word of its name
  (split on any whitespace, `\\r` included, compared case-insensitively) is
  the voice's name: "Soprano", "soprano 1" and "Soprano\\rOboe 1,2\\rViolin1"
  are all soprano candidates. When any part is named after a voice, every
  voice needs exactly one candidate; none ("no tenor part") or several
  ("Soprano 1" and "Soprano 2": which one is the chorale's soprano?) makes
  the piece unusable. All other parts (instruments doubling or accompanying
  the choir) are dropped.
* Unnamed voices. When no part is named after a voice but the piece has
  exactly `num_voices` groups of notes, the groups are the voices. Groups are
  parts, or `instrument` numbers when all notes share one part (as in data
  converted from MIDI). Groups without any part name that are numbered
  0..num_voices-1 are taken in that order: such data is already voice
  separated (this module writes it that way). Otherwise (e.g. a string
  quartet's named parts) they are taken by descending mean pitch, so the
  highest group becomes voice 0.
* Cleaning. Zero-length notes (grace notes) are dropped and counted. A voice
  that plays two notes at once, or no note at all, makes the piece unusable.

Control changes, pitch bends and instrument infos are not kept: they refer to
the old instrument numbers, which now mean voices.
"""

import collections
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from note_seq.protobuf import music_pb2

from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.timing import TempoMap

DEFAULT_VOICE_NAMES = ("soprano", "alto", "tenor", "bass")

DROPPED_ZERO_LENGTH = "zero-length note"
DROPPED_NOT_A_VOICE = "note of a part that is not a voice"


def select_voices(
    sequence: music_pb2.NoteSequence,
    num_voices: int = 4,
    voice_names: Optional[Sequence[str]] = None,
) -> Tuple[music_pb2.NoteSequence, Dict[str, int]]:
    """Returns the piece reduced to its voices, and the notes it dropped.

    Args:
        sequence: A parsed piece; it is not modified.
        num_voices: How many voices the result has.
        voice_names: Names of the voices, highest first. Defaults to soprano,
            alto, tenor, bass when `num_voices` is 4, otherwise to no names
            (voices are then recognised by count alone).

    Returns:
        `(voices, dropped)`: a new NoteSequence whose notes carry their voice
        in `instrument`, and counts of dropped notes by reason.

    Raises:
        UnusableSequenceError: if the voices cannot be told apart, a voice is
            empty, or a voice is not monophonic. The message says why.
        ValueError: if `voice_names` does not have `num_voices` names.
    """
    if voice_names is None:
        voice_names = DEFAULT_VOICE_NAMES if num_voices == 4 else ()
    voice_names = tuple(name.lower() for name in voice_names)
    if voice_names and len(voice_names) != num_voices:
        raise ValueError(f"{len(voice_names)} voice names given for "
                         f"{num_voices} voices: {voice_names}")

    part_names = {info.part: info.name for info in sequence.part_infos}
    chosen = _parts_by_name(part_names, voice_names)
    if chosen is not None:
        group_of_note = _part_of
        voice_of_group = {part: voice for voice, part in enumerate(chosen)}
    else:
        group_of_note, voice_of_group = _voices_by_group(
            sequence, part_names, num_voices)

    result = music_pb2.NoteSequence()
    result.CopyFrom(sequence)
    del result.notes[:]
    del result.control_changes[:]
    del result.pitch_bends[:]
    del result.instrument_infos[:]
    tempo_map = TempoMap(sequence)
    dropped = collections.Counter()
    kept_parts = set()
    for note in sequence.notes:
        voice = voice_of_group.get(group_of_note(note))
        if voice is None:
            dropped[DROPPED_NOT_A_VOICE] += 1
            continue
        if (tempo_map.to_quarters(note.end_time) <=
                tempo_map.to_quarters(note.start_time)):
            dropped[DROPPED_ZERO_LENGTH] += 1
            continue
        kept = result.notes.add()
        kept.CopyFrom(note)
        kept.instrument = voice
        kept_parts.add(note.part)

    del result.part_infos[:]
    result.part_infos.extend(
        info for info in sequence.part_infos if info.part in kept_parts)
    result.total_time = max((n.end_time for n in result.notes), default=0.0)
    _check_voices(result, tempo_map, num_voices, voice_names)
    return result, dict(dropped)


def _first_word(name: str) -> str:
    words = name.split()
    return words[0].lower() if words else ""


def _parts_by_name(part_names: Dict[int, str],
                   voice_names: Sequence[str]) -> Optional[List[int]]:
    """Returns the part of every voice, or None when no part is named so."""
    candidates = {voice: [] for voice in voice_names}
    for part, name in sorted(part_names.items()):
        word = _first_word(name)
        if word in candidates:
            candidates[word].append(part)
    if not any(candidates.values()):
        return None
    chosen = []
    for voice, parts in candidates.items():
        if not parts:
            raise UnusableSequenceError(
                f"no part named {voice!r} (parts: {_quoted(part_names)})")
        if len(parts) > 1:
            names = ", ".join(repr(part_names[p]) for p in parts)
            raise UnusableSequenceError(
                f"{len(parts)} parts could be the {voice}: {names}")
        chosen.append(parts[0])
    return chosen


def _part_of(note: music_pb2.NoteSequence.Note) -> int:
    return note.part


def _instrument_of(note: music_pb2.NoteSequence.Note) -> int:
    return note.instrument


def _voices_by_group(
    sequence: music_pb2.NoteSequence, part_names: Dict[int, str],
    num_voices: int
) -> Tuple[Callable[[music_pb2.NoteSequence.Note], int], Dict[int, int]]:
    """Returns `(group of a note, voice of a group)` for unnamed voices."""
    by_part = len({note.part for note in sequence.notes}) > 1
    group_of_note = _part_of if by_part else _instrument_of
    pitches = collections.defaultdict(list)
    for note in sequence.notes:
        pitches[group_of_note(note)].append(note.pitch)
    if len(pitches) != num_voices:
        what = "part" if by_part else "instrument"
        what += "" if len(pitches) == 1 else "s"
        names = f" (parts: {_quoted(part_names)})" if part_names else ""
        raise UnusableSequenceError(
            f"no part is named after a voice, and the notes fall into "
            f"{len(pitches)} {what} instead of {num_voices}{names}")
    unnamed = not any(name.strip() for name in part_names.values())
    if unnamed and sorted(pitches) == list(range(num_voices)):
        order = list(range(num_voices))
    else:
        order = sorted(pitches,
                       key=lambda g: (-sum(pitches[g]) / len(pitches[g]), g))
    return group_of_note, {group: voice for voice, group in enumerate(order)}


def _check_voices(sequence: music_pb2.NoteSequence, tempo_map: TempoMap,
                  num_voices: int, voice_names: Sequence[str]) -> None:
    """Raises UnusableSequenceError unless every voice is non-empty and monophonic."""
    spans = collections.defaultdict(list)
    for note in sequence.notes:
        spans[note.instrument].append((tempo_map.to_quarters(note.start_time),
                                       tempo_map.to_quarters(note.end_time)))
    for voice in range(num_voices):
        name = voice_names[voice] if voice_names else f"voice {voice}"
        voice_spans = sorted(spans[voice])
        if not voice_spans:
            raise UnusableSequenceError(f"the {name} has no notes")
        for (start, end), (next_start, _) in zip(voice_spans, voice_spans[1:]):
            if next_start < end:
                raise UnusableSequenceError(
                    f"the {name} is not monophonic: a note at quarter "
                    f"{float(next_start):g} starts before the one at "
                    f"{float(start):g} ends")


def _quoted(part_names: Dict[int, str]) -> str:
    return ", ".join(repr(name) for _, name in sorted(part_names.items()))
