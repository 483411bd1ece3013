"""Random but plausible four-voice chorales as MIDI files, for benchmarks.

The ingestion and memory benchmarks need MIDI folders of any size, from a
few files to tens of thousands of long pieces, without shipping data. Every
file holds four tracks named Soprano, Alto, Tenor and Bass (so `midi_dir`'s
"auto" voice rule takes them as those voices); each voice is a random walk
in its range, in note values from an eighth to a half note, at a random
tempo per file.

Files are written straight as Standard MIDI File bytes: building them with
`pretty_midi` (mido messages, validated one by one, then sorted) takes about
0.1 s for a file of 2,000 notes, so 10,000 such files would take half an
hour; these bytes are what `pretty_midi.PrettyMIDI.write` writes for the same
notes (same tracks, events, their order and running status), in about a
hundredth of the time. Each file depends only on its index (its random
generator is seeded with it), so corpora can be written by several processes
and are the same on every machine.
"""

import multiprocessing
import os
import shutil
import struct
from typing import Dict, List, Optional, Tuple

import numpy as np

VOICES = {"Soprano": (60, 81), "Alto": (53, 74), "Tenor": (48, 69),
          "Bass": (36, 62)}
DURATIONS = (0.5, 1.0, 1.0, 1.0, 1.5, 2.0)  # In quarters.

# pretty_midi's default resolution; every duration above is a whole number
# of ticks at it.
TICKS_PER_QUARTER = 220
PROGRAM = 52  # Choir aahs.
# Marks a folder `cached_corpus` finished writing; written last.
COMPLETE_MARKER = ".complete"

# A voice's notes: (start tick, end tick, pitch, velocity).
Note = Tuple[int, int, int, int]


def chorale_notes(rng: np.random.Generator, notes_per_voice: int
                  ) -> Tuple[float, Dict[str, List[Note]]]:
    """Draws one chorale.

    Args:
        rng: The random generator; the chorale depends only on its state.
        notes_per_voice: Notes in every voice.

    Returns:
        The tempo in quarter notes per minute, and every voice's notes, one
        after the other without gaps, by voice name.
    """
    qpm = float(rng.integers(60, 140))
    ticks = np.round(np.asarray(DURATIONS) * TICKS_PER_QUARTER).astype(int)
    voices = {}
    for name, (low, high) in VOICES.items():
        pitch = int(rng.integers(low + 4, high - 4))
        lengths = rng.choice(ticks, size=notes_per_voice).tolist()
        steps = rng.integers(-3, 4, size=notes_per_voice).tolist()
        velocities = rng.integers(60, 100, size=notes_per_voice).tolist()
        notes = []
        tick = 0
        for length, step, velocity in zip(lengths, steps, velocities):
            pitch = min(max(pitch + step, low), high)
            notes.append((tick, tick + length, pitch, velocity))
            tick += length
        voices[name] = notes
    return qpm, voices


def midi_bytes(qpm: float, voices: Dict[str, List[Note]]) -> bytes:
    """Returns a type-1 Standard MIDI File of monophonic voices.

    Track 0 holds the tempo and a 4/4 time signature; then one track per
    voice, named after it, on its own channel, with program `PROGRAM`. As
    pretty_midi does, a note ends with a note-on of velocity 0, and where
    one note ends as the next starts, the two events are ordered by (pitch,
    velocity).

    Args:
        qpm: Tempo in quarter notes per minute.
        voices: Each voice's notes in order, none overlapping the next; at
            most 15 voices.

    Returns:
        The file's bytes.
    """
    # pretty_midi's own arithmetic, so the tempo is the same integer.
    tick_scale = 60.0 / (qpm * TICKS_PER_QUARTER)
    tempo = int(6e7 / (60. / (tick_scale * TICKS_PER_QUARTER)))
    timing = (b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big") +
              b"\x00\xff\x58\x04\x04\x02\x18\x08" + b"\x01\xff\x2f\x00")
    tracks = [timing]
    for channel, (name, notes) in enumerate(voices.items()):
        channel += channel >= 9  # Channel 9 is for drums.
        encoded_name = name.encode("latin-1")
        data = bytearray(b"\x00\xff\x03" + _variable_int(len(encoded_name)) +
                         encoded_name)
        data += bytes((0, 0xc0 | channel, PROGRAM))
        # Absolute (tick, pitch, velocity) of every note-on, offs velocity 0.
        events = []
        previous = None
        for start, end, pitch, velocity in notes:
            on = (start, pitch, velocity)
            if previous is not None and previous[0] == start and (
                    (previous[1], 0) > (pitch, velocity)):
                events.insert(len(events) - 1, on)
            else:
                events.append(on)
            previous = (end, pitch, 0)
            events.append(previous)
        note_on = 0x90 | channel
        data.append(0)  # The first event's delta, then its status byte.
        data.append(note_on)
        now = 0
        first = True
        for tick, pitch, velocity in events:
            if not first:
                data += _variable_int(tick - now)
            first = False
            data.append(pitch)
            data.append(velocity)
            now = tick
        data += b"\x01\xff\x2f\x00"
        tracks.append(bytes(data))
    header = b"MThd" + struct.pack(">Lhhh", 6, 1, len(tracks),
                                   TICKS_PER_QUARTER)
    return header + b"".join(b"MTrk" + struct.pack(">L", len(track)) + track
                             for track in tracks)


def _variable_int(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits a byte, most significant
    first, the high bit set on all but the last."""
    out = [value & 0x7f]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7f))
        value >>= 7
    return bytes(reversed(out))


def write_chorale(path: str, rng: np.random.Generator,
                  notes_per_voice: int) -> None:
    """Writes one random chorale-like MIDI file (see `chorale_notes`)."""
    data = midi_bytes(*chorale_notes(rng, notes_per_voice))
    with open(path, "wb") as file:
        file.write(data)


def file_path(folder: str, index: int) -> str:
    """Where `make_corpus` puts file `index`: ten subfolders, so that the
    folder is searched recursively."""
    return os.path.join(folder, f"set{index % 10}", f"{index:05d}.mid")


def _write_range(args: Tuple[str, int, int, int]) -> int:
    folder, begin, end, notes_per_voice = args
    for index in range(begin, end):
        write_chorale(file_path(folder, index), np.random.default_rng(index),
                      notes_per_voice)
    return end - begin


def make_corpus(folder: str, num_files: int, notes_per_voice: int,
                processes: int = 1) -> None:
    """Writes `num_files` chorales into `folder` (see `file_path`).

    Args:
        folder: Created if missing.
        num_files: How many files.
        notes_per_voice: Notes in each of the four voices of every file.
        processes: Processes writing files; file `i` is the same whatever
            the number, as its generator is seeded with `i`.
    """
    for subfolder in range(min(num_files, 10)):
        os.makedirs(os.path.join(folder, f"set{subfolder}"), exist_ok=True)
    chunk = 50
    jobs = [(folder, begin, min(begin + chunk, num_files), notes_per_voice)
            for begin in range(0, num_files, chunk)]
    if processes <= 1 or len(jobs) <= 1:
        for job in jobs:
            _write_range(job)
        return
    # fork: the workers need nothing but this module, already imported.
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with context.Pool(processes) as pool:
        for _ in pool.imap_unordered(_write_range, jobs):
            pass


def cached_corpus(corpus_dir: str, num_files: int, notes_per_voice: int,
                  processes: Optional[int] = None) -> Tuple[str, bool]:
    """Returns a corpus folder under `corpus_dir`, writing it if needed.

    Each (num_files, notes_per_voice) gets its own subfolder, kept for later
    runs: the files are the same every time, and 10,000 long files take
    minutes to write. A `.complete` marker is written last; a folder without
    it (an interrupted run) is written again from scratch.

    Args:
        corpus_dir: Holds one subfolder per corpus.
        num_files: Files in the corpus.
        notes_per_voice: Notes in each voice of every file.
        processes: Processes writing files; None: one per core.

    Returns:
        The corpus folder, and whether it was written now (False: reused).
    """
    folder = os.path.join(corpus_dir,
                          f"files{num_files}-notes{notes_per_voice}")
    marker = os.path.join(folder, COMPLETE_MARKER)
    if os.path.exists(marker):
        return folder, False
    if os.path.exists(folder):
        shutil.rmtree(folder)
    make_corpus(folder, num_files, notes_per_voice,
                processes or os.cpu_count() or 1)
    with open(marker, "w") as file:
        file.write(f"{num_files} files, {notes_per_voice} notes per voice\n")
    return folder, True
