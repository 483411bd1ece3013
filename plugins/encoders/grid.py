"""Events on a fixed time grid: one event per step, one pitch per voice.

Time is cut into steps of `1 / steps_per_quarter` quarter notes (16th notes
by default), the raster of the JSB Chorales benchmark. Event t covers step t;
at every event each voice carries its sounding pitch or REST. The model
predicts the voices of a step in voice order (soprano, alto, tenor, bass
for chorales), the factorisation the published JSB results use.

Token ids. `pitch`: 0 START, 1 REST, 2.. MIDI pitches `min_pitch` ..
`max_pitch`. The range is fixed, not learned by `fit`: the default, a full
piano (21..108), is the range of the JSB files, so every corpus gets the same
vocabulary and per-token NLLs stay comparable across runs and data sets.
With `held_field=True` a second field, `articulation`, says whether a note is
struck at the step: 0 START, 1 STRUCK (a note begins here), 2 HELD (nothing
is struck: the voice's note goes on, or the voice is silent).

Policies:

* Quantization. Note onsets and offsets are rounded to the nearest grid
  step (a tie rounds up), both with the same rule, so notes that did not
  overlap still do not. Notes whose onset and offset round to the same step
  (some notes shorter than a step: a 32nd after a dotted 16th, the middle
  note of a 16th-note triplet) are dropped rather than lengthened, which
  would push the next note. Moved and dropped notes are counted in
  `adjustments`; the first of each kind is logged, and `describe` gives the
  totals.
* Length. A piece lasts until its `total_time` or its last note, whichever
  is later (rounded the same way), so trailing silence is kept as REST steps.
* A pitch outside [`min_pitch`, `max_pitch`], a voice outside
  0..num_voices-1, or a voice that plays two notes at once makes the piece
  unusable (`UnusableSequenceError`).

What the grid cannot represent: rhythms finer than the grid (tuplets,
32nd notes) come back quantized as above; with `held_field=False`, repeated
notes of equal pitch (a note struck again right where the same pitch ends)
decode as one long note, and such merges are counted in `adjustments`.

Decoding accepts any ids (an END event and everything after it are left
out). A voice starts a note at a step whose pitch id is
a pitch and differs from the previous step's, or that is marked STRUCK; the
note lasts while the same pitch id follows without STRUCK. REST, START and
ids outside the vocabulary are silence; articulation ids other than STRUCK
start nothing. For encoded pieces this reproduces every grid-aligned note
exactly (repeated notes only with `held_field=True`).
"""

import collections
import fractions
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.clock import StepClock
from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.timing import TempoMap, quarters_to_seconds
from polyframe.encoding import (EventEncoder, Field, check_note,
                                shift_pitch_ids)
from polyframe.registries import ENCODERS

Fraction = fractions.Fraction

REST_ID = 1
FIRST_PITCH_ID = 2
STRUCK_ID = 1
HELD_ID = 2
NUM_ARTICULATION_IDS = 3

VELOCITY = 80
# Matches note_seq's standard resolution, so decoded pieces convert to MIDI.
TICKS_PER_QUARTER = 220

MOVED = "notes moved to the grid"
DROPPED = "notes shorter than a step dropped"
MERGED = "repeated notes merged into one"

# A note on the grid: first step, end step (exclusive) and MIDI pitch.
GridNote = Tuple[int, int, int]

# Names the encoder in the messages of configuration errors.
_OWNER = "encoders.grid"


@ENCODERS.register("grid")
class GridEncoder(EventEncoder):
    """Encodes every voice's pitch (or silence) at every step of a grid.

    Args:
        num_voices: Voices per event; notes carry their voice in `instrument`.
        steps_per_quarter: Grid steps per quarter note (4: 16th notes).
        min_pitch: Lowest MIDI pitch in the pitch vocabulary.
        max_pitch: Highest MIDI pitch in the pitch vocabulary.
        held_field: Adds the `articulation` field, which tells a repeated
            note from a held one. Leave it off for the JSB benchmark files,
            which do not make that distinction.
        end_marker: Adds an END token to every field; pieces then end with
            an END event.
        voices_are_parts: False where the voices are the slots of a frame
            (a piano roll's pitches, highest first) rather than parts a
            listener follows: the musical statistics then leave out voice
            statistics such as ranges and parallels
            (`EventEncoder.voices_are_parts`).

    Attributes:
        adjustments: Counts of the changes `encode` made to fit notes on the
            grid, by kind (`MOVED`, `DROPPED`, `MERGED`).

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`encoders.grid.<argument>`): `num_voices` and
            `steps_per_quarter` must be whole numbers >= 1, `min_pitch` and
            `max_pitch` whole numbers in 0..127 with `min_pitch <=
            max_pitch`, `held_field`, `end_marker` and `voices_are_parts`
            True or False.
    """

    def __init__(self, num_voices: int = 4, steps_per_quarter: int = 4,
                 min_pitch: int = 21, max_pitch: int = 108,
                 held_field: bool = False, end_marker: bool = True,
                 voices_are_parts: bool = True):
        end_marker = checks.boolean(_OWNER, "end_marker", end_marker)
        self._voices_are_parts = checks.boolean(
            _OWNER, "voices_are_parts", voices_are_parts)
        self._configure(num_voices, steps_per_quarter, min_pitch, max_pitch,
                        held_field)
        self.end_marker = end_marker
        self.adjustments = collections.Counter()
        self._reported = set()

    @property
    def num_voices(self) -> int:
        return self._num_voices

    @property
    def voices_are_parts(self) -> bool:
        return self._voices_are_parts and self.num_voices > 1

    @property
    def token_fields(self) -> Sequence[Field]:
        pitch = Field("pitch",
                      FIRST_PITCH_ID + self.max_pitch - self.min_pitch + 1)
        if self.held_field:
            return (pitch, Field("articulation", NUM_ARTICULATION_IDS))
        return (pitch,)

    def step_seconds(self, qpm: float = 120.0) -> float:
        """Returns the length of one grid step in seconds at `qpm`."""
        return quarters_to_seconds(Fraction(1, self.steps_per_quarter), qpm)

    def encode(self, sequence: music_pb2.NoteSequence) -> np.ndarray:
        """Returns int32 events `[num_steps, num_voices, len(fields)]`.

        Raises:
            UnusableSequenceError: if a note has an out-of-range pitch or
                voice or a negative time, a voice plays two notes at once, or
                no note is left on the grid.
        """
        voices, num_steps = self._grid_notes(sequence)
        events = np.empty((num_steps, self.num_voices,
                           len(self.token_fields)),
                          dtype=np.int32)
        events[..., 0] = REST_ID
        if self.held_field:
            events[..., 1] = HELD_ID
        for voice, notes in enumerate(voices):
            previous_end, previous_pitch = None, None
            for start, end, pitch in notes:
                events[start:end, voice, 0] = (FIRST_PITCH_ID + pitch -
                                               self.min_pitch)
                if self.held_field:
                    events[start, voice, 1] = STRUCK_ID
                elif start == previous_end and pitch == previous_pitch:
                    self._count(MERGED)
                previous_end, previous_pitch = end, pitch
        return events

    def decode(self, events: np.ndarray,
               qpm: float = 120.0) -> music_pb2.NoteSequence:
        """Returns the notes of `events` (see the module docstring).

        Args:
            events: Ids `[num_steps, num_voices, len(fields)]`; any values.
            qpm: Tempo of the result, quarter notes per minute.

        Returns:
            A NoteSequence with one tempo, notes ordered by onset and voice,
            voices in `instrument`, and `total_time` at the end of the last
            step.

        Raises:
            ValueError: if `events` does not have that shape.
        """
        events = self.until_end(self._checked(events))
        pitches = self._pitches(events)
        starts = self.note_starts(events)
        num_steps = len(events)
        notes = []
        for voice in range(self.num_voices):
            for start in np.flatnonzero(starts[:, voice]).tolist():
                end = start + 1
                while (end < num_steps and not starts[end, voice] and
                       pitches[end, voice] == pitches[start, voice]):
                    end += 1
                notes.append((start, voice, int(pitches[start, voice]), end))
        step = self.step_seconds(qpm)
        sequence = music_pb2.NoteSequence()
        sequence.ticks_per_quarter = TICKS_PER_QUARTER
        sequence.tempos.add(time=0.0, qpm=qpm)
        for start, voice, pitch, end in sorted(notes):
            sequence.notes.add(pitch=pitch, velocity=VELOCITY,
                               instrument=voice, start_time=start * step,
                               end_time=end * step)
        sequence.total_time = num_steps * step
        return sequence

    def note_starts(self, events: np.ndarray) -> np.ndarray:
        """Returns bool `[..., num_steps, num_voices]`: where notes start.

        A note starts where a voice has a pitch that differs from its pitch
        (or silence) at the step before, or a pitch marked STRUCK. The first
        step of `events` is compared with silence.
        """
        events = np.asarray(events)
        pitches = self._pitches(events)
        before = np.concatenate(
            [np.full_like(pitches[..., :1, :], -1), pitches[..., :-1, :]],
            axis=-2)
        starts = (pitches >= 0) & (pitches != before)
        if self.held_field:
            starts |= (pitches >= 0) & (events[..., 1] == STRUCK_ID)
        return starts

    def event_start_times(self, events: np.ndarray,
                          qpm: float = 120.0) -> np.ndarray:
        return np.arange(len(events) + 1) * self.step_seconds(qpm)

    @property
    def events_are_frames(self) -> bool:
        return True

    def clock(self) -> StepClock:
        """One event per step: a tick is a grid step."""
        return StepClock(self.steps_per_quarter)

    def transposed(self, events: np.ndarray,
                   semitones: int) -> Optional[np.ndarray]:
        """See `EventEncoder.transposed`: pitch ids move, nothing else does."""
        return shift_pitch_ids(events, semitones, FIRST_PITCH_ID,
                               self.max_pitch - self.min_pitch + 1)

    def pitch_id(self, pitch: int) -> Optional[int]:
        if not self.min_pitch <= pitch <= self.max_pitch:
            return None
        return FIRST_PITCH_ID + pitch - self.min_pitch

    def rest_tokens(self, quarters) -> Optional[np.ndarray]:
        steps = Fraction(quarters) * self.steps_per_quarter
        if steps.denominator != 1:
            return None
        tokens = [REST_ID] + ([HELD_ID] if self.held_field else [])
        return np.array(tokens, np.int32)

    def describe(self) -> str:
        """One line for logs: fields, vocabularies and the grid adjustments."""
        counts = ", ".join(f"{count} {kind}"
                           for kind, count in sorted(self.adjustments.items()))
        return (f"{super().describe()}, {self.steps_per_quarter} steps per "
                f"quarter; {counts or 'every note was on the grid'}")

    def get_state(self) -> Dict[str, Any]:
        return {
            "num_voices": self.num_voices,
            "steps_per_quarter": self.steps_per_quarter,
            "min_pitch": self.min_pitch,
            "max_pitch": self.max_pitch,
            "held_field": self.held_field,
            "end_marker": self.end_marker,
            "voices_are_parts": self.voices_are_parts,
        }

    def set_state(self, state: Dict[str, Any]) -> None:
        """Restores `get_state`'s output.

        Raises:
            ValueError: if the state is malformed.
        """
        # Directories saved before END existed have no "end_marker"; those
        # saved before "voices_are_parts" keep the configured value.
        missing = set(self.get_state()) - set(state) - {"end_marker",
                                                        "voices_are_parts"}
        if missing:
            raise ValueError(f"encoder state lacks {sorted(missing)}")
        self._configure(state["num_voices"], state["steps_per_quarter"],
                        state["min_pitch"], state["max_pitch"],
                        state["held_field"])
        self.end_marker = bool(state.get("end_marker", False))
        self._voices_are_parts = bool(state.get("voices_are_parts",
                                                self._voices_are_parts))

    def _configure(self, num_voices: int, steps_per_quarter: int,
                   min_pitch: int, max_pitch: int, held_field: bool) -> None:
        """Checks the settings (see the class docstring), then sets them."""
        num_voices = checks.integer(_OWNER, "num_voices", num_voices,
                                    minimum=1)
        steps_per_quarter = checks.integer(
            _OWNER, "steps_per_quarter", steps_per_quarter, minimum=1)
        min_pitch, max_pitch = checks.pitch_range(_OWNER, min_pitch, max_pitch)
        held_field = checks.boolean(_OWNER, "held_field", held_field)
        self._num_voices = num_voices
        self.steps_per_quarter = steps_per_quarter
        self.min_pitch = min_pitch
        self.max_pitch = max_pitch
        self.held_field = held_field

    def _checked(self, events: np.ndarray) -> np.ndarray:
        events = np.asarray(events, dtype=np.int64)
        expected = (self.num_voices, len(self.token_fields))
        if events.ndim != 3 or events.shape[1:] != expected:
            raise ValueError(f"events of shape {events.shape}; expected "
                             f"[num_steps, {expected[0]}, {expected[1]}]")
        return events

    def _pitches(self, events: np.ndarray) -> np.ndarray:
        """Returns the MIDI pitch of every voice and step, -1 for silence."""
        ids = np.asarray(events)[..., 0].astype(np.int64)
        is_pitch = (ids >= FIRST_PITCH_ID) & (ids < self.token_fields[0].vocab_size)
        return np.where(is_pitch, ids - FIRST_PITCH_ID + self.min_pitch, -1)

    def _to_step(self, quarters: Fraction) -> int:
        return math.floor(quarters * self.steps_per_quarter + Fraction(1, 2))

    def _grid_notes(
            self,
            sequence: music_pb2.NoteSequence) -> Tuple[List[List[GridNote]],
                                                       int]:
        """Returns every voice's notes on the grid, sorted, and the length.

        Raises:
            UnusableSequenceError: see `encode`.
        """
        tempo_map = TempoMap(sequence)
        voices = [[] for _ in range(self.num_voices)]
        for note in sequence.notes:
            check_note(note, self.min_pitch, self.max_pitch, self.num_voices)
            start = tempo_map.to_quarters(note.start_time)
            end = tempo_map.to_quarters(note.end_time)
            if start < 0 or end < start:
                raise UnusableSequenceError(
                    f"a note in voice {note.instrument} spans quarters "
                    f"{start}..{end}; notes need a length from 0 on")
            first, last = self._to_step(start), self._to_step(end)
            if (start * self.steps_per_quarter != first or
                    end * self.steps_per_quarter != last):
                self._count(MOVED)
            if last <= first:
                self._count(DROPPED)
                continue
            voices[note.instrument].append((first, last, note.pitch))
        if not any(voices):
            raise UnusableSequenceError(
                "the piece has no notes" if not sequence.notes else
                "no note of the piece lasts a grid step")
        for voice, notes in enumerate(voices):
            notes.sort()
            for (_, end, _), (start, _, _) in zip(notes, notes[1:]):
                if start < end:
                    raise UnusableSequenceError(
                        f"voice {voice} plays two notes at once at quarter "
                        f"{Fraction(start, self.steps_per_quarter)}")
        last_note_end = max(end for notes in voices for _, end, _ in notes)
        total = self._to_step(tempo_map.to_quarters(sequence.total_time))
        return voices, max(last_note_end, total)

    def _count(self, kind: str) -> None:
        """Counts an adjustment; the first of each kind is logged."""
        self.adjustments[kind] += 1
        if kind not in self._reported:
            self._reported.add(kind)
            logging.info(
                "Grid encoder (%d steps per quarter): %s; see the grid "
                "encoder's docstring for the policy. Further cases are "
                "counted in GridEncoder.adjustments.", self.steps_per_quarter,
                kind)
