"""Hostile files for ingestion: two valid seeds and the ways they get damaged.

Hypothesis strategies that start from a valid four-track MIDI file and a
valid four-part MusicXML score and damage them the ways broken or hostile
files are damaged: flipped bits, truncation, absurd header values, huge
delta times, lying chunk lengths, broken XML, parts missing from the part
list or the score, absurd durations and tempos, entity expansion ("billion
laughs"), and `.mxl` archives that are broken or unpack to far more than
they weigh. Each case is a `Case`: a file name (its extension picks the
parser), the bytes, and what was done to them. `problem_of` says whether a
kept piece is one the project can use.

Shared by `test_fuzz_ingest.py` (a few hundred derandomised cases) and
`benchmarks/fuzz_ingest.py` (thousands).
"""

import dataclasses
import functools
import io
import math
import re
import struct
import zipfile
from typing import Callable, List, Tuple

from hypothesis import strategies as st
import mido
from note_seq.protobuf import music_pb2

from polyframe.data.timing import TempoMap
from polyframe.data.voice_rules import MAX_QUARTERS
from polyframe.data.voices import select_voices

CHORALE = {"Soprano": [72, 74, 76, 77], "Alto": [67, 69, 67, 65],
           "Tenor": [64, 62, 60, 62], "Bass": [48, 50, 52, 53]}
TICKS_PER_QUARTER = 480
HUGE_DELTA = 0x0FFFFFFF  # The largest delta time a MIDI varlen can hold.
MANY_TRACKS = 10_000

# Header values: valid ones, boundaries, SMPTE divisions (negative: frames
# per second in the high byte) and nonsense.
FORMATS = (0, 1, 2, 3, -1, 0x7FFF, -0x8000)
TRACK_COUNTS = (0, 1, 2, 5, 6, 255, MANY_TRACKS, 0x7FFF, -1, -0x8000)
DIVISIONS = (0, 1, -1, 480, 0x7FFF, -0x8000, -(25 << 8) + 40,
             -(30 << 8) + 80, -(24 << 8) + 4)
CHUNK_LENGTHS = (0, 1, 5, 6, 7, 0x7FFFFFFF, 0xFFFFFFFF)

SHORT_DELTAS = (0, 1, 127, 128, 0x3FFF, 0x4000)
HUGE_DELTAS = (HUGE_DELTA, HUGE_DELTA - 1, 10_000_000, 9_999_999,
               0x1FFFFF, 0x200000)


def _varlen(value: int) -> bytes:
    """`value` as a MIDI variable-length quantity."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


# Events inserted into a track: odd but well-formed ones, and ones whose
# declared length or value is absurd.
EVENTS = (
    b"\x90\x48\x50", b"\x80\x48\x00", b"\x90\x00\x40", b"\x90\x7f\x40",
    b"\x90\x48\x00", b"\x99\x24\x40", b"\xb0\x07\x64", b"\xc0\x34",
    b"\xe0\x00\x40", b"\x48\x50",  # Running status without a status byte.
    b"\xff\x51\x03\x00\x00\x00",  # Tempo 0 microseconds per quarter.
    b"\xff\x51\x03\xff\xff\xff",  # The slowest tempo.
    b"\xff\x58\x04\x04\xff\x18\x08",  # A time signature over 2**255.
    b"\xff\x58\x04\x00\x02\x18\x08",  # 0/4.
    b"\xff\x59\x02\x7f\x05",  # A key signature that does not exist.
    b"\xff\x2f\x00",  # End of track, early.
    b"\xff\x01" + _varlen(HUGE_DELTA),  # Text claiming 256 MiB.
    b"\xf0" + _varlen(HUGE_DELTA),  # SysEx claiming 256 MiB.
    b"\xff\x03\x08Soprano!",
)

# Values written where MusicXML expects a number.
ABSURD_NUMBERS = ("0", "-1", "-4", "1000000000000", "1" + "0" * 30, "x", "",
                  "nan", "inf", "-inf", "1e400", "0.5", "2.0", " 2 ",
                  "\u0663", "99999999999999999999")
ABSURD_TEMPOS = ("0", "-60", "1e-300", "1e308", "nan", "inf", "x", "")
NUMERIC_ELEMENTS = ("duration", "divisions", "octave", "alter", "beats",
                    "beat-type", "fifths", "voice")
DOCTYPE = ('<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 '
           'Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">')
CONTAINER = ('<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
             '<rootfile full-path="score.xml"/></rootfiles></container>')
STEPS = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")


@dataclasses.dataclass(frozen=True)
class Case:
    """One file to ingest.

    Attributes:
        name: The file's name; its extension picks the parser.
        data: Its bytes.
        mutations: What was done to the seed, in order.
    """

    name: str
    data: bytes
    mutations: Tuple[str, ...]

    def __repr__(self) -> str:
        return (f"Case({self.name!r}, {len(self.data):,} bytes, "
                f"{list(self.mutations)})")


Mutation = Callable[[Callable, bytes], Tuple[bytes, str]]


def problem_of(record: bytes, num_voices: int = 4) -> str:
    """Returns what makes a kept piece unusable, or "" if nothing does.

    Usable: `num_voices` voices that `select_voices` accepts unchanged, and
    notes at finite, non-negative times, within the piano's pitches, ending
    within `MAX_QUARTERS`.
    """
    piece = music_pb2.NoteSequence.FromString(record)
    checked, dropped = select_voices(piece, num_voices, voice_names=())
    if dropped or [(n.instrument, n.pitch, n.start_time, n.end_time)
                   for n in checked.notes] != [
                       (n.instrument, n.pitch, n.start_time, n.end_time)
                       for n in piece.notes]:
        return f"select_voices changes the piece (dropped: {dropped})"
    tempo_map = TempoMap(piece)
    for note in piece.notes:
        if not (math.isfinite(note.start_time) and
                math.isfinite(note.end_time) and
                0 <= note.start_time < note.end_time):
            return f"a note from {note.start_time} to {note.end_time} s"
        if not 21 <= note.pitch <= 108:
            return f"pitch {note.pitch}"
        if tempo_map.to_quarters(note.end_time) > MAX_QUARTERS:
            return f"a note ends at {note.end_time} s"
    return ""


# --- MIDI --------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def seed_midi() -> bytes:
    """A valid type-1 MIDI file: a tempo track and one track per voice,
    named Soprano, Alto, Tenor and Bass, each with the `CHORALE` line in
    quarter notes."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)),
        mido.MetaMessage("time_signature", numerator=4, denominator=4),
        mido.MetaMessage("end_of_track")]))
    for channel, (name, line) in enumerate(CHORALE.items()):
        track = mido.MidiTrack([
            mido.MetaMessage("track_name", name=name),
            mido.Message("program_change", channel=channel, program=52)])
        for pitch in line:
            track.append(mido.Message("note_on", channel=channel, note=pitch,
                                      velocity=80))
            track.append(mido.Message("note_off", channel=channel,
                                      note=pitch, time=TICKS_PER_QUARTER))
        track.append(mido.MetaMessage("end_of_track"))
        midi.tracks.append(track)
    return _midi_bytes(midi)


@functools.lru_cache(maxsize=None)
def many_tracks_midi(with_notes: bool) -> bytes:
    """A type-1 file that really has `MANY_TRACKS` tracks, each empty or
    holding one quarter note (pitch 40 + index % 40, all at time 0)."""
    tracks = []
    for index in range(MANY_TRACKS):
        pitch = 40 + index % 40
        body = (b"\x00\x90" + bytes([pitch]) + b"\x50" +
                _varlen(TICKS_PER_QUARTER) + b"\x80" + bytes([pitch]) +
                b"\x00") if with_notes else b""
        tracks.append(_chunk(b"MTrk", body + b"\x00\xff\x2f\x00"))
    return midi_header(1, MANY_TRACKS, TICKS_PER_QUARTER) + b"".join(tracks)


@functools.lru_cache(maxsize=None)
def dense_midi(chords: int) -> bytes:
    """A type-0 file of `chords` four-note chords, eighth notes in a row:
    large and valid, a piano piece's worth of notes many times over."""
    events = []
    for index in range(chords):
        pitches = [72 + index % 5, 67, 64 - index % 3, 48]
        events += [b"\x00\x90" + bytes([pitch]) + b"\x50" for pitch in pitches]
        events += [_varlen(TICKS_PER_QUARTER // 2 if i == 0 else 0) + b"\x80"
                   + bytes([pitch]) + b"\x00"
                   for i, pitch in enumerate(pitches)]
    return (midi_header(0, 1, TICKS_PER_QUARTER) +
            _chunk(b"MTrk", b"".join(events) + b"\x00\xff\x2f\x00"))


def midi_header(file_format: int, num_tracks: int, division: int,
                length: int = 6) -> bytes:
    """An "MThd" chunk; values are written as MIDI stores them (signed)."""
    return struct.pack(">4sIhhh", b"MThd", length, file_format, num_tracks,
                       division)


def huge_delta_midi(delta: int = HUGE_DELTA) -> bytes:
    """The seed with a fifth track whose one note starts `delta` ticks in."""
    track = _chunk(b"MTrk", _varlen(delta) + b"\x90\x48\x50" +
                   _varlen(TICKS_PER_QUARTER) + b"\x80\x48\x00\x00\xff\x2f"
                   b"\x00")
    seed = seed_midi()
    return midi_header(1, 6, TICKS_PER_QUARTER) + seed[14:] + track


def _midi_bytes(midi: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack(">I", len(body)) + body


def _track_spans(data: bytes) -> List[Tuple[int, int]]:
    """`(offset of the length field, end of the body)` of every "MTrk"."""
    spans = []
    for match in re.finditer(b"MTrk", data):
        length_at = match.end()
        if length_at + 4 <= len(data):
            (length,) = struct.unpack(">I", data[length_at:length_at + 4])
            spans.append((length_at, min(len(data), length_at + 4 + length)))
    return spans


def _position(draw, size: int) -> int:
    """An offset in 0..size, counted from the start or from the end.

    Hypothesis favours small numbers; counting from either end spreads the
    damage over the header and the tail instead of the first bytes only.
    """
    offset = draw(st.integers(0, size))
    return size - offset if draw(st.booleans()) else offset


def _flip_bits(draw, data: bytes) -> Tuple[bytes, str]:
    if not data:
        return data, "nothing to flip"
    bits = [_position(draw, len(data) * 8 - 1)
            for _ in range(draw(st.integers(1, 16)))]
    flipped = bytearray(data)
    for bit in bits:
        flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped), f"flipped bits {bits}"


def _truncate(draw, data: bytes) -> Tuple[bytes, str]:
    at = _position(draw, max(0, len(data) - 1))
    return data[:at], f"cut after {at} bytes"


def _insert_bytes(draw, data: bytes) -> Tuple[bytes, str]:
    at = _position(draw, len(data))
    junk = draw(st.binary(min_size=1, max_size=32))
    return data[:at] + junk + data[at:], f"inserted {junk!r} at {at}"


def _absurd_header(draw, data: bytes) -> Tuple[bytes, str]:
    values = (draw(st.sampled_from(FORMATS)),
              draw(st.sampled_from(TRACK_COUNTS)),
              draw(st.sampled_from(DIVISIONS)))
    length = draw(st.sampled_from((6,) + CHUNK_LENGTHS))
    return (midi_header(*values, length=length) + data[14:],
            f"header length {length}, format {values[0]}, {values[1]} "
            f"tracks, division {values[2]}")


def _lying_chunk_length(draw, data: bytes) -> Tuple[bytes, str]:
    spans = _track_spans(data)
    if not spans:
        return data, "no track to lie about"
    length_at, _ = draw(st.sampled_from(spans))
    length = draw(st.sampled_from(CHUNK_LENGTHS))
    return (data[:length_at] + struct.pack(">I", length) +
            data[length_at + 4:], f"track length at {length_at} := {length}")


def _insert_event(draw, data: bytes) -> Tuple[bytes, str]:
    """Puts an event, after a short or huge delta time, first in a track."""
    spans = _track_spans(data)
    if not spans:
        return data, "no track for an event"
    length_at, end = draw(st.sampled_from(spans))
    delta = draw(st.one_of(st.sampled_from(SHORT_DELTAS + HUGE_DELTAS),
                           st.integers(0, HUGE_DELTA)))
    event = _varlen(delta) + draw(st.sampled_from(EVENTS))
    body = data[length_at + 4:end]
    return (data[:length_at] + struct.pack(">I", len(body) + len(event)) +
            event + body + data[end:],
            f"event {event!r} (delta {delta}) first in track at {length_at}")


def _add_tracks(draw, data: bytes) -> Tuple[bytes, str]:
    """Appends tiny tracks (one note each) and counts them in the header."""
    count = draw(st.integers(1, 64))
    tracks = b"".join(
        _chunk(b"MTrk", b"\x00\x90" + bytes([30 + index]) + b"\x40\x60\x80" +
               bytes([30 + index]) + b"\x00\x00\xff\x2f\x00")
        for index in range(count))
    header = data[:14]
    if len(header) == 14 and header.startswith(b"MThd"):
        (tracks_now,) = struct.unpack(">h", header[10:12])
        header = header[:10] + struct.pack(
            ">h", max(-0x8000, min(0x7FFF, tracks_now + count))) + header[12:]
    return header + data[14:] + tracks, f"added {count} tracks"


MIDI_MUTATIONS: Tuple[Mutation, ...] = (
    _flip_bits, _truncate, _insert_bytes, _absurd_header,
    _lying_chunk_length, _insert_event, _add_tracks)


@st.composite
def midi_cases(draw) -> Case:
    """The seed MIDI file after one to three mutations."""
    data, done = seed_midi(), []
    for _ in range(draw(st.integers(1, 3))):
        data, what = draw(st.sampled_from(MIDI_MUTATIONS))(draw, data)
        done.append(what)
    return Case(draw(st.sampled_from(("fuzz.mid", "fuzz.MIDI"))), data,
                tuple(done))


# --- MusicXML ----------------------------------------------------------------


def _pitch_xml(pitch: int) -> str:
    step = STEPS[pitch % 12]
    alter = "<alter>1</alter>" if STEPS[pitch % 12 - 1] == step and (
        pitch % 12) else ""
    return (f"<pitch><step>{step}</step>{alter}<octave>{pitch // 12 - 1}"
            "</octave></pitch>")


@functools.lru_cache(maxsize=None)
def seed_musicxml() -> str:
    """A valid partwise score with the standard DOCTYPE: four parts named
    Soprano, Alto, Tenor and Bass, each the `CHORALE` line in quarter notes
    in one 4/4 bar at 90 qpm."""
    part_list, parts = [], []
    for index, (name, line) in enumerate(CHORALE.items()):
        part_list.append(f'<score-part id="P{index + 1}"><part-name>{name}'
                         '</part-name></score-part>')
        notes = "".join(
            f"<note>{_pitch_xml(pitch)}<duration>2</duration><voice>1</voice>"
            "<type>quarter</type></note>" for pitch in line)
        parts.append(
            f'<part id="P{index + 1}"><measure number="1"><attributes>'
            "<divisions>2</divisions><key><fifths>0</fifths></key><time>"
            "<beats>4</beats><beat-type>4</beat-type></time></attributes>"
            '<direction placement="above"><direction-type><words>Calmly'
            '</words></direction-type><sound tempo="90"/></direction>'
            f"{notes}</measure></part>")
    return ('<?xml version="1.0" encoding="UTF-8"?>' + DOCTYPE +
            '<score-partwise version="4.0"><part-list>' + "".join(part_list)
            + "</part-list>" + "".join(parts) + "</score-partwise>")


def _text_truncate(draw, text: str) -> Tuple[str, str]:
    at = _position(draw, max(0, len(text) - 1))
    return text[:at], f"cut after {at} characters"


def _drop_tag(draw, text: str) -> Tuple[str, str]:
    tags = list(re.finditer(r"<[^>]+>", text))
    if not tags:
        return text, "no tag to drop"
    tag = draw(st.sampled_from(tags))
    return text[:tag.start()] + text[tag.end():], f"dropped {tag.group()}"


def _duplicate_tag(draw, text: str) -> Tuple[str, str]:
    tags = list(re.finditer(r"<[^>?!]+>", text))
    if not tags:
        return text, "no tag to repeat"
    tag = draw(st.sampled_from(tags))
    return (text[:tag.end()] + tag.group() + text[tag.end():],
            f"repeated {tag.group()}")


def _absurd_number(draw, text: str) -> Tuple[str, str]:
    element = draw(st.sampled_from(NUMERIC_ELEMENTS))
    found = list(re.finditer(rf"<{element}>([^<]*)</{element}>", text))
    if not found:
        return text, f"no <{element}>"
    match = draw(st.sampled_from(found))
    value = draw(st.sampled_from(ABSURD_NUMBERS))
    return (text[:match.start(1)] + value + text[match.end(1):],
            f"<{element}> {match.group(1)!r} -> {value!r}")


def _absurd_tempo(draw, text: str) -> Tuple[str, str]:
    value = draw(st.sampled_from(ABSURD_TEMPOS))
    return (re.sub(r'tempo="[^"]*"', f'tempo="{value}"', text),
            f"tempo {value!r}")


def _drop_block(element: str) -> Mutation:
    """A mutation that removes one `<element ...>...</element>`."""

    def drop(draw, text: str) -> Tuple[str, str]:
        blocks = list(re.finditer(rf"<{element}[ >].*?</{element}>", text,
                                  re.S))
        if not blocks:
            return text, f"no <{element}> to drop"
        block = draw(st.sampled_from(blocks))
        return (text[:block.start()] + text[block.end():],
                f"dropped {block.group()[:40]}...")

    drop.__name__ = f"_drop_{element}"
    return drop


def _rename_part(draw, text: str) -> Tuple[str, str]:
    ids = sorted(set(re.findall(r'<part id="([^"]*)"', text)))
    if not ids:
        return text, "no part to rename"
    old = draw(st.sampled_from(ids))
    new = draw(st.sampled_from(("P9", "", "P1", "&amp;")))
    return (text.replace(f'<part id="{old}"', f'<part id="{new}"', 1),
            f"part {old!r} renamed {new!r}")


def _time_jump(draw, text: str) -> Tuple[str, str]:
    """Inserts a <backup> or <forward> of an absurd length after a note."""
    ends = [match.end() for match in re.finditer("</note>", text)]
    if not ends:
        return text, "no note to jump from"
    at = draw(st.sampled_from(ends))
    kind = draw(st.sampled_from(("backup", "forward")))
    value = draw(st.sampled_from(ABSURD_NUMBERS + ("8", "100")))
    return (text[:at] + f"<{kind}><duration>{value}</duration></{kind}>" +
            text[at:], f"<{kind}> of {value!r}")


def _extra_note(draw, text: str) -> Tuple[str, str]:
    """Inserts a chord note, rest or grace note with absurd values."""
    ends = [match.end() for match in re.finditer("</note>", text)]
    if not ends:
        return text, "no note to follow"
    at = draw(st.sampled_from(ends))
    value = draw(st.sampled_from(ABSURD_NUMBERS))
    note = draw(st.sampled_from((
        f"<note><chord/>{_pitch_xml(60)}<duration>{value}</duration></note>",
        f"<note><rest/><duration>{value}</duration></note>",
        f"<note><grace/>{_pitch_xml(61)}<type>eighth</type></note>",
        f"<note><pitch><step>H</step><octave>{value}</octave></pitch>"
        "<duration>2</duration></note>",
        "<note><unpitched><display-step>C</display-step><display-octave>5"
        "</display-octave></unpitched><duration>2</duration></note>")))
    return text[:at] + note + text[at:], f"added {note[:50]}..."


XML_MUTATIONS = (
    _text_truncate, _drop_tag, _duplicate_tag, _absurd_number, _absurd_tempo,
    _drop_block("part"), _drop_block("score-part"), _drop_block("measure"),
    _drop_block("attributes"), _rename_part, _time_jump, _extra_note)


@st.composite
def musicxml_cases(draw) -> Case:
    """The seed score after one to three mutations of its text; one case in
    five also has bits flipped in its bytes (which mostly breaks the XML,
    so it is kept rare enough for the other mutations to reach the
    reader)."""
    text, done = seed_musicxml(), []
    for _ in range(draw(st.integers(1, 3))):
        text, what = draw(st.sampled_from(XML_MUTATIONS))(draw, text)
        done.append(what)
    data = text.encode("utf-8")
    if draw(st.integers(0, 4)) == 4:
        data, what = _flip_bits(draw, data)
        done.append(what)
    return Case(draw(st.sampled_from(("fuzz.xml", "fuzz.musicxml"))), data,
                tuple(done))


def billion_laughs(depth: int = 10, fan_out: int = 10) -> str:
    """A score whose part name expands to `fan_out ** depth` "lol"s."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * fan_out}">'
        for level in range(1, depth + 1))
    return _with_doctype(f"[{entities}]", f"&lol{depth};")


def _with_doctype(subset: str, soprano_name: str) -> str:
    """The seed with an internal DTD subset and a new soprano part name."""
    text = seed_musicxml().replace(
        DOCTYPE, f"<!DOCTYPE score-partwise {subset}>")
    return text.replace("<part-name>Soprano", f"<part-name>{soprano_name}", 1)


@st.composite
def entity_cases(draw) -> Case:
    """Scores that declare entities: exponential ("billion laughs") and
    quadratic expansion, external and parameter entities; UTF-8 or UTF-16."""
    kind = draw(st.sampled_from(("exponential", "quadratic", "external",
                                 "parameter", "harmless")))
    if kind == "exponential":
        depth, fan_out = draw(st.integers(1, 12)), draw(st.integers(2, 16))
        text, what = billion_laughs(depth, fan_out), f"{fan_out}**{depth}"
    elif kind == "quadratic":
        size, uses = draw(st.integers(1, 200_000)), draw(st.integers(1, 5000))
        text = _with_doctype(f'[<!ENTITY big "{"x" * size}">]',
                             "&big;" * uses)
        what = f"{size} characters x {uses}"
    elif kind == "external":
        text = _with_doctype('[<!ENTITY ext SYSTEM "file:///etc/passwd">]',
                             "&ext;")
        what = "file:///etc/passwd"
    elif kind == "parameter":
        text = _with_doctype(
            "[<!ENTITY % inner \"<!ENTITY lol 'lol'>\"> %inner;]", "&lol;")
        what = "a parameter entity declaring an entity"
    else:
        text = _with_doctype('[<!ENTITY name "Soprano">]', "&name;")
        what = "one harmless entity"
    encoding = draw(st.sampled_from(("utf-8", "utf-16")))
    if encoding == "utf-16":
        text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return Case("entities.xml", text.encode(encoding),
                (f"{kind} entities: {what}", encoding))


# --- Compressed MusicXML -----------------------------------------------------


def mxl(members: List[Tuple[str, bytes]]) -> bytes:
    """A zip archive of `(name, bytes)` members, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@functools.lru_cache(maxsize=4)
def zip_bomb(unpacked_bytes: int) -> bytes:
    """An `.mxl` whose score is the seed padded with spaces to
    `unpacked_bytes`; it packs to about a thousandth of that, and is
    written a block at a time, never held unpacked."""
    seed = seed_musicxml().encode("utf-8")
    closing = b"</score-partwise>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", CONTAINER.encode("utf-8"))
        with archive.open("score.xml", "w") as score:
            score.write(seed[:-len(closing)])
            padding = max(0, unpacked_bytes - len(seed))
            block = b" " * (1 << 20)
            for start in range(0, padding, len(block)):
                score.write(block[:padding - start])
            score.write(closing)
    return buffer.getvalue()


@st.composite
def mxl_cases(draw, bomb_bytes: int) -> Case:
    """Archives: the (maybe mutated) score packed as it should be, without
    or with a broken container, with entities in the container, packed
    bits flipped, or a bomb unpacking to `bomb_bytes`."""
    kind = draw(st.sampled_from(("packed", "no container", "wrong path",
                                 "two scores", "container entities",
                                 "flipped", "bomb")))
    if kind == "bomb":
        return Case("fuzz.mxl", zip_bomb(bomb_bytes),
                    (f"unpacks to {bomb_bytes:,} bytes",))
    inner = draw(st.one_of(st.just(Case("seed", seed_musicxml().encode(
        "utf-8"), ())), musicxml_cases()))
    container = CONTAINER
    if kind == "wrong path":
        container = CONTAINER.replace("score.xml", "missing.xml")
    elif kind == "two scores":
        container = CONTAINER.replace(
            "<rootfile ", '<rootfile full-path="score.xml"/><rootfile ')
    elif kind == "container entities":
        container = CONTAINER.replace(
            "<container>", '<!DOCTYPE container [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><container>')
    members = [("score.xml", inner.data)]
    if kind != "no container":
        members.insert(0, ("META-INF/container.xml",
                           container.encode("utf-8")))
    data = mxl(members)
    done = (kind,) + inner.mutations
    if kind == "flipped":
        data, what = _flip_bits(draw, data)
        done += (what,)
    return Case("fuzz.mxl", data, done)
