"""Writes sampled pieces as MIDI files that show where the primer ends.

A generated piece starts with a primer taken from real music and continues
with what the model wrote. Listeners want to hear the difference, so primer
notes are written softer than generated ones and a "primer end" marker (plus
a plain text event, which pretty_midi reads back) is placed where the model
takes over. Every voice gets its own named track, so notation programs and
DAWs show Soprano, Alto, Tenor and Bass as separate staves.
"""

import io
import os
from typing import Optional, Sequence

from absl import logging
import mido
import note_seq
from note_seq.protobuf import music_pb2
import pretty_midi

from polyframe.fileio import write_atomically

# General MIDI program 52 (0-based), "Choir Aahs": chorales are sung, and a
# sustained vowel keeps the four lines audible without a piano's decay.
CHOIR_AAHS = 52
# General MIDI program 19 (0-based), "Church Organ": the usual alternative.
CHURCH_ORGAN = 19

DEFAULT_VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
PRIMER_END_TEXT = "primer end"
# Generated notes play at a normal forte; primer notes clearly softer.
DEFAULT_VELOCITY = 96
DEFAULT_PRIMER_VELOCITY = 56


def write_midi(sequence: music_pb2.NoteSequence,
               path: str,
               primer_end_time: Optional[float] = None,
               voice_names: Sequence[str] = DEFAULT_VOICE_NAMES,
               program: int = CHOIR_AAHS,
               velocity: int = DEFAULT_VELOCITY,
               primer_velocity: int = DEFAULT_PRIMER_VELOCITY,
               programs: Optional[Sequence[int]] = None,
               ticks_per_quarter: Optional[int] = None) -> None:
    """Writes `sequence` to `path` as a multi-track MIDI file, atomically.

    Each voice (the `instrument` field of a note, 0 = highest voice) becomes
    one track named after the voice, so a 4-voice piece reads back as exactly
    4 instruments. Voices without notes get no track. The tempo map, time and
    key signatures come from the sequence. Note velocities are replaced: the
    model does not predict dynamics, and a uniform level per part makes the
    primer/generated contrast the only one heard.

    Args:
        sequence: The piece. Note times are in seconds.
        path: Output file; written via a temporary file and `os.replace`, so
            readers never see a partial file. Missing directories are created.
        primer_end_time: Where the primer ends, in seconds. Notes starting
            before it are primer notes (written with `primer_velocity`), and a
            marker and a text event saying "primer end" are placed at it. None
            means the whole piece is generated.
        voice_names: Track names by voice index; voices beyond the list are
            named "Voice <n>" (1-based).
        program: General MIDI program (0-127) of every track. The default,
            `CHOIR_AAHS`, suits chorales; `CHURCH_ORGAN` is the alternative.
        velocity: Velocity (1-127) of generated notes.
        primer_velocity: Velocity (1-127) of primer notes; lower than
            `velocity` so the primer is heard as softer.
        programs: General MIDI programs by voice index, overriding `program`
            for the voices they cover, so voices can sound different.
        ticks_per_quarter: MIDI resolution; None keeps the sequence's
            `ticks_per_quarter` (else 220). Note times are rounded to ticks,
            so a resolution divisible by a tuplet's denominator keeps it exact.

    Raises:
        ValueError: if an argument is out of range or a note has a negative
            voice index or a pitch outside 0-127.
    """
    _check_midi_value("program", program, 0)
    for voice_program in programs or ():
        _check_midi_value("programs[...]", voice_program, 0)
    if ticks_per_quarter is not None and not (
            isinstance(ticks_per_quarter, int) and 0 < ticks_per_quarter < 2**15):
        raise ValueError("ticks_per_quarter must be an integer in 1-32767, got "
                         f"{ticks_per_quarter!r}.")
    _check_midi_value("velocity", velocity, 1)
    _check_midi_value("primer_velocity", primer_velocity, 1)
    if primer_end_time is not None and not primer_end_time >= 0:
        raise ValueError("primer_end_time must be a time in seconds >= 0, "
                         f"got {primer_end_time!r}.")

    midi = _tempo_map_of(sequence, ticks_per_quarter)
    voice_programs = list(programs or ())
    midi.instruments = _voice_instruments(
            sequence, primer_end_time, voice_names,
            lambda voice: (voice_programs[voice] if voice < len(voice_programs)
                           else program),
            velocity, primer_velocity)
    if primer_end_time is not None:
        midi.text_events.append(
                pretty_midi.Text(PRIMER_END_TEXT, float(primer_end_time)))

    # pretty_midi cannot write markers, so its output is finished in mido.
    buffer = io.BytesIO()
    midi.write(buffer)
    buffer.seek(0)
    midi_file = mido.MidiFile(file=buffer)
    if primer_end_time is not None:
        _add_marker(midi_file.tracks[0], midi.time_to_tick(primer_end_time),
                    PRIMER_END_TEXT)
    buffer = io.BytesIO()
    midi_file.save(file=buffer)

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, buffer.getvalue())
    logging.info("Wrote %d notes in %d voices to %s.", len(sequence.notes),
                 len(midi.instruments), path)


def _check_midi_value(name: str, value: int, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            lowest <= value <= 127):
        raise ValueError(f"{name} must be an integer in {lowest}-127, got {value!r}.")


def _tempo_map_of(sequence: music_pb2.NoteSequence,
                  ticks_per_quarter: Optional[int] = None) -> pretty_midi.PrettyMIDI:
    """Returns an empty PrettyMIDI with the sequence's tempos and signatures."""
    skeleton = music_pb2.NoteSequence()
    skeleton.CopyFrom(sequence)
    if ticks_per_quarter is not None:
        skeleton.ticks_per_quarter = ticks_per_quarter
    del skeleton.notes[:]
    del skeleton.pitch_bends[:]
    del skeleton.control_changes[:]
    midi = note_seq.note_sequence_to_pretty_midi(skeleton)
    midi.instruments = []  # note_seq always adds one empty instrument.
    return midi


def _voice_instruments(sequence, primer_end_time, voice_names, program_of,
                       velocity, primer_velocity):
    """Returns one named `pretty_midi.Instrument` per voice that has notes."""
    instruments = {}
    for note in sequence.notes:
        voice = note.instrument
        if voice < 0:
            raise ValueError(f"note {note.pitch} at {note.start_time}s has a "
                             f"negative voice index {voice}.")
        if not 0 <= note.pitch <= 127:
            raise ValueError(f"note at {note.start_time}s has pitch {note.pitch}, "
                             "outside the MIDI range 0-127.")
        if voice not in instruments:
            name = (voice_names[voice] if voice < len(voice_names)
                    else f"Voice {voice + 1}")
            instruments[voice] = pretty_midi.Instrument(program=program_of(voice),
                                                        name=name)
        in_primer = primer_end_time is not None and note.start_time < primer_end_time
        instruments[voice].notes.append(pretty_midi.Note(
                velocity=primer_velocity if in_primer else velocity,
                pitch=note.pitch,
                start=note.start_time,
                end=note.end_time))
    for instrument in instruments.values():
        instrument.notes.sort(key=lambda n: (n.start, n.pitch))
    return [instruments[voice] for voice in sorted(instruments)]


def _add_marker(track: mido.MidiTrack, tick: int, text: str) -> None:
    """Inserts a marker meta event at absolute `tick`, keeping delta times right.

    Events already at `tick` stay before the marker; end-of-track stays last.
    """
    timed = []
    now = 0
    for message in track:
        now += message.time
        if message.type != "end_of_track":
            timed.append((now, message))
    timed.append((tick, mido.MetaMessage("marker", text=text)))
    timed.sort(key=lambda item: item[0])  # Stable: ties keep their order.

    track.clear()
    previous = 0
    for when, message in timed:
        track.append(message.copy(time=when - previous))
        previous = when
    track.append(mido.MetaMessage("end_of_track", time=0))
