"""A folder of MIDI files (`.mid`, `.midi`, searched recursively).

Voices. Every MIDI instrument (pretty_midi's: the notes of one track, channel
and program), named by its track name, is a group that `voices` turns into
voices (`polyframe.data.voice_rules`):

* "auto" (default): tracks named Soprano, Alto, Tenor and Bass (first word,
  any case) when each voice has exactly one; else the `num_voices`
  instruments of highest mean pitch, highest first; else, with fewer
  instruments than voices (a piano file), the notes are dealt out to the
  voices by pitch order at each onset.
* "satb": by track name only; files without such names are skipped.
* "top_n": the `num_voices` instruments of highest mean pitch.
* "split": always by pitch order at each onset.

Drum notes (channel 10) never become voices. Tempo, time signature and key
changes are followed wherever they are: type-1 files often put them in a
later track, where pretty_midi would ignore them, so they are moved to the
first track before parsing.

Skipped files (reasons in `report.json`): empty, not MIDI (no "MThd"
header), corrupt or truncated (also: a time division of 0 ticks, or an event
more than `MAX_TICKS` ticks in), SMPTE timing (unsupported), no notes, only
drum notes, voices not found, a voice left without notes, implausibly long,
and the limits of every folder source (too large, too slow to parse).
"""

import contextlib
import functools
import io
from typing import Dict, Iterator, List, Tuple

import mido
from note_seq import midi_io
from note_seq.protobuf import music_pb2
import pretty_midi

from polyframe.data import ingest, skip_reasons
from polyframe.data.directory_source import DirectorySource
from polyframe.data.skip_reasons import UnusableFileError
from polyframe.data.voice_rules import VoicedPiece, VoiceRule
from polyframe.registries import SOURCES

TIMING_EVENTS = ("set_tempo", "time_signature", "key_signature")
# pretty_midi allocates an array of one float per tick up to the last event,
# and note_seq lifts pretty_midi's own bound (1e7) to 1e10 ticks, so a single
# delta time of 0x0FFFFFFF would cost 2 GiB and more. 1e7 ticks are almost
# three hours at 480 ticks per quarter and 120 qpm.
MAX_TICKS = 10_000_000


@SOURCES.register("midi_dir")
class MidiDirectory(DirectorySource):
    """Every MIDI file under a folder, instruments mapped to voices.

    See `polyframe.data.directory_source.DirectorySource` for the arguments
    and this module's docstring for the voice rules.
    """

    name = "midi_dir"
    format_name = "MIDI"
    extensions = (".mid", ".midi")

    def parser(self) -> ingest.ParseFunction:
        return functools.partial(parse_midi, rule=self.rule)

    def versions(self) -> Dict[str, str]:
        return ingest.package_versions("note-seq", "pretty_midi", "mido")


def parse_midi(path: str, data: bytes, rule: VoiceRule) -> VoicedPiece:
    """Returns the voices of one MIDI file.

    Args:
        path: The file, for messages only.
        data: Its bytes.
        rule: How instruments become voices.

    Raises:
        UnusableFileError: if the file is not MIDI, is corrupt, or has no
            usable voices (the reason says which).
    """
    del path
    if not data.startswith(b"MThd"):
        raise UnusableFileError(
            skip_reasons.NOT_MIDI,
            f"it starts with {data[:4]!r}, not a MIDI header (b'MThd')")
    with _errors_as_corrupt_midi():
        midi = mido.MidiFile(file=io.BytesIO(data))
    _check_time_base(midi)
    with _errors_as_corrupt_midi():
        _move_timing_to_first_track(midi)
        sequence = midi_io.midi_to_note_sequence(
            pretty_midi.PrettyMIDI(mido_object=midi))
    return rule.apply(_instruments_as_parts(sequence), "instrument")


@contextlib.contextmanager
def _errors_as_corrupt_midi() -> Iterator[None]:
    """Turns what mido and pretty_midi raise into `CORRUPT_MIDI` skips.

    They reject malformed data with many error types (ValueError, KeyError,
    OSError, ...), all meaning a broken file.
    """
    try:
        yield
    except EOFError:
        raise UnusableFileError(
            skip_reasons.CORRUPT_MIDI,
            "the file ends in the middle of a chunk (truncated)") from None
    except Exception as error:  # pylint: disable=broad-except
        raise UnusableFileError(skip_reasons.CORRUPT_MIDI,
                                ingest.describe_error(error)) from None


def _check_time_base(midi: mido.MidiFile) -> None:
    """Refuses time divisions and tick counts that pretty_midi mishandles.

    Raises:
        UnusableFileError: for SMPTE timing (unsupported), a division of 0
            ticks per quarter, or an event beyond `MAX_TICKS` (corrupt).
    """
    division = midi.ticks_per_beat
    if division < 0:
        raise UnusableFileError(
            skip_reasons.UNSUPPORTED,
            f"SMPTE timing ({-(division >> 8)} frames per second, "
            f"{division & 0xFF} ticks per frame) instead of ticks per quarter "
            "note")
    if division == 0:
        raise UnusableFileError(skip_reasons.CORRUPT_MIDI,
                                "a time division of 0 ticks per quarter note")
    last = max((sum(message.time for message in track)
                for track in midi.tracks), default=0)
    if last > MAX_TICKS:
        raise UnusableFileError(
            skip_reasons.CORRUPT_MIDI,
            f"an event lies {last:,} ticks in, beyond {MAX_TICKS:,} ticks "
            f"({last / division:,.0f} quarter notes): a corrupt delta time")


def _move_timing_to_first_track(midi: mido.MidiFile) -> None:
    """Moves tempo, time and key signature events into track 0.

    pretty_midi reads them only from the first track, while many type-1
    files carry them in a later one.
    """
    if midi.type != 1 or len(midi.tracks) < 2:
        return
    moved: List[Tuple[int, mido.MetaMessage]] = []
    for index in range(1, len(midi.tracks)):
        events = _absolute(midi.tracks[index])
        timing = [(tick, m) for tick, m in events if m.type in TIMING_EVENTS]
        if timing:
            moved.extend(timing)
            midi.tracks[index] = _relative(
                [(tick, m) for tick, m in events
                 if m.type not in TIMING_EVENTS])
    if moved:
        first = [(tick, m) for tick, m in _absolute(midi.tracks[0])
                 if m.type != "end_of_track"]
        merged = sorted(first + moved, key=lambda event: event[0])
        end = max(tick for tick, _ in merged)
        midi.tracks[0] = _relative(
            merged + [(end, mido.MetaMessage("end_of_track"))])


def _absolute(track: mido.MidiTrack) -> List[Tuple[int, mido.Message]]:
    events, tick = [], 0
    for message in track:
        tick += message.time
        events.append((tick, message))
    return events


def _relative(events: List[Tuple[int, mido.Message]]) -> mido.MidiTrack:
    track, previous = mido.MidiTrack(), 0
    for tick, message in events:
        track.append(message.copy(time=tick - previous))
        previous = tick
    return track


def _instruments_as_parts(
        sequence: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
    """Makes each instrument a part named by its track, for the voice rule."""
    for note in sequence.notes:
        note.part = note.instrument
    for info in sequence.instrument_infos:
        sequence.part_infos.add(part=info.instrument, name=info.name)
    return sequence
