"""What a run keeps of a validation piece besides its events: melody and
metre.

`primers.json` holds, per saved validation piece, its soprano (the melody a
melody-aware model harmonises when asked for samples), its time signature,
key and pickup, so that samples and harmonisations of it are written in the
piece's own metre.
"""

import fractions
from typing import Any, Dict, Tuple

from note_seq.protobuf import music_pb2

from polyframe.data.timing import TempoMap
from polyframe.music_input import GivenMusic

Fraction = fractions.Fraction


def metre_of(sequence: music_pb2.NoteSequence
             ) -> Tuple[Tuple[int, int], Fraction]:
    """The time signature and pickup (quarters) of a piece.

    MusicXML readers write a pickup bar as a time signature of its own at
    0 (e.g. 1/4), followed by the real one where the first full bar starts;
    that pair is read back as a pickup.
    """
    tempo_map = TempoMap(sequence)
    signatures = sorted((tempo_map.to_quarters(t.time), t.numerator,
                         t.denominator) for t in sequence.time_signatures)
    at_start = [s for s in signatures if s[0] == 0] or signatures[:1]
    for _, numerator, denominator in at_start:
        bar = Fraction(4 * numerator, denominator)
        follower = next((s for s in signatures if s[0] == bar), None)
        if follower and bar < Fraction(4 * follower[1], follower[2]):
            return (follower[1], follower[2]), bar
    _, numerator, denominator = at_start[0]
    return (numerator, denominator), Fraction(0)


def melody_of(sequence: music_pb2.NoteSequence,
              voice: int = 0) -> Dict[str, Any]:
    """A validation piece's melody and metre, as saved in primers.json."""
    tempo_map = TempoMap(sequence)
    notes = [[n.pitch, str(tempo_map.to_quarters(n.start_time)),
              str(tempo_map.to_quarters(n.end_time))]
             for n in sorted(sequence.notes, key=lambda n: n.start_time)
             if n.instrument == voice]
    melody = {"voice": voice, "notes": notes,
              "end": str(tempo_map.to_quarters(sequence.total_time))}
    if sequence.time_signatures:
        meter, pickup = metre_of(sequence)
        melody["time_signature"] = list(meter)
        melody["pickup"] = str(pickup)
    if sequence.key_signatures:
        first = min(sequence.key_signatures, key=lambda k: k.time)
        melody["key_fifths"] = fifths_of(first.key, first.mode)
    return melody


def fifths_of(key: int, mode: int) -> int:
    """Sharps (+) or flats (-) of a NoteSequence key (pitch class, mode)."""
    major = (key + 3) % 12 if mode == music_pb2.NoteSequence.KeySignature.MINOR \
        else key % 12
    fifths = (major * 7) % 12
    return fifths - 12 if fifths > 6 else fifths


def given_from_saved(piece_id: str, melody: Dict[str, Any]) -> GivenMusic:
    """A saved validation melody as given music."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(time=0.0, qpm=120.0)
    voice = int(melody["voice"])
    for pitch, start, end in melody["notes"]:
        sequence.notes.add(pitch=int(pitch), velocity=80, instrument=voice,
                           start_time=float(Fraction(start)) / 2,
                           end_time=float(Fraction(end)) / 2)
    end = Fraction(melody["end"])
    sequence.total_time = float(end) / 2
    return GivenMusic(
        sequence=sequence, voices=(voice,), end_quarters=end,
        time_signature=tuple(melody.get("time_signature", (4, 4))),
        key_fifths=melody.get("key_fifths"), key_mode=None,
        pickup_quarters=Fraction(melody.get("pickup", 0)),
        description=f"melody of {piece_id}")
