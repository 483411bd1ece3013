"""One stream of note events, for music whose voices are unknown.

Time is a grid of `1 / steps_per_quarter` quarters (16th notes by default).
Every step lists the pitches sounding in it, highest first, each as
NEW_NOTE (struck at this step) or CONTINUED_NOTE (held from the step
before), and then STEP_END; the piece ends with END. This is the polyphony
encoding of Magenta's Polyphony RNN: it holds any number of simultaneous
notes, and the model predicts one token at a time.

Token ids (one voice, one field, `event`): 0 START (input only), 1 END,
2 STEP_END, then NEW_NOTE for `min_pitch`..`max_pitch`, then CONTINUED_NOTE
for the same pitches.

What it cannot represent: which voice (instrument) played a note — all notes
decode into voice 0; velocities; rhythms finer than the grid (onsets and
offsets are rounded to the nearest step, a tie rounding up, and notes that
become empty are dropped); two overlapping notes of the same pitch (they
merge into one). Moved, dropped and merged notes are counted in
`adjustments`. A pitch outside the range makes the piece unusable.

The piece's time is the number of STEP_END tokens so far (`clock()`), so
END can wait for a minimum length (`SampleConfig.min_quarters`) and a model
can read event times. The one voice keeps no time of its own: nothing can
be forced into a voice (harmonising), and per-voice rules such as
`constraints.max_run` refuse the stream (`constraints.stream_max_run`
follows every pitch instead).

Decoding accepts any ids: NEW_NOTE ends a sounding note of that pitch and
starts another; CONTINUED_NOTE of a pitch that is not sounding starts it;
a sounding pitch that a step does not mention ends at that step; END (or the
end of the array) finishes the step it falls in, and closes every note.
Encoded pieces decode exactly, up to the limits above.
"""

import collections
import fractions
import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.clock import TokenStepClock
from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.timing import TempoMap, quarters_to_seconds
from polyframe.encoding import EventEncoder, Field, check_note
from polyframe.registries import ENCODERS

END_ID = 1
STEP_END_ID = 2
FIRST_NOTE_ID = 3
VELOCITY = 80
TICKS_PER_QUARTER = 220

MOVED = "notes moved to the grid"
DROPPED = "notes shorter than a step dropped"
MERGED = "overlapping notes of one pitch merged"


@ENCODERS.register("event_stream")
class EventStreamEncoder(EventEncoder):
    """Encodes all notes as one stream of note-on/continue/step-end tokens.

    Args:
        steps_per_quarter: Grid steps per quarter note (4: 16th notes).
        min_pitch: Lowest MIDI pitch in the vocabulary.
        max_pitch: Highest MIDI pitch in the vocabulary.

    Attributes:
        adjustments: Counts of notes moved, dropped or merged by `encode`.

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`encoders.event_stream.<argument>`):
            `steps_per_quarter` must be a whole number >= 1, `min_pitch` and
            `max_pitch` whole numbers in 0..127 with `min_pitch <=
            max_pitch`.
    """

    def __init__(self, steps_per_quarter: int = 4, min_pitch: int = 21,
                 max_pitch: int = 108):
        owner = "encoders.event_stream"
        self.steps_per_quarter = checks.integer(
            owner, "steps_per_quarter", steps_per_quarter, minimum=1)
        self.min_pitch, self.max_pitch = checks.pitch_range(
            owner, min_pitch, max_pitch)
        self.adjustments = collections.Counter()

    @property
    def num_voices(self) -> int:
        return 1

    @property
    def voice_names(self) -> Sequence[str]:
        return ("Polyphony",)

    @property
    def _num_pitches(self) -> int:
        return self.max_pitch - self.min_pitch + 1

    @property
    def token_fields(self) -> Sequence[Field]:
        return (Field("event", FIRST_NOTE_ID + 2 * self._num_pitches),)

    @property
    def end_ids(self) -> Sequence[int]:
        """END is one of the stream's own tokens; `encode` already ends with
        it, so the pipeline adds no row."""
        return (END_ID,)

    def sounding_pitches(self) -> np.ndarray:
        """A note's pitch for both its struck and its continued token."""
        pitches = np.full(self.token_fields[0].vocab_size, -1, np.int32)
        span = np.arange(self.min_pitch, self.max_pitch + 1, dtype=np.int32)
        pitches[FIRST_NOTE_ID:FIRST_NOTE_ID + self._num_pitches] = span
        pitches[FIRST_NOTE_ID + self._num_pitches:] = span
        return pitches

    def encode(self, sequence: music_pb2.NoteSequence) -> np.ndarray:
        """Returns int32 tokens `[num_tokens, 1, 1]`, ending with END.

        Raises:
            UnusableSequenceError: if a pitch is out of range or no note
                lasts a grid step.
        """
        notes, num_steps = self._grid_notes(sequence)
        sounding: List[Dict[int, bool]] = [{} for _ in range(num_steps)]
        for start, end, pitch in notes:
            for step in range(start, end):
                sounding[step][pitch] = step == start
        tokens = []
        for step_notes in sounding:
            for pitch in sorted(step_notes, reverse=True):
                offset = 0 if step_notes[pitch] else self._num_pitches
                tokens.append(FIRST_NOTE_ID + offset + pitch - self.min_pitch)
            tokens.append(STEP_END_ID)
        tokens.append(END_ID)
        return np.asarray(tokens, np.int32).reshape(-1, 1, 1)

    def decode(self, events: np.ndarray,
               qpm: float = 120.0) -> music_pb2.NoteSequence:
        """Returns the notes of `events` (any ids), all in voice 0."""
        step_seconds = self._step_seconds(qpm)
        sequence = music_pb2.NoteSequence(ticks_per_quarter=TICKS_PER_QUARTER)
        sequence.tempos.add(time=0.0, qpm=qpm)
        found: List[Tuple[int, int, int]] = []
        active: Dict[int, int] = {}
        mentioned = set()
        step = 0

        def close(pitch: int, end: int) -> None:
            found.append((active.pop(pitch), end, pitch))

        for token in np.asarray(events).reshape(-1).tolist():
            if token == END_ID:
                break
            if token == STEP_END_ID:
                for pitch in [p for p in active if p not in mentioned]:
                    close(pitch, step)
                mentioned = set()
                step += 1
                continue
            index = token - FIRST_NOTE_ID
            if not 0 <= index < 2 * self._num_pitches:
                continue  # START or out of vocabulary: nothing happens.
            is_new = index < self._num_pitches
            pitch = self.min_pitch + index % self._num_pitches
            if pitch in mentioned:
                continue
            if is_new and pitch in active:
                close(pitch, step)
            active.setdefault(pitch, step)
            mentioned.add(pitch)
        # END (or the array's end) inside a step finishes that step: what it
        # named sounds through it, the rest ended where it began.
        for pitch in list(active):
            close(pitch, step + 1 if pitch in mentioned else step)
        end_step = step + 1 if mentioned else step
        for start, end, pitch in sorted(found):
            sequence.notes.add(pitch=pitch, velocity=VELOCITY, instrument=0,
                               start_time=start * step_seconds,
                               end_time=end * step_seconds)
        sequence.total_time = end_step * step_seconds
        return sequence

    def clock(self) -> TokenStepClock:
        """The piece's time in grid steps (STEP_END tokens so far); the
        stream keeps no time per voice."""
        return TokenStepClock(self.steps_per_quarter, STEP_END_ID)

    def note_starts(self, events: np.ndarray) -> np.ndarray:
        ids = np.asarray(events)[..., 0]
        return (ids >= FIRST_NOTE_ID) & (ids < FIRST_NOTE_ID +
                                         self._num_pitches)

    def event_start_times(self, events: np.ndarray,
                          qpm: float = 120.0) -> np.ndarray:
        ids = np.asarray(events).reshape(-1)
        steps = np.concatenate([[0], np.cumsum(ids == STEP_END_ID)])
        return steps * self._step_seconds(qpm)

    def get_state(self) -> Dict[str, Any]:
        return {"steps_per_quarter": self.steps_per_quarter,
                "min_pitch": self.min_pitch, "max_pitch": self.max_pitch}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.__init__(**state)

    def _step_seconds(self, qpm: float) -> float:
        return quarters_to_seconds(
            fractions.Fraction(1, self.steps_per_quarter), qpm)

    def _to_step(self, quarters: fractions.Fraction) -> int:
        return math.floor(quarters * self.steps_per_quarter +
                          fractions.Fraction(1, 2))

    def _grid_notes(self, sequence):
        """Returns `(start, end, pitch)` steps, merged per pitch, and length."""
        tempo_map = TempoMap(sequence)
        by_pitch = collections.defaultdict(list)
        for note in sequence.notes:
            if note.is_drum:
                continue
            check_note(note, self.min_pitch, self.max_pitch)
            start = tempo_map.to_quarters(note.start_time)
            end = tempo_map.to_quarters(note.end_time)
            first, last = self._to_step(start), self._to_step(end)
            if (first != start * self.steps_per_quarter or
                    last != end * self.steps_per_quarter):
                self.adjustments[MOVED] += 1
            if last <= first:
                self.adjustments[DROPPED] += 1
                continue
            by_pitch[note.pitch].append([first, last])
        notes = []
        for pitch, spans in by_pitch.items():
            spans.sort()
            merged = [spans[0]]
            for first, last in spans[1:]:
                if first < merged[-1][1]:
                    self.adjustments[MERGED] += 1
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            notes.extend((first, last, pitch) for first, last in merged)
        if not notes:
            raise UnusableSequenceError("no note of the piece lasts a grid "
                                        "step")
        total = self._to_step(tempo_map.to_quarters(sequence.total_time))
        return sorted(notes), max(max(end for _, end, _ in notes), total)
