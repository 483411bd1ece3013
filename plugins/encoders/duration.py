"""Events that say, for every voice, which note starts and for how long.

Each voice (`note.instrument`) is cut into a contiguous chain of segments
covering the piece, [0, T) with T the end of its last note: its notes, REST
segments filling the gaps between them, and a final REST extending a voice
that ends early up to T. Events are the sorted union of all segment starts,
so a new event begins whenever any voice changes. At each event, every voice
carries two tokens:

* a segment starts there: its pitch (or REST), and its full duration;
* otherwise: HOLD, HOLD (the voice's segment goes on).

Unlike grouping notes by common onset, this keeps every note's exact onset
and duration, also when voices move at different times.

Token ids. `pitch`: 0 START, 1 REST, 2 HOLD, 3.. MIDI pitches `min_pitch` ..
`max_pitch`. `duration`: 0 START, 1 HOLD, 2.. the durations (in quarter
notes, ascending) that `fit` found in the training split.

Policies:

* A duration missing from the vocabulary (it can only occur outside the
  training split) is encoded as the nearest vocabulary duration in log space
  (the shorter one on a tie). Such durations are counted in
  `unseen_durations` and reported once in the log; the piece decodes with
  slightly different timing.
* A pitch outside [`min_pitch`, `max_pitch`] makes the piece unusable
  (`UnusableSequenceError`): transposing by octaves would silently change
  the music, and the default range is a full piano.

Decoding accepts any ids (an END event and everything after it are left
out), so whatever a model samples becomes music. Each
voice has a remaining time. At every event, a voice with a pitch or REST
token closes its previous segment (cutting it short if it was still
sounding) and starts a new one that lasts the token's duration. HOLD, START
and ids outside the vocabulary start nothing: the voice's segment goes on,
extended if its duration has already run out. A pitch or REST whose duration
token is not a duration lasts until the next event. Time then advances by the
smallest positive remaining time of any voice, or by the smallest vocabulary
duration if no voice has time left. At the end every open segment is closed.
For encoded pieces this reproduces every note exactly.
"""

import collections
import fractions
import math
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.clock import DurationClock
from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.timing import TempoMap, quarters_to_seconds
from polyframe.encoding import (EventEncoder, Field, check_note,
                                shift_pitch_ids)
from polyframe.errors import UserFacingError
from polyframe.registries import ENCODERS

Fraction = fractions.Fraction

REST_ID = 1
PITCH_HOLD_ID = 2
FIRST_PITCH_ID = 3
DURATION_HOLD_ID = 1
FIRST_DURATION_ID = 2

VELOCITY = 80
# Matches note_seq's standard resolution, so decoded pieces convert to MIDI.
TICKS_PER_QUARTER = 220

# A segment of one voice: start and duration in quarters, and the MIDI pitch
# (None for a rest).
Segment = Tuple[Fraction, Fraction, Optional[int]]

# Names the encoder in the messages of configuration errors.
_OWNER = "encoders.duration"


@ENCODERS.register("duration")
class DurationEncoder(EventEncoder):
    """Encodes each voice's notes and rests with their exact durations.

    Args:
        num_voices: Voices per event; notes carry their voice in `instrument`.
        min_pitch: Lowest MIDI pitch in the pitch vocabulary.
        max_pitch: Highest MIDI pitch in the pitch vocabulary.
        end_marker: Adds an END token to every field; pieces then end with
            an END event.

    Attributes:
        unseen_durations: Counts, by duration in quarters, of the durations
            that `encode` met outside the vocabulary and replaced.

    Raises:
        ConfigurationError: for an argument of the wrong type or out of
            range, naming it (`encoders.duration.<argument>`): `num_voices`
            must be a whole number >= 1, `min_pitch` and `max_pitch` whole
            numbers in 0..127 with `min_pitch <= max_pitch`, `end_marker`
            True or False.
    """

    def __init__(self, num_voices: int = 4, min_pitch: int = 21,
                 max_pitch: int = 108, end_marker: bool = True):
        self._num_voices = checks.integer(_OWNER, "num_voices", num_voices,
                                          minimum=1)
        self.end_marker = checks.boolean(_OWNER, "end_marker", end_marker)
        self._set_pitch_range(min_pitch, max_pitch)
        self._set_durations([])
        self._warned_unseen = False
        self.unseen_durations = collections.Counter()

    @property
    def num_voices(self) -> int:
        return self._num_voices

    @property
    def token_fields(self) -> Sequence[Field]:
        return (Field("pitch", FIRST_PITCH_ID + self.max_pitch -
                      self.min_pitch + 1),
                Field("duration", FIRST_DURATION_ID + len(self.durations)))

    @property
    def durations(self) -> Tuple[Fraction, ...]:
        """The duration vocabulary in quarter notes, ascending."""
        return tuple(self._durations)

    @property
    def num_unseen_durations(self) -> int:
        """How many segments were encoded with a replaced duration."""
        return sum(self.unseen_durations.values())

    def fit(self, sequences: Iterable[music_pb2.NoteSequence]) -> None:
        """Learns the duration vocabulary: every segment length in `sequences`.

        Pieces the encoder cannot represent are left out and counted in the
        log; `encode` rejects them as well.

        Raises:
            UserFacingError: if no piece could be used.
        """
        found = set()
        used = unusable = 0
        for sequence in sequences:
            try:
                voices = self._segments(sequence)
            except UnusableSequenceError:
                unusable += 1
                continue
            used += 1
            found.update(duration for voice in voices
                         for _, duration, _ in voice)
        if not found:
            raise UserFacingError(
                "the duration encoder found no piece to learn durations from "
                f"({unusable} unusable ones); the training split is empty or "
                "holds no usable piece.")
        self._set_durations(sorted(found))
        self.unseen_durations.clear()
        self._warned_unseen = False
        logging.info(
            "Duration vocabulary: %d durations from %d pieces (%d unusable "
            "pieces left out): %s quarters.", len(found), used, unusable,
            ", ".join(str(d) for d in self._durations))

    def encode(self, sequence: music_pb2.NoteSequence) -> np.ndarray:
        """Returns int32 events `[num_events, num_voices, 2]`.

        Raises:
            UnusableSequenceError: if a voice overlaps itself, a note has no
                length or an out-of-range pitch or voice, or there are no
                notes.
            RuntimeError: if the vocabulary was neither fitted nor restored.
        """
        if not self._durations:
            raise RuntimeError(
                "DurationEncoder has no duration vocabulary; call fit() or "
                "set_state() before encode().")
        voices = self._segments(sequence)
        starts = sorted({start for voice in voices for start, _, _ in voice})
        row_of = {start: row for row, start in enumerate(starts)}
        events = np.empty((len(starts), self.num_voices, 2), dtype=np.int32)
        events[:, :, 0] = PITCH_HOLD_ID
        events[:, :, 1] = DURATION_HOLD_ID
        for voice, segments in enumerate(voices):
            for start, duration, pitch in segments:
                row = row_of[start]
                events[row, voice, 0] = (REST_ID if pitch is None else
                                         FIRST_PITCH_ID + pitch -
                                         self.min_pitch)
                events[row, voice, 1] = self._duration_id(duration)
        return events

    def decode(self, events: np.ndarray,
               qpm: float = 120.0) -> music_pb2.NoteSequence:
        """Returns the notes of `events` (see the module docstring).

        Args:
            events: Ids `[num_events, num_voices, 2]`; any values.
            qpm: Tempo of the result, quarter notes per minute.

        Returns:
            A NoteSequence with one tempo, notes ordered by onset and voice,
            voices in `instrument`, and `total_time` at the end of the last
            event.

        Raises:
            ValueError: if `events` is not `[num_events, num_voices, 2]`.
        """
        times, notes = self._walk(self.until_end(events))
        sequence = music_pb2.NoteSequence()
        sequence.ticks_per_quarter = TICKS_PER_QUARTER
        sequence.tempos.add(time=0.0, qpm=qpm)
        for voice, pitch, start, end in sorted(notes,
                                               key=lambda n: (n[2], n[0])):
            sequence.notes.add(
                pitch=pitch,
                velocity=VELOCITY,
                instrument=voice,
                start_time=quarters_to_seconds(start, qpm),
                end_time=quarters_to_seconds(end, qpm))
        sequence.total_time = quarters_to_seconds(times[-1], qpm)
        return sequence

    def note_starts(self, events: np.ndarray) -> np.ndarray:
        pitch_ids = np.asarray(events)[..., 0]
        return ((pitch_ids >= FIRST_PITCH_ID) &
                (pitch_ids < self.token_fields[0].vocab_size))

    def event_start_times(self, events: np.ndarray,
                          qpm: float = 120.0) -> np.ndarray:
        times, _ = self._walk(events)
        return np.array([quarters_to_seconds(t, qpm) for t in times],
                        dtype=np.float64)

    def clock(self) -> DurationClock:
        """Replays `decode`'s timing in TF ops, in ticks of the vocabulary's
        finest subdivision."""
        return DurationClock(
            self._durations, FIRST_DURATION_ID,
            (FIRST_PITCH_ID, self.token_fields[0].vocab_size), REST_ID,
            self.num_voices)

    def continuation_tokens(self) -> np.ndarray:
        return np.array([PITCH_HOLD_ID, DURATION_HOLD_ID], np.int32)

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
        duration_id = self._id_of_duration.get(Fraction(quarters))
        if duration_id is None:
            return None
        return np.array([REST_ID, duration_id], np.int32)

    def get_state(self) -> Dict[str, Any]:
        return {
            "num_voices": self.num_voices,
            "min_pitch": self.min_pitch,
            "max_pitch": self.max_pitch,
            "durations": [f"{d.numerator}/{d.denominator}"
                          for d in self._durations],
            "end_marker": self.end_marker,
        }

    def set_state(self, state: Dict[str, Any]) -> None:
        """Restores `get_state`'s output.

        Raises:
            ValueError: if the state is malformed.
        """
        missing = {"min_pitch", "max_pitch", "durations"} - set(state)
        if missing:
            raise ValueError(f"encoder state lacks {sorted(missing)}")
        durations = [Fraction(d) for d in state["durations"]]
        if durations != sorted(set(durations)) or any(
                d <= 0 for d in durations):
            raise ValueError("durations must be positive, unique and "
                             f"ascending: {state['durations']}")
        self._num_voices = int(state.get("num_voices", self._num_voices))
        self._set_pitch_range(state["min_pitch"], state["max_pitch"])
        self._set_durations(durations)
        # Directories saved before END existed have no such key.
        self.end_marker = bool(state.get("end_marker", False))
        self.unseen_durations.clear()
        self._warned_unseen = False

    def _set_pitch_range(self, min_pitch: int, max_pitch: int) -> None:
        self.min_pitch, self.max_pitch = checks.pitch_range(
            _OWNER, min_pitch, max_pitch)

    def _set_durations(self, durations: List[Fraction]) -> None:
        self._durations = list(durations)
        self._id_of_duration = {
            d: FIRST_DURATION_ID + i for i, d in enumerate(self._durations)}
        self._log_durations = np.log([float(d) for d in self._durations])

    def _duration_id(self, duration: Fraction) -> int:
        """Returns the id of `duration`, or of the nearest one (counted)."""
        known = self._id_of_duration.get(duration)
        if known is not None:
            return known
        nearest = int(np.argmin(
            np.abs(self._log_durations - math.log(duration))))
        self.unseen_durations[duration] += 1
        if not self._warned_unseen:
            self._warned_unseen = True
            logging.warning(
                "Duration %s quarters is not in the vocabulary learned from "
                "the training split; encoding it as the nearest, %s. Further "
                "such durations are counted in "
                "DurationEncoder.unseen_durations.", duration,
                self._durations[nearest])
        return FIRST_DURATION_ID + nearest

    def _segments(
            self, sequence: music_pb2.NoteSequence) -> List[List[Segment]]:
        """Returns every voice's chain of segments, covering [0, T).

        Raises:
            UnusableSequenceError: see `encode`.
        """
        tempo_map = TempoMap(sequence)
        notes = [[] for _ in range(self.num_voices)]
        for note in sequence.notes:
            check_note(note, self.min_pitch, self.max_pitch, self.num_voices)
            start = tempo_map.to_quarters(note.start_time)
            end = tempo_map.to_quarters(note.end_time)
            if start < 0 or end <= start:
                raise UnusableSequenceError(
                    f"a note in voice {note.instrument} spans quarters "
                    f"{start}..{end}; notes need a positive length from 0 on")
            notes[note.instrument].append((start, end, note.pitch))
        if not any(notes):
            raise UnusableSequenceError("the piece has no notes")
        piece_end = max(end for voice in notes for _, end, _ in voice)

        voices = []
        for voice, voice_notes in enumerate(notes):
            segments = []
            cursor = Fraction(0)
            for start, end, pitch in sorted(voice_notes):
                if start < cursor:
                    raise UnusableSequenceError(
                        f"voice {voice} plays two notes at once at quarter "
                        f"{start}")
                if start > cursor:
                    segments.append((cursor, start - cursor, None))
                segments.append((start, end - start, pitch))
                cursor = end
            if cursor < piece_end:
                segments.append((cursor, piece_end - cursor, None))
            voices.append(segments)
        return voices

    def _walk(
        self, events: np.ndarray
    ) -> Tuple[List[Fraction], List[Tuple[int, int, Fraction, Fraction]]]:
        """Plays `events`; returns event start times and notes, in quarters.

        Returns:
            `(times, notes)`: the start of every event plus the end of the
            last one, and `(voice, pitch, start, end)` of every note.

        Raises:
            ValueError: if `events` is not `[num_events, num_voices, 2]`.
        """
        events = np.asarray(events, dtype=np.int64)
        if events.ndim != 3 or events.shape[1:] != (self.num_voices, 2):
            raise ValueError(f"events of shape {events.shape}; expected "
                             f"[num_events, {self.num_voices}, 2]")
        pitch_vocab = self.token_fields[0].vocab_size
        fallback_step = self._durations[0] if self._durations else Fraction(1)
        remaining = [Fraction(0)] * self.num_voices
        # Per voice: (pitch or None for a rest, start) of the open segment.
        open_segments = [None] * self.num_voices
        notes = []
        times = []
        time = Fraction(0)

        def close(voice: int) -> None:
            segment = open_segments[voice]
            if segment is not None and segment[0] is not None:
                notes.append((voice, segment[0], segment[1], time))
            open_segments[voice] = None

        for pitch_ids, duration_ids in zip(events[:, :, 0].tolist(),
                                           events[:, :, 1].tolist()):
            times.append(time)
            for voice in range(self.num_voices):
                pitch_id = pitch_ids[voice]
                if pitch_id != REST_ID and not (
                        FIRST_PITCH_ID <= pitch_id < pitch_vocab):
                    continue  # HOLD, START or unknown: the segment goes on.
                close(voice)
                pitch = (None if pitch_id == REST_ID else
                         self.min_pitch + pitch_id - FIRST_PITCH_ID)
                open_segments[voice] = (pitch, time)
                remaining[voice] = self._duration_of(duration_ids[voice])
            step = min((r for r in remaining if r > 0), default=fallback_step)
            time += step
            remaining = [max(r - step, 0) for r in remaining]
        times.append(time)
        for voice in range(self.num_voices):
            close(voice)
        return times, notes

    def _duration_of(self, duration_id: int) -> Fraction:
        """Returns the duration of an id; 0 for ids that are not durations."""
        index = duration_id - FIRST_DURATION_ID
        if 0 <= index < len(self._durations):
            return self._durations[index]
        return Fraction(0)
