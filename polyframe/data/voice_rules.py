"""The voice policy: turns the instruments or parts of a piece into voices.

Every source hands each parsed piece to `VoiceRule.apply`: a NoteSequence
whose notes carry their group (a MIDI instrument or a MusicXML part) in
`note.part`, named in `part_infos`. The result has `num_voices` voices in
`note.instrument`, highest first, each with notes and one note at a time,
without zero-length notes (see `polyframe.data.corpus`). What differs
between sources is only which named rule they use: the curated,
voice-separated corpora (`bach`, `note_sequence_tfrecord`) use "strict",
which rejects a piece rather than change it; folders of arbitrary files
(`midi_dir`, `musicxml_dir`) default to "auto", which thins and cuts notes
to make voices of what it finds.

The policy, step by step. Every dropped or shortened note is counted by
reason.

1. Cleaning. Drum notes (`is_drum`: MIDI channel 10) are dropped.
   Zero-length notes are dropped, as in `polyframe.data.voices`. Notes
   outside [`min_pitch`, `max_pitch`] are dropped: the encoder cannot hold
   them, and moving them by octaves would change the music. Keep the range
   equal to the encoder's (both default to the piano's 21..108).
2. Choosing voices, by `rule`:

   * "satb": by name, with the rule of `polyframe.data.voices`: a group
     belongs to a voice when the first word of its name is the voice's name
     ("Soprano", "tenor 2", "Bass\\rContinuo"). Each voice needs exactly one
     such group; the other groups are dropped.
   * "top_n": the `num_voices` groups with the highest mean pitch, highest
     first; the other groups are dropped.
   * "split": the notes of all groups are dealt out to the voices by pitch
     order at each onset (below). For a piano, or any instrument that plays
     several voices at once.
   * "auto": "satb" when every voice has exactly one group named after it,
     else "top_n" when there are at least `num_voices` groups, else "split".
   * "strict": the rule of `polyframe.data.voices.select_voices`, for
     music that is already voice separated: groups named after the voices
     as in "satb", else exactly `num_voices` groups (parts, or instrument
     numbers when all notes share one part). A voice that sings two notes
     at once, or none, makes the piece unusable ("unusable voices"): the
     piece is skipped, never thinned; no note is dropped for its pitch or
     shortened. Steps 1 and 3 do not apply beyond zero-length notes.

   Groups without notes (after cleaning, for "top_n") take no part.
3. One note at a time ("satb", "top_n"). Of notes that start together in one
   voice, the upper half of the voices keeps the highest and the lower half
   the lowest (the melody and the bass line); the others are dropped. A note
   still sounding when the next note of its voice starts is cut short there
   (legato in played MIDI) and counted as shortened, not dropped.

Splitting by pitch order: onsets are visited in time order, and a voice is
free once its last note has ended. The notes starting at an onset go to the
free voices in pitch order, the highest to the lowest-numbered free voice.
When more notes start than voices are free, the outermost notes are kept
(alternately the highest and the lowest left) and the inner ones dropped.
Chords and chorale-like textures come out voice by voice; crossing voices,
or a note held over the next onset, can move a line to another voice.

A file is unusable (`UnusableFileError`) when it has no notes, only drum
notes, its voices cannot be found, a voice is left without notes, or a note
ends more than `MAX_QUARTERS` quarter notes in: no music lasts that long,
while a corrupt duration or delta time easily does, and encoders would spend
memory on every step of it.
"""

import collections
import dataclasses
import fractions
import itertools
from typing import Dict, List, Optional, Sequence, Set, Tuple

from note_seq.protobuf import music_pb2

from polyframe.data import skip_reasons
from polyframe.data.skip_reasons import UnusableFileError
from polyframe.data.timing import TempoMap
from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.voices import (DEFAULT_VOICE_NAMES, DROPPED_NOT_A_VOICE,
                                   DROPPED_ZERO_LENGTH, select_voices)
from polyframe.errors import UserFacingError

RULES = ("auto", "satb", "top_n", "split", "strict")

DROPPED_DRUM = "drum note"
DROPPED_OUT_OF_RANGE = "pitch outside the kept range"
DROPPED_CHORD = "chord note within one voice"
DROPPED_TOO_MANY = "more notes at once than voices"
SHORTENED_BY_NEXT = "cut short where the next note of its voice starts"
# Almost 14 hours at 120 qpm.
MAX_QUARTERS = 100_000


@dataclasses.dataclass
class VoicedPiece:
    """A piece reduced to its voices, and what that cost.

    Attributes:
        sequence: Voices in `note.instrument` 0..num_voices-1, highest first.
        notes_dropped: Counts of dropped notes, by reason.
        notes_shortened: Counts of kept notes that were cut short, by reason.
    """

    sequence: music_pb2.NoteSequence
    notes_dropped: Dict[str, int]
    notes_shortened: Dict[str, int]


@dataclasses.dataclass
class _Note:
    """A note with its exact position in quarters."""

    start: fractions.Fraction
    end: fractions.Fraction
    source: music_pb2.NoteSequence.Note
    end_time: float

    @property
    def pitch(self) -> int:
        return self.source.pitch


@dataclasses.dataclass(frozen=True)
class VoiceRule:
    """How groups become voices (see the module docstring).

    Args:
        rule: "auto", "satb", "top_n", "split" or "strict".
        num_voices: How many voices every piece gets.
        voice_names: Names of the voices, highest first, for "satb" and
            "auto". None: soprano, alto, tenor, bass when `num_voices` is 4,
            otherwise none (then "satb" cannot be used).
        min_pitch: Lowest MIDI pitch kept.
        max_pitch: Highest MIDI pitch kept.

    Raises:
        UserFacingError: for an unknown rule, a pitch range outside
            0..127, or voice names that do not fit `num_voices`.
    """

    rule: str = "auto"
    num_voices: int = 4
    voice_names: Optional[Tuple[str, ...]] = None
    min_pitch: int = 21
    max_pitch: int = 108

    def __post_init__(self):
        if self.rule not in RULES:
            raise UserFacingError(
                f"unknown voice rule {self.rule!r}; choose one of "
                f"{', '.join(RULES)}.")
        if self.num_voices < 1:
            raise UserFacingError(
                f"num_voices must be at least 1, not {self.num_voices}.")
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise UserFacingError(
                f"pitch range {self.min_pitch}..{self.max_pitch} must lie "
                "within MIDI pitches 0..127.")
        names = self.voice_names
        if names is None:
            names = DEFAULT_VOICE_NAMES if self.num_voices == 4 else ()
        names = tuple(str(name).lower() for name in names)
        if names and len(names) != self.num_voices:
            raise UserFacingError(
                f"{len(names)} voice names {names} given for "
                f"{self.num_voices} voices.")
        if self.rule == "satb" and not names:
            raise UserFacingError(
                f"voices='satb' finds voices by name, and {self.num_voices} "
                "voices have no default names; give voice_names, or use "
                "voices='top_n' or 'split'.")
        object.__setattr__(self, "voice_names", names)

    def settings(self) -> Dict[str, object]:
        """Returns the rule as JSON-serialisable settings, for cache keys."""
        settings = dataclasses.asdict(self)
        settings["voice_names"] = list(self.voice_names)
        return settings

    def apply(self, sequence: music_pb2.NoteSequence,
              group_noun: str = "part") -> VoicedPiece:
        """Returns the piece reduced to its voices.

        Args:
            sequence: A parsed file, groups in `note.part` and named in
                `part_infos`; it is not modified.
            group_noun: What a group is called in messages ("instrument").

        Raises:
            UnusableFileError: if the file has no notes, only drum notes, no
                voices under this rule, a voice ends up without notes, or a
                note ends beyond `MAX_QUARTERS`.
        """
        if self.rule == "strict":
            return self._strict(sequence)
        dropped = collections.Counter()
        shortened = collections.Counter()
        notes, sounding_groups = self._clean(sequence, dropped)
        names = {info.part: info.name for info in sequence.part_infos}
        by_group = collections.defaultdict(list)
        for note in notes:
            by_group[note.source.part].append(note)

        chosen = None
        if self.rule in ("satb", "auto") and self.voice_names:
            chosen, problem = self._groups_by_name(sounding_groups, names,
                                                   group_noun)
            if chosen is None and self.rule == "satb":
                raise UnusableFileError(skip_reasons.NO_VOICES, problem)
        if chosen is None and (self.rule == "top_n" or (
                self.rule == "auto" and len(by_group) >= self.num_voices)):
            chosen = self._groups_by_pitch(by_group, group_noun)

        if chosen is not None:
            for group, group_notes in by_group.items():
                if group not in chosen:
                    dropped[DROPPED_NOT_A_VOICE] += len(group_notes)
            voices = [
                self._one_at_a_time(by_group.get(group, []), voice, dropped,
                                    shortened)
                for voice, group in enumerate(chosen)]
            labels = [names.get(group, "") for group in chosen]
        else:
            voices = self._split(notes, dropped)
            group_names = {names.get(group, "") for group in by_group}
            labels = [next(iter(group_names)) if len(group_names) == 1 else
                      ""] * self.num_voices
        self._check_not_empty(voices, labels, chosen is None, group_noun,
                              dropped)
        return VoicedPiece(self._sequence(sequence, voices, labels),
                           dict(dropped), dict(shortened))

    def _strict(self, sequence: music_pb2.NoteSequence) -> VoicedPiece:
        try:
            voices, dropped = select_voices(sequence, self.num_voices,
                                            self.voice_names)
        except UnusableFileError:
            raise
        except UnusableSequenceError as error:
            raise UnusableFileError(skip_reasons.UNUSABLE_VOICES,
                                    str(error)) from None
        return VoicedPiece(voices, dropped, {})

    def _clean(self, sequence: music_pb2.NoteSequence,
               dropped: collections.Counter) -> Tuple[List[_Note], Set[int]]:
        """Drops drum, zero-length and out-of-range notes.

        Returns:
            The kept notes, and every group that has a non-drum note.

        Raises:
            UnusableFileError: if no note is left, or a note ends beyond
                `MAX_QUARTERS`.
        """
        if not sequence.notes:
            raise UnusableFileError(skip_reasons.NO_NOTES,
                                    "the file holds no notes")
        tempo_map = TempoMap(sequence)
        kept, groups = [], set()
        for note in sequence.notes:
            if note.is_drum:
                dropped[DROPPED_DRUM] += 1
                continue
            groups.add(note.part)
            start = tempo_map.to_quarters(note.start_time)
            end = tempo_map.to_quarters(note.end_time)
            if end > MAX_QUARTERS:
                raise UnusableFileError(
                    skip_reasons.TOO_LONG,
                    f"a note ends {float(end):,.0f} quarter notes in, beyond "
                    f"{MAX_QUARTERS:,}")
            if end <= start:
                dropped[DROPPED_ZERO_LENGTH] += 1
            elif not self.min_pitch <= note.pitch <= self.max_pitch:
                dropped[DROPPED_OUT_OF_RANGE] += 1
            else:
                kept.append(_Note(start, end, note, note.end_time))
        if not groups:
            raise UnusableFileError(
                skip_reasons.DRUMS_ONLY,
                f"all {len(sequence.notes)} note(s) are drum notes (MIDI "
                "channel 10)")
        if not kept:
            raise UnusableFileError(
                skip_reasons.NOTHING_LEFT,
                f"every note was dropped ({_counts(dropped)}; pitches are "
                f"kept in {self.min_pitch}..{self.max_pitch})")
        return kept, groups

    def _groups_by_name(self, groups: Set[int], names: Dict[int, str],
                        noun: str) -> Tuple[Optional[List[int]], str]:
        """Returns `(group of every voice, "")` or `(None, why not)`."""
        candidates = {voice: [] for voice in self.voice_names}
        for group in sorted(groups):
            words = names.get(group, "").split()
            if words and words[0].lower() in candidates:
                candidates[words[0].lower()].append(group)
        listing = _listing(groups, names, noun)
        if not any(candidates.values()):
            return None, f"no {noun} is named after a voice ({listing})"
        for voice, found in candidates.items():
            if not found:
                return None, f"no {noun} is named {voice!r} ({listing})"
            if len(found) > 1:
                quoted = ", ".join(repr(names[group]) for group in found)
                return None, (f"{len(found)} {noun}s could be the {voice}: "
                              f"{quoted}")
        return [candidates[voice][0] for voice in self.voice_names], ""

    def _groups_by_pitch(self, by_group: Dict[int, List[_Note]],
                         noun: str) -> List[int]:
        """Returns the `num_voices` groups of highest mean pitch, highest
        first."""
        if len(by_group) < self.num_voices:
            raise UnusableFileError(
                skip_reasons.NO_VOICES,
                f"{len(by_group)} {noun}(s) with notes for {self.num_voices} "
                f"voices (voices='{self.rule}'; 'split' deals the notes of "
                "fewer ones out to the voices)")

        def mean_pitch(group: int) -> float:
            return sum(n.pitch for n in by_group[group]) / len(by_group[group])

        order = sorted(by_group, key=lambda group: (-mean_pitch(group), group))
        return order[:self.num_voices]

    def _one_at_a_time(self, notes: List[_Note], voice: int,
                       dropped: collections.Counter,
                       shortened: collections.Counter) -> List[_Note]:
        """Returns the voice's notes with chords thinned and overlaps cut."""
        keep_highest = voice < (self.num_voices + 1) // 2
        line = []
        ordered = sorted(notes, key=lambda n: (n.start, n.pitch))
        for start, together in itertools.groupby(ordered, key=_start):
            together = list(together)
            if len(together) > 1:
                dropped[DROPPED_CHORD] += len(together) - 1
            kept = together[-1] if keep_highest else together[0]
            if line and line[-1].end > start:
                line[-1].end = start
                line[-1].end_time = kept.source.start_time
                shortened[SHORTENED_BY_NEXT] += 1
            line.append(kept)
        return line

    def _split(self, notes: List[_Note],
               dropped: collections.Counter) -> List[List[_Note]]:
        """Deals the notes out to the voices by pitch order at each onset."""
        voices = [[] for _ in range(self.num_voices)]
        free_from = [fractions.Fraction(0)] * self.num_voices
        ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
        for start, together in itertools.groupby(ordered, key=_start):
            together = list(together)
            free = [v for v in range(self.num_voices) if free_from[v] <= start]
            if len(together) > len(free):
                dropped[DROPPED_TOO_MANY] += len(together) - len(free)
                together = _outermost(together, len(free))
            for voice, note in zip(free, together):
                voices[voice].append(note)
                free_from[voice] = note.end
        return voices

    def _check_not_empty(self, voices: List[List[_Note]], labels: List[str],
                         split: bool, noun: str,
                         dropped: collections.Counter) -> None:
        """Raises UnusableFileError naming the voices left without notes."""
        empty = [voice for voice, line in enumerate(voices) if not line]
        if not empty:
            return
        described = []
        for voice in empty:
            name = (self.voice_names[voice] if self.voice_names else
                    f"voice {voice}")
            if labels[voice] and not split:
                name += f" ({noun} {labels[voice]!r})"
            described.append(name)
        if split:
            how = (f"dealt out by pitch order, the notes fill only "
                   f"{self.num_voices - len(empty)} of {self.num_voices} "
                   "voices")
        else:
            how = f"notes dropped: {_counts(dropped) or 'none'}"
        names = (", ".join(described[:-1]) + " and " + described[-1]
                 if len(described) > 1 else described[0])
        raise UnusableFileError(skip_reasons.NOTHING_LEFT,
                                f"no notes for the {names} ({how})")

    @staticmethod
    def _sequence(sequence: music_pb2.NoteSequence, voices: List[List[_Note]],
                  labels: List[str]) -> music_pb2.NoteSequence:
        """Returns `sequence` with only the voices' notes, in `instrument`,
        and the name of the group each voice came from (if any)."""
        result = music_pb2.NoteSequence()
        result.CopyFrom(sequence)
        del result.notes[:]
        del result.part_infos[:]
        del result.instrument_infos[:]
        del result.control_changes[:]
        del result.pitch_bends[:]
        placed = sorted(((note.source.start_time, voice, note)
                         for voice, line in enumerate(voices)
                         for note in line), key=lambda item: item[:2])
        for _, voice, note in placed:
            kept = result.notes.add()
            kept.CopyFrom(note.source)
            kept.end_time = note.end_time
            kept.instrument = voice
            kept.part = 0
        for voice, label in enumerate(labels):
            if label:
                result.instrument_infos.add(instrument=voice, name=label)
        result.total_time = max(note.end_time for note in result.notes)
        return result


def _outermost(notes: Sequence[_Note], count: int) -> List[_Note]:
    """Returns `count` of `notes` (highest first), alternately the highest
    and the lowest left, still highest first."""
    low, high, picked = 0, len(notes) - 1, []
    while len(picked) < count:
        picked.append(low)
        low += 1
        if len(picked) < count:
            picked.append(high)
            high -= 1
    return [notes[i] for i in sorted(picked)]


def _start(note: _Note) -> fractions.Fraction:
    return note.start


def _listing(groups: Set[int], names: Dict[int, str], noun: str) -> str:
    named = [repr(names[group]) for group in sorted(groups)
             if names.get(group, "").strip()]
    if not named:
        return f"the {noun}s have no names"
    return f"{noun}s: {', '.join(named)}"


def _counts(counter: collections.Counter) -> str:
    return ", ".join(f"{count} {reason}"
                     for reason, count in sorted(counter.items()))
