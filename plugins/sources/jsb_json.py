"""The JSB Chorales benchmark files (JSON), with the files' own split.

The benchmark (Boulanger-Lewandowski et al., 2012: 229 training, 76
validation and 77 test chorales) is published as JSON objects with the keys
"train", "valid" and "test", each a list of pieces, a piece a list of time
steps on a fixed grid. Two layouts exist:

* "piano_roll": a step is a list of the MIDI pitches sounding (21..108),
  possibly empty. Files exist at quarter, 8th and 16th note resolution
  (`steps_per_quarter` 1, 2 or 4). Voices are not given, so they are assigned
  by pitch order at every step: the highest pitch goes to voice 0 (soprano),
  the next to voice 1 and so on. A step with fewer pitches than voices leaves
  the lower voices silent (a pitch listed twice counts once). A step with
  more keeps its `num_voices` highest pitches; the lower ones are dropped and
  counted in `Corpus.notes_dropped`, and the number of such steps is logged.
* "separated": every step lists exactly `num_voices` numbers (4: soprano,
  alto, tenor, bass), each a MIDI pitch or -1 for a silent voice, at 16th
  note resolution.

Neither layout tells a held note from a repeated one. In every voice, a run
of steps with the same pitch becomes one note, so the `grid` encoder at the
same resolution reproduces each file's pitch grid exactly (-1 or a missing
pitch is REST).

Format detection (`format="auto"`): the file is "separated" if any entry is
-1 (which a piano roll cannot hold) or if every step of every piece lists
exactly `num_voices` numbers; otherwise it is a piano roll. A piano roll
whose steps all hold exactly `num_voices` pitches is therefore read as
separated, listing voices top down; a warning is logged when its first
voice lies lower than its last, and `format="piano_roll"` forces the other
reading.

Pieces become NoteSequences at 120 quarter notes per minute with voices in
`note.instrument` and ids "<split>/<index>", e.g. "train/0007".
`total_time` is the number of steps times the step length, so trailing
silence is kept. Pieces with no notes are skipped with the reason.
"""

import collections
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
from note_seq.protobuf import music_pb2

from polyframe import checks
from polyframe.data.corpus import SPLITS, Corpus, log_skipped, split_sizes
from polyframe.data.directory_source import check_path
from polyframe.data.timing import quarters_to_seconds
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES

FORMATS = ("auto", "piano_roll", "separated")
STEPS_PER_QUARTER = (1, 2, 4)
MIN_PITCH = 21
MAX_PITCH = 108
SILENT = -1
QPM = 120.0
VELOCITY = 80
# Matches note_seq's standard resolution, so pieces convert to MIDI.
TICKS_PER_QUARTER = 220
COLLECTION_NAME = "jsb_json"
# Why a pitch was dropped: its piano-roll step had more pitches than voices.
DROPPED_CROWDED = "pitch below the highest num_voices of a piano-roll step"

# Every piece as a list of steps, a step a list of MIDI pitches or SILENT.
Piece = List[List[int]]


@SOURCES.register("jsb_json")
class JSBChoralesJSON:
    """The JSB Chorales benchmark JSON files, in the files' own split.

    Args:
        path: The JSON file, e.g. "Jsb16thSeparated.json".
        format: "auto" (detect, see the module docstring), "piano_roll" or
            "separated".
        steps_per_quarter: Time steps per quarter note in the file: 4 for
            16th notes (the default, and the separated files' resolution),
            2 for 8ths, 1 for quarters.
        num_voices: Voices per piece (and numbers per separated step).
        too_many_pitches: What a piano-roll step with more pitches than
            voices does: "drop" keeps its `num_voices` highest (the lower
            ones are counted in `Corpus.notes_dropped`), "fail" stops the
            run naming the piece and step (the piano-roll protocol: dropped
            pitches would flatter its NLL).

    Raises:
        checks.ConfigurationError: if an argument has the wrong type or is
            not one of the allowed values. A missing `path` is reported by
            `load`, as every problem with the file is.

    Attributes:
        defines_splits: True: the file's own valid and test splits are what
            `--mode=evaluate` scores.
    """

    defines_splits = True

    def __init__(self,
                 path: Optional[str] = None,
                 format: str = "auto",  # pylint: disable=redefined-builtin
                 steps_per_quarter: int = 4,
                 num_voices: int = 4,
                 too_many_pitches: str = "drop"):
        owner = "sources.jsb_json"
        path = check_path(owner, "path", path, optional=True)
        checks.choice(owner, "format", format, FORMATS)
        # Checked as a whole number first: True and 4.0 equal allowed values.
        steps_per_quarter = checks.integer(owner, "steps_per_quarter",
                                           steps_per_quarter, minimum=1)
        checks.choice(owner, "steps_per_quarter", steps_per_quarter,
                      STEPS_PER_QUARTER)
        num_voices = checks.integer(owner, "num_voices", num_voices, minimum=1)
        checks.choice(owner, "too_many_pitches", too_many_pitches,
                      ("drop", "fail"))
        self.too_many_pitches = too_many_pitches
        self.path = path
        self.format = format
        self.steps_per_quarter = steps_per_quarter
        self.num_voices = num_voices

    def load(self) -> Corpus:
        """Returns the file's pieces in its own train/valid/test split.

        Raises:
            UserFacingError: if the file is missing or unreadable, is not
                JSON, or does not hold the expected layout. The message names
                the file and the first offending piece and step.
        """
        data = self._read()
        pieces = {split: [self._piece(split, index, piece)
                          for index, piece in enumerate(data[split])]
                  for split in SPLITS}
        layout = self._layout(pieces)
        by_split = {split: [] for split in SPLITS}
        skipped = []
        dropped = collections.Counter()
        crowded_steps = 0
        for split in SPLITS:
            for index, piece in enumerate(pieces[split]):
                piece_id = f"{split}/{index:04d}"
                self._check_pitches(piece_id, piece, layout)
                if layout == "separated":
                    voices = piece
                else:
                    voices, extra_steps, extra_pitches = self._by_pitch_order(
                        piece_id, piece)
                    crowded_steps += extra_steps
                    if extra_pitches:
                        dropped[DROPPED_CROWDED] += extra_pitches
                sequence = self._sequence(piece_id, voices)
                if not sequence.notes:
                    skipped.append((piece_id, "the piece has no notes"))
                    continue
                by_split[split].append(sequence)

        logging.info("%s: %s layout at %d steps per quarter; %d pieces kept "
                     "(%s), %d skipped.", self.path, layout,
                     self.steps_per_quarter,
                     sum(len(p) for p in by_split.values()),
                     split_sizes(by_split), len(skipped))
        if crowded_steps:
            logging.info("%s: %d steps held more than %d pitches; the %d "
                         "pitches below each step's %d highest were "
                         "dropped.", self.path, crowded_steps,
                         self.num_voices, dropped[DROPPED_CROWDED],
                         self.num_voices)
        log_skipped(skipped)
        return Corpus(**by_split, skipped=skipped, notes_dropped=dict(dropped))

    def _fail(self, message: str) -> UserFacingError:
        return UserFacingError(f"JSB Chorales file {self.path}: {message}")

    def _read(self) -> Dict[str, Any]:
        """Returns the parsed file, checked to hold the three splits."""
        if not self.path:
            raise UserFacingError(
                "jsb_json needs the path of a JSB Chorales JSON file: set the "
                "DATA_PATH macro or bind sources.jsb_json.path.")
        path = os.path.expanduser(self.path)
        if not os.path.isfile(path):
            what = "is a folder" if os.path.isdir(path) else "does not exist"
            raise UserFacingError(
                f"the JSB Chorales file {self.path} {what}; pass the path of "
                "a JSON file such as Jsb16thSeparated.json.")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as error:
            raise self._fail(
                f"cannot be read: {error.strerror or error}") from None
        except (UnicodeDecodeError, ValueError) as error:
            raise self._fail(f"is not JSON ({error})") from None
        if not isinstance(data, dict):
            raise self._fail("holds a JSON "
                             f"{type(data).__name__}, expected an object with "
                             "the keys 'train', 'valid' and 'test'")
        missing = [split for split in SPLITS if split not in data]
        if missing:
            found = ", ".join(repr(key) for key in sorted(data)) or "none"
            raise self._fail(
                f"has no {', '.join(repr(s) for s in missing)} key; expected "
                "an object with the keys 'train', 'valid' and 'test' "
                f"(found: {found})")
        for split in SPLITS:
            if not isinstance(data[split], list):
                raise self._fail(f"{split!r} holds a "
                                 f"{type(data[split]).__name__}, expected a "
                                 "list of pieces")
        return data

    def _piece(self, split: str, index: int, piece: Any) -> Piece:
        """Returns a piece as lists of ints, checking only the shape."""
        piece_id = f"{split}/{index:04d}"
        if not isinstance(piece, list):
            raise self._fail(f"piece {piece_id} is a "
                             f"{type(piece).__name__}, expected a list of "
                             "time steps")
        steps = []
        for number, step in enumerate(piece):
            if not isinstance(step, list):
                raise self._fail(
                    f"piece {piece_id}, step {number}: {step!r} is not a "
                    "list of pitches")
            values = []
            for value in step:
                if (isinstance(value, bool) or
                        not isinstance(value, (int, float)) or
                        (isinstance(value, float) and
                         not value.is_integer())):
                    raise self._fail(
                        f"piece {piece_id}, step {number}: {value!r} is not "
                        "a MIDI pitch (an integer)")
                values.append(int(value))
            steps.append(values)
        return steps

    def _layout(self, pieces: Dict[str, List[Piece]]) -> str:
        """Returns the layout to read: the forced one, or the detected one."""
        if self.format != "auto":
            return self.format
        steps = [step for split in SPLITS for piece in pieces[split]
                 for step in piece]
        if any(SILENT in step for step in steps):
            return "separated"
        if steps and all(len(step) == self.num_voices for step in steps):
            if self.num_voices > 1 and (sum(step[0] for step in steps) <
                                        sum(step[-1] for step in steps)):
                logging.warning(
                    "%s: every step lists %d pitches, so it is read as "
                    "separated voices (soprano first), but the first voice "
                    "lies lower than the last. If it is a piano roll, pass "
                    "format='piano_roll'.", self.path, self.num_voices)
            return "separated"
        return "piano_roll"

    def _check_pitches(self, piece_id: str, piece: Piece, layout: str) -> None:
        """Raises UserFacingError at the first step that `layout` forbids."""
        for number, step in enumerate(piece):
            if layout == "separated" and len(step) != self.num_voices:
                raise self._fail(
                    f"piece {piece_id}, step {number}: {len(step)} numbers "
                    f"in a separated file, expected {self.num_voices} (one "
                    "per voice, -1 for silence)")
            for pitch in step:
                if layout == "separated" and pitch == SILENT:
                    continue
                if not MIN_PITCH <= pitch <= MAX_PITCH:
                    allowed = (" or -1 for a silent voice"
                               if layout == "separated" else
                               "; -1 marks silence only in separated files")
                    raise self._fail(
                        f"piece {piece_id}, step {number}: pitch {pitch} is "
                        f"outside {MIN_PITCH}..{MAX_PITCH}{allowed}")

    def _by_pitch_order(self, piece_id: str,
                        piece: Piece) -> Tuple[Piece, int, int]:
        """Assigns a piano roll's pitches to voices, highest to voice 0.

        Returns:
            `(steps, crowded, dropped)`: every step as `num_voices` pitches
            (SILENT for none), the number of steps with more pitches than
            voices, and how many pitches those lost.
        """
        steps, crowded, dropped = [], 0, 0
        for number, step in enumerate(piece):
            pitches = sorted(set(step), reverse=True)
            if (len(pitches) > self.num_voices and
                    self.too_many_pitches == "fail"):
                raise self._fail(
                    f"piece {piece_id}, step {number} holds {len(pitches)} "
                    f"pitches {pitches}, more than the {self.num_voices} "
                    "voices; raise num_voices (and the model's), or bind "
                    "too_many_pitches = 'drop' to keep the highest.")
            if len(pitches) > self.num_voices:
                crowded += 1
                dropped += len(pitches) - self.num_voices
                pitches = pitches[:self.num_voices]
            steps.append(pitches +
                         [SILENT] * (self.num_voices - len(pitches)))
        return steps, crowded, dropped

    def _sequence(self, piece_id: str,
                  steps: Sequence[Sequence[int]]) -> music_pb2.NoteSequence:
        """Returns the notes of a voice-separated piece: one per pitch run."""
        step_seconds = quarters_to_seconds(1 / self.steps_per_quarter, QPM)
        sequence = music_pb2.NoteSequence()
        sequence.id = piece_id
        sequence.filename = os.path.basename(self.path)
        sequence.collection_name = COLLECTION_NAME
        sequence.ticks_per_quarter = TICKS_PER_QUARTER
        sequence.tempos.add(time=0.0, qpm=QPM)
        notes = []
        for voice in range(self.num_voices):
            start = 0
            for number in range(1, len(steps) + 1):
                pitch = steps[start][voice]
                if number < len(steps) and steps[number][voice] == pitch:
                    continue
                if pitch != SILENT:
                    notes.append((start, voice, pitch, number))
                start = number
        for start, voice, pitch, end in sorted(notes):
            sequence.notes.add(pitch=pitch, velocity=VELOCITY,
                               instrument=voice,
                               start_time=start * step_seconds,
                               end_time=end * step_seconds)
        sequence.total_time = len(steps) * step_seconds
        return sequence
