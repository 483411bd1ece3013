"""The `midi` writer: one named track per voice, primer softer and marked.

Wraps `polyframe.midi_output.write_midi`, adding what the piece knows and the
decoded sequence does not: the metre (with a short first bar for a pickup, as
the corpus's own MIDI files have it) and a known key signature.
"""

import collections.abc
from typing import List, Optional, Sequence

from note_seq.protobuf import music_pb2

from polyframe import checks, midi_output
from polyframe.registries import WRITERS
from polyframe.writer import TICKS_PER_QUARTER, Fraction, GeneratedPiece, Writer

# General MIDI programs (0-based) by voice: four sustained timbres, so no
# voice dies away like a piano's, and neighbouring voices always differ when
# they cross or meet on a unison: soprano Choir Aahs (52), alto Voice Oohs
# (53), tenor Synth Voice (54), bass Church Organ (19), the organ doubling
# the bass as the continuo does in Bach's performances.
DEFAULT_PROGRAMS = (52, 53, 54, 19)
# The shortest bar a pickup's time signature may use: 1/64 note.
_SMALLEST_DENOMINATOR = 64
# A standard MIDI file stores its resolution in 15 bits.
_MAX_TICKS_PER_QUARTER = 2**15 - 1
_OWNER = "writers.midi"


@WRITERS.register("midi")
class MidiWriter(Writer):
    """Writes `<stem>.mid`.

    Args:
        programs: General MIDI program (0-127) by voice; voices past the list
            use the last one.
        velocity: Velocity of generated notes (1-127).
        primer_velocity: Velocity of primer notes, softer so the primer is
            heard as given; a "primer end" marker sits where it ends.
        ticks_per_quarter: MIDI resolution (1-32767). The default, 27720,
            puts every tuplet up to 12 exactly on a tick, so the MIDI file
            has the same notes as the MusicXML one.

    Raises:
        checks.ConfigurationError: if an argument has the wrong type or lies
            out of range.
    """

    extension = ".mid"

    def __init__(self, programs: Sequence[int] = DEFAULT_PROGRAMS,
                 velocity: int = midi_output.DEFAULT_VELOCITY,
                 primer_velocity: int = midi_output.DEFAULT_PRIMER_VELOCITY,
                 ticks_per_quarter: int = TICKS_PER_QUARTER):
        if (isinstance(programs, (str, bytes)) or
                not isinstance(programs, collections.abc.Sequence) or not programs):
            raise checks.ConfigurationError(
                    f"{_OWNER}.programs must be a non-empty list of General MIDI "
                    f"programs (0-127), got {programs!r}.")
        self.programs = tuple(
                checks.integer(_OWNER, f"programs[{index}]", program, minimum=0,
                               maximum=127)
                for index, program in enumerate(programs))
        self.velocity = checks.integer(_OWNER, "velocity", velocity, minimum=1,
                                       maximum=127)
        self.primer_velocity = checks.integer(_OWNER, "primer_velocity",
                                              primer_velocity, minimum=1, maximum=127)
        self.ticks_per_quarter = checks.integer(_OWNER, "ticks_per_quarter",
                                                ticks_per_quarter, minimum=1,
                                                maximum=_MAX_TICKS_PER_QUARTER)

    def write(self, piece: GeneratedPiece) -> List[str]:
        path = self.path(piece)
        midi_output.write_midi(
                with_signatures(piece), path,
                primer_end_time=piece.primer_end_time,
                voice_names=[piece.voice_name(v) for v in range(piece.num_voices)],
                program=self.programs[-1],
                programs=self.programs,
                velocity=self.velocity,
                primer_velocity=self.primer_velocity,
                ticks_per_quarter=self.ticks_per_quarter)
        return [path]

    def __repr__(self) -> str:
        return f"MidiWriter(programs={self.programs})"


def with_signatures(piece: GeneratedPiece) -> music_pb2.NoteSequence:
    """The piece's sequence, with its metre and key where it has none."""
    sequence = music_pb2.NoteSequence()
    sequence.CopyFrom(piece.sequence)
    if not sequence.time_signatures:
        numerator, denominator = piece.time_signature
        pickup = _pickup_signature(piece.pickup_quarters, denominator)
        if pickup is not None:
            sequence.time_signatures.add(time=0.0, numerator=pickup[0],
                                         denominator=pickup[1])
        start = float(piece.pickup_quarters) * 60.0 / piece.qpm if pickup else 0.0
        sequence.time_signatures.add(time=start, numerator=numerator,
                                     denominator=denominator)
    if not sequence.key_signatures and piece.key_fifths is not None:
        # NoteSequence keys are tonics; the major tonic has the same signature.
        sequence.key_signatures.add(time=0.0, key=(7 * piece.key_fifths) % 12,
                                    mode=music_pb2.NoteSequence.KeySignature.MAJOR)
    return sequence


def _pickup_signature(pickup: Fraction, denominator: int) -> Optional[tuple]:
    """A time signature as long as the pickup, or None (no pickup, or none fits)."""
    while pickup > 0 and denominator <= _SMALLEST_DENOMINATOR:
        beats = pickup * denominator / 4
        if beats.denominator == 1:
            return int(beats), denominator
        denominator *= 2
    return None
