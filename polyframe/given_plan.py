"""Given voices (a melody to harmonise, parts of a primer) as forced tokens.

The user's notes are encoded with the model's encoder and checked to come
back exactly: a rhythm the encoder cannot hold (off its grid, a duration it
has no token for) or a pitch outside its range is an error naming the note,
never silently quantised. The result is a `GivenVoicesPlan` on the
encoder's clock, which the `given_voices` constraint replays inside the
compiled loop.
"""

import fractions
from typing import Dict, List, Sequence, Tuple

import numpy as np
from note_seq.protobuf import music_pb2

from polyframe.data.corpus import UnusableSequenceError
from polyframe.data.timing import TempoMap
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError
from polyframe_plugins.constraints.basic import GivenVoicesPlan

Fraction = fractions.Fraction
# (voice, MIDI pitch, onset, end) in quarters
Span = Tuple[int, int, Fraction, Fraction]

_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def note_name(pitch: int) -> str:
    """`60` -> `"C4"`."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def given_spans(sequence: music_pb2.NoteSequence) -> List[Span]:
    """The notes of `sequence` in exact quarters, by onset then voice."""
    tempo_map = TempoMap(sequence)
    return sorted(((n.instrument, n.pitch, tempo_map.to_quarters(n.start_time),
                    tempo_map.to_quarters(n.end_time))
                   for n in sequence.notes), key=lambda s: (s[2], s[0]))


def plan_given_voices(encoder: EventEncoder, sequence: music_pb2.NoteSequence,
                      voices: Sequence[int], end_quarters,
                      force_end: bool, what: str = "melody",
                      voice_names: Sequence[str] = ()) -> GivenVoicesPlan:
    """Encodes given voices and checks the encoder holds them exactly.

    Args:
        encoder: The model's fitted encoder.
        sequence: The given notes, voice in `instrument`.
        voices: The given voices.
        end_quarters: Where the given music ends (a final rest included).
        force_end: End the piece there (harmonising) or go on (a primer).
        what: What the notes are, for messages ("melody", "primer").
        voice_names: Voice names for messages.

    Returns:
        The plan for the `given_voices` constraint.

    Raises:
        UserFacingError: naming the first note the encoder cannot hold, or
            saying that the encoder cannot take given voices at all.
    """
    clock = encoder.clock()
    if clock is None or not clock.per_voice:
        raise UserFacingError(
            f"this model's encoder ({type(encoder).__name__}) has no voices "
            f"to give a {what} in; harmonising needs the duration or grid "
            "encoder.")
    spans = given_spans(sequence)
    end = max([Fraction(end_quarters)] + [s[3] for s in spans])
    _check_pitches(encoder, spans, what, voice_names)
    voices = tuple(sorted(voices))
    rows = [_voice_rows(encoder, clock, sequence, voice, end, spans, what,
                        voice_names) for voice in voices]
    ticks = sorted(set().union(*rows))
    continuation = encoder.continuation_tokens()
    tokens = np.stack([
        np.stack([voice_rows.get(tick, continuation)
                  for voice_rows in rows]) for tick in ticks])
    return GivenVoicesPlan(
        voices=voices,
        ticks=np.asarray(ticks, np.int32),
        tokens=tokens.astype(np.int32),
        continuation=continuation,
        end_tick=clock.to_ticks(end),
        force_end=force_end)


def _voice_rows(encoder, clock, sequence, voice, end, spans, what,
                voice_names) -> Dict[int, np.ndarray]:
    """One given voice's tokens by tick, from its start to `end`.

    The voice is encoded alone, copied into every voice of the encoder, so
    that no other voice's rests (which may have no duration token) shape its
    events.
    """
    alone = music_pb2.NoteSequence()
    alone.tempos.extend(sequence.tempos)
    for note in sequence.notes:
        if note.instrument == voice:
            for copy in range(encoder.num_voices):
                alone.notes.add().CopyFrom(note)
                alone.notes[-1].instrument = copy
    alone.total_time = TempoMap(sequence).to_seconds(end)
    try:
        events = encoder.encode(alone)
    except UnusableSequenceError as error:
        raise UserFacingError(f"the {what} cannot be encoded: {error}") from None
    _check_round_trip(encoder, events, [s for s in spans if s[0] == voice],
                      voice, what, voice_names)
    times = [Fraction(t).limit_denominator(clock.ticks_per_quarter)
             for t in encoder.event_start_times(events, qpm=60.0)]
    rows = {clock.to_ticks(t): events[row, voice]
            for row, t in enumerate(times[:-1])}
    if times[-1] < end:
        rest = encoder.rest_tokens(end - times[-1])
        if rest is None:
            raise UserFacingError(
                f"the {what}'s final rest ({end - times[-1]} quarters, from "
                f"quarter {times[-1]}) cannot be held exactly by the "
                f"{type(encoder).__name__}; lengthen the last note or change "
                "the rest.")
        rows[clock.to_ticks(times[-1])] = rest
    return rows


def _describe(span: Span, index: int, what: str,
              voice_names: Sequence[str]) -> str:
    voice, pitch, start, stop = span
    who = (f" ({voice_names[voice]})" if voice < len(voice_names) else "")
    return (f"{what} note {index + 1}{who}, {note_name(pitch)} at quarter "
            f"{start} lasting {stop - start} quarters,")


def _check_pitches(encoder, spans, what, voice_names) -> None:
    for index, span in enumerate(spans):
        if encoder.pitch_id(span[1]) is None:
            raise UserFacingError(
                f"{_describe(span, index, what, voice_names)} is outside the "
                "model's pitch range; transpose the "
                f"{what} into the range the model was trained on.")


def _merged(spans: Sequence[Span]) -> List[Span]:
    """Joins a note to the one before when it continues it at the same
    pitch: a grid without articulation cannot tell them apart, and the user's
    own notes are what is written anyway."""
    result: List[Span] = []
    for span in sorted(spans, key=lambda s: (s[0], s[2])):
        last = result[-1] if result else None
        if last and last[0] == span[0] and last[1] == span[1] and \
                last[3] == span[2]:
            result[-1] = (last[0], last[1], last[2], span[3])
        else:
            result.append(span)
    return result


def _check_round_trip(encoder, events, spans, voice, what,
                      voice_names) -> None:
    decoded = [s for s in given_spans(encoder.decode(events, qpm=120.0))
               if s[0] == voice]
    held = set(_merged(decoded))
    wanted = _merged(spans)
    for span in wanted:
        if span not in held:
            index = next(i for i, s in enumerate(spans)
                         if s[0] == span[0] and s[2] == span[2])
            raise UserFacingError(
                f"{_describe(spans[index], index, what, voice_names)} (or "
                f"the rest before it) has a rhythm the "
                f"{type(encoder).__name__} cannot hold exactly (off its grid "
                "or a duration it has no token for); it is not quantised. "
                "Change that rhythm or use a model whose encoder holds it.")
