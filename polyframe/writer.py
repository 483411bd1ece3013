"""The interface of output writers: one generated piece in, files out.

A generated piece leaves polyframe in several formats (MIDI, audio, a
printed score, a picture), each written by a `Writer` plugin registered in
`polyframe.registries.WRITERS`. Writers only see a `GeneratedPiece`: the
decoded notes plus what notation needs and the decoder does not know (voice
names, where the primer ends, metre, key, pickup). Some formats are made from
others (audio from the MIDI file, the SVG score from the MusicXML file), so
`write_all` orders the writers by what they read.

Times: the NoteSequence keeps seconds at one tempo; notation needs quarter
notes. `GeneratedPiece.quarters` converts on a grid of `TICKS_PER_QUARTER`
per quarter, which every duration with a denominator up to 12 (triplets,
quintuplets, the corpus's 5/12 and 5/11) lands on exactly, so the MIDI and
MusicXML writers, both using this grid, agree note for note.
"""

import abc
import dataclasses
import fractions
import numbers
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging
from note_seq.protobuf import music_pb2

from polyframe import fileio

Fraction = fractions.Fraction

# lcm(1..12) = 27720: divisible by every tuplet denominator up to 12, and
# still below the 32767 ticks per quarter a MIDI file header can hold.
TICKS_PER_QUARTER = 27720
DEFAULT_QPM = 120.0
# The formats written when none are chosen, in the order they are written.
DEFAULT_WRITERS = ("midi", "wav", "musicxml", "score_svg", "piano_roll")


@dataclasses.dataclass(frozen=True)
class QuarterNote:
    """A note in quarter notes from the start of the piece (of the pickup).

    Attributes:
        voice: Voice index (0 = highest voice).
        pitch: MIDI pitch.
        onset: Start, in quarters.
        duration: Length, in quarters (> 0).
    """

    voice: int
    pitch: int
    onset: Fraction
    duration: Fraction

    @property
    def end(self) -> Fraction:
        return self.onset + self.duration


@dataclasses.dataclass
class GeneratedPiece:
    """One piece to write, with what notation needs beyond its notes.

    Attributes:
        sequence: The decoded notes; each note's voice is `note.instrument`
            (0 = highest). Times in seconds at one tempo (`tempos[0]`, else
            120 qpm).
        stem: The output path without extension, e.g.
            `.../samples/sample_000`; writers append their extension.
        voice_names: Names by voice index, e.g. Soprano, Alto, Tenor, Bass.
        primer_end_time: Seconds where the given (primer) part ends; None
            when nothing was given.
        time_signature: `(numerator, denominator)`.
        key_fifths: Key signature in sharps (+) or flats (-); None lets
            writers that need one infer it from the notes.
        pickup_quarters: Length of an incomplete first bar in quarters;
            0 when the piece starts on a downbeat.
        title: Shown in scores and the gallery.
        metadata: JSON-able facts about the piece (primer, NLL, ...), shown
            in the gallery.

    Raises:
        ValueError: if the time signature or pickup is not usable, or the
            sequence has more than one tempo.
    """

    sequence: music_pb2.NoteSequence
    stem: str
    voice_names: Sequence[str]
    primer_end_time: Optional[float] = None
    time_signature: Tuple[int, int] = (4, 4)
    key_fifths: Optional[int] = None
    pickup_quarters: Fraction = Fraction(0)
    title: str = ""
    metadata: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        numerator, denominator = self.time_signature
        if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool)
                   and x > 0 for x in (numerator, denominator)):
            raise ValueError("time_signature must be two positive integers, got "
                             f"{self.time_signature!r}.")
        self.time_signature = (int(numerator), int(denominator))
        if self.key_fifths is not None:
            self.key_fifths = int(self.key_fifths)
        self.pickup_quarters = Fraction(self.pickup_quarters).limit_denominator(
                TICKS_PER_QUARTER)
        if not 0 <= self.pickup_quarters < self.bar_quarters:
            raise ValueError(
                    f"pickup_quarters must be at least 0 and shorter than a bar "
                    f"({self.bar_quarters} quarters), got {self.pickup_quarters}.")
        tempos = {round(t.qpm, 6) for t in self.sequence.tempos}
        if len(tempos) > 1:
            raise ValueError(f"{self.stem}: writers need one tempo, the sequence "
                             f"has {sorted(tempos)} qpm.")

    @property
    def qpm(self) -> float:
        """Quarter notes per minute."""
        return self.sequence.tempos[0].qpm if self.sequence.tempos else DEFAULT_QPM

    @property
    def bar_quarters(self) -> Fraction:
        """Length of a full bar in quarters."""
        numerator, denominator = self.time_signature
        return Fraction(4 * numerator, denominator)

    def quarters(self, seconds: float) -> Fraction:
        """`seconds` in quarters, on the grid of `TICKS_PER_QUARTER`."""
        return Fraction(round(seconds * self.qpm / 60.0 * TICKS_PER_QUARTER),
                        TICKS_PER_QUARTER)

    def voice_name(self, voice: int) -> str:
        """The name of voice `voice`; "Voice <n>" beyond `voice_names`."""
        return (self.voice_names[voice] if voice < len(self.voice_names)
                else f"Voice {voice + 1}")

    @property
    def num_voices(self) -> int:
        """Named voices, or more if notes use higher voice indices."""
        highest = max((n.instrument for n in self.sequence.notes), default=-1)
        return max(len(self.voice_names), highest + 1)

    def quarter_notes(self) -> List[QuarterNote]:
        """The notes in quarters, by onset, voice and pitch.

        Notes that are empty on the grid (grace notes) are left out: they
        have no notated length.
        """
        notes = []
        for note in self.sequence.notes:
            onset = self.quarters(note.start_time)
            duration = self.quarters(note.end_time) - onset
            if duration > 0:
                notes.append(QuarterNote(note.instrument, note.pitch, onset, duration))
        notes.sort(key=lambda n: (n.onset, n.voice, n.pitch, n.duration))
        return notes

    @property
    def primer_end_quarters(self) -> Optional[Fraction]:
        """Where the primer ends in quarters, None when nothing was given."""
        if self.primer_end_time is None:
            return None
        return self.quarters(self.primer_end_time)

    @property
    def length_quarters(self) -> Fraction:
        """Where the last note ends, in quarters."""
        return max((n.end for n in self.quarter_notes()), default=Fraction(0))


class Writer(abc.ABC):
    """Writes a `GeneratedPiece` in one format.

    Subclasses are registered with `@WRITERS.register("name")`; their
    constructor arguments are the format's options (selectable from gin).

    Attributes:
        extension: Added to `piece.stem` to name the output, e.g. ".mid".
        reads: Extensions of files another writer makes that this one reads
            when present (e.g. the WAV writer reads ".mid"); `write_all`
            runs those writers first.
    """

    extension: str = ""
    reads: Tuple[str, ...] = ()

    def path(self, piece: GeneratedPiece) -> str:
        """Where this writer puts `piece`."""
        return piece.stem + self.extension

    @abc.abstractmethod
    def write(self, piece: GeneratedPiece) -> List[str]:
        """Writes `piece` atomically and returns the paths written."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def write_bytes(path: str, data: bytes) -> str:
    """Writes `data` to `path` atomically, creating folders; returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fileio.write_atomically(path, data)
    return path


def order_writers(writers: Sequence[Writer]) -> List[Writer]:
    """Returns `writers` so that each runs after the writers of what it reads.

    Otherwise the given order is kept (a stable topological sort).

    Raises:
        ValueError: if writers read each other's files in a cycle.
    """
    remaining = list(writers)
    ordered = []
    while remaining:
        for index, candidate in enumerate(remaining):
            blockers = {w.extension for w in remaining if w is not candidate}
            if not blockers.intersection(candidate.reads):
                ordered.append(remaining.pop(index))
                break
        else:
            raise ValueError(f"writers read each other's files in a cycle: {remaining}")
    return ordered


def make_writers(names: Sequence[str] = DEFAULT_WRITERS,
                 options: Optional[Mapping[str, Mapping[str, Any]]] = None
                 ) -> List[Writer]:
    """Builds registered writers by name.

    Args:
        names: Names in `WRITERS`; plugins are loaded first unless all are
            registered already.
        options: Constructor arguments by writer name, e.g.
            `{"wav": {"renderer": "builtin"}}`.

    Raises:
        UnknownComponentError: for a name no plugin registered.
    """
    from polyframe.plugin_loading import load_plugins
    from polyframe.registries import WRITERS
    if any(name not in WRITERS for name in names):
        load_plugins()
    options = options or {}
    return [WRITERS.get(name)(**dict(options.get(name, {}))) for name in names]


def write_all(writers: Sequence[Writer],
              pieces: Sequence[GeneratedPiece],
              gallery_dir: Optional[str] = None,
              run_info: Optional[Mapping[str, Any]] = None
              ) -> Dict[str, List[str]]:
    """Writes every piece with every writer, then (optionally) the gallery.

    Writers run in `order_writers` order, so files that others read exist
    first (MIDI before WAV, MusicXML before SVG); each piece is finished
    before the next starts.

    Args:
        writers: The writers to run.
        pieces: The pieces.
        gallery_dir: If given, `index.html` showing all pieces is written
            there last (see `polyframe.gallery.write_gallery`).
        run_info: For the gallery: the run's `config` name and `metrics`.

    Returns:
        Paths written by stem; the gallery's under `<gallery_dir>/index`.
    """
    ordered = order_writers(writers)
    written: Dict[str, List[str]] = {}
    seconds = {type(w).__name__: 0.0 for w in ordered}
    for piece in pieces:
        paths = written.setdefault(piece.stem, [])
        for writer in ordered:
            started = time.perf_counter()
            paths.extend(writer.write(piece))
            seconds[type(writer).__name__] += time.perf_counter() - started
    logging.info("Wrote %d pieces: %s.", len(pieces), ", ".join(
            f"{name} {value:.2f}s" for name, value in seconds.items()))
    if gallery_dir is not None:
        from polyframe import gallery  # Only needed here.
        path = gallery.write_gallery(gallery_dir, pieces, dict(run_info or {}))
        written[os.path.splitext(path)[0]] = [path]
    return written
