"""The contract between music (NoteSequences) and models (integer arrays).

An encoder turns a NoteSequence into an array of events of shape
`[num_events, num_voices, num_fields]`: at every event, each voice carries one
token per field (for the duration encoder: a pitch token and a duration
token). Models predict events field by field and voice by voice, so anything
that fits this shape can be trained by the same model and trainer.

Token id 0 of every field is `START`: the model's input before the first event.
It is never a target and never sampled. Encoders with an END marker give
every field one more id, the last: the row of END tokens follows a piece's
last event (the pipeline appends it), so models learn where pieces end and
generation can stop there.
"""

import abc
import dataclasses
from typing import (TYPE_CHECKING, Any, Dict, Iterable, Optional,
                    Sequence, Tuple)

import numpy as np
from note_seq.protobuf import music_pb2

from polyframe.data.corpus import UnusableSequenceError

if TYPE_CHECKING:
    from polyframe.clock import EventClock

START_ID = 0


@dataclasses.dataclass(frozen=True)
class Field:
    """One token per voice per event, drawn from a vocabulary.

    Attributes:
        name: Short name, e.g. "pitch" or "duration"; names embeddings/logits.
        vocab_size: Number of token ids, `START_ID` included.
        pitches: For a field whose tokens sound pitches, the MIDI pitch of
            every id (-1 for ids that sound none, such as START, REST or
            END), so that a model can relate tokens by interval; None for
            other fields.
    """

    name: str
    vocab_size: int
    pitches: Optional[Tuple[int, ...]] = dataclasses.field(default=None,
                                                           repr=False)


class EventEncoder(abc.ABC):
    """Turns NoteSequences into event arrays and back.

    Life cycle: construct (hyperparameters from gin), `fit` on the training
    split (learns vocabularies), then `encode`/`decode`. `get_state` and
    `set_state` save and restore what `fit` learned, so a trained model
    directory can be sampled from without the training data.
    """

    @property
    @abc.abstractmethod
    def num_voices(self) -> int:
        """Number of voices per event."""

    end_marker: bool = False

    @property
    @abc.abstractmethod
    def token_fields(self) -> Sequence[Field]:
        """The fields without the END id, in the order models predict them."""

    @property
    def fields(self) -> Sequence[Field]:
        """The fields of every voice as models see them: END included, and
        the first field naming the pitch of each of its ids where any sounds
        one (`sounding_pitches`)."""
        extra = 1 if self.end_marker else 0
        fields = [Field(f.name, f.vocab_size + extra)
                  for f in self.token_fields]
        pitches = np.full(fields[0].vocab_size, -1, np.int64)
        sounding = np.asarray(self.sounding_pitches())[:len(pitches)]
        pitches[:len(sounding)] = sounding
        if (pitches >= 0).any():
            fields[0] = dataclasses.replace(
                fields[0], pitches=tuple(int(p) for p in pitches))
        return tuple(fields)

    @property
    def end_ids(self) -> Optional[Sequence[int]]:
        """END's id in every field, or None if the encoder has no END."""
        if not self.end_marker:
            return None
        return tuple(f.vocab_size for f in self.token_fields)

    def end_row(self) -> Optional[np.ndarray]:
        """The END event `[num_voices, fields]` that closes a piece, or None."""
        ids = self.end_ids
        if ids is None:
            return None
        return np.tile(np.asarray(ids, np.int32), (self.num_voices, 1))

    def until_end(self, events: np.ndarray) -> np.ndarray:
        """`events` up to (without) the first END event: what decodes."""
        ids = self.end_ids
        events = np.asarray(events)
        if ids is None or not len(events):
            return events
        ended = np.flatnonzero(events[:, 0, 0] == ids[0])
        return events[:ended[0]] if len(ended) else events

    @property
    def voices_are_parts(self) -> bool:
        """Whether each voice is a part a listener follows (a soprano, a
        tenor), so that its range, its parallels and its crossings mean
        something; False where the voices are slots of a frame, as in a
        piano roll. Encodings of one voice have no parts either way."""
        return self.num_voices > 1

    @property
    def events_are_frames(self) -> bool:
        """Whether every event is one time frame of fixed length (a grid
        step), so that NLL per event is NLL per frame."""
        return False

    def clock(self) -> Optional["EventClock"]:
        """The event clock in TF ops (see `polyframe.clock`), or None if the
        encoder's events have no per-voice timing to force notes against."""
        return None

    def continuation_tokens(self) -> Optional[np.ndarray]:
        """Tokens `[fields]` of a voice whose note goes on through an event
        (e.g. HOLD), or None if every event restates each voice."""
        return None

    def sounding_pitches(self) -> np.ndarray:
        """The MIDI pitch each first-field token makes sound, int32
        `[vocab]`: -1 for tokens that sound none (START, REST, HOLD, END...).

        By default the tokens of `pitch_id`; an encoder with more than one
        token per pitch (a struck and a continued note) overrides it.
        """
        vocab = self.token_fields[0].vocab_size + (1 if self.end_marker else 0)
        pitches = np.full(vocab, -1, np.int32)
        for pitch in range(128):
            token = self.pitch_id(pitch)
            if token is not None and 0 <= token < vocab:
                pitches[token] = pitch
        return pitches

    def pitch_id(self, pitch: int) -> Optional[int]:
        """The id of MIDI `pitch` in the first field, or None if there is no
        such token (range constraints use it)."""
        del pitch
        return None

    def transposed(self, events: np.ndarray,
                   semitones: int) -> Optional[np.ndarray]:
        """The events of the same piece `semitones` higher (lower when
        negative), computed from `events` alone; None (the default) where
        the encoder cannot, and the piece is transposed and encoded again.

        Raises:
            UnusableSequenceError: if a note leaves the pitch range.
        """
        del events, semitones
        return None

    def rest_tokens(self, quarters) -> Optional[np.ndarray]:
        """Tokens `[fields]` of a rest of `quarters` starting at an event, or
        None if the encoder cannot hold that rest exactly."""
        del quarters
        return None

    @property
    def voice_names(self) -> Sequence[str]:
        """Names of the voices, for MIDI tracks (soprano first by default)."""
        named = ("Soprano", "Alto", "Tenor", "Bass")
        if self.num_voices <= len(named):
            return named[:self.num_voices]
        return tuple(f"Voice {i + 1}" for i in range(self.num_voices))

    def fit(self, sequences: Iterable[music_pb2.NoteSequence]) -> None:
        """Learns vocabularies from the training split. Default: nothing."""
        del sequences

    @abc.abstractmethod
    def encode(self, sequence: music_pb2.NoteSequence) -> np.ndarray:
        """Returns int32 events `[num_events, num_voices, len(fields)]`.

        Raises:
            polyframe.data.UnusableSequenceError: if the sequence cannot be
                represented (e.g. a voice plays two notes at once).
        """

    @abc.abstractmethod
    def decode(self, events: np.ndarray,
               qpm: float = 120.0) -> music_pb2.NoteSequence:
        """Returns the NoteSequence of `events`; any id array must decode."""

    @abc.abstractmethod
    def note_starts(self, events: np.ndarray) -> np.ndarray:
        """Returns bool `[num_events, num_voices]`: True where a note starts.

        Per-note NLL divides the total NLL by the sum of this mask, so it
        counts sounding notes, not rests or held continuations.
        """

    @abc.abstractmethod
    def event_start_times(self, events: np.ndarray,
                          qpm: float = 120.0) -> np.ndarray:
        """Returns float `[num_events + 1]`: when each event starts, seconds.

        The last entry is when the last event ends. Sampling uses it to tell
        the primer from the generated continuation.
        """

    def get_state(self) -> Dict[str, Any]:
        """Returns JSON-serialisable state learned by `fit`."""
        return {}

    def set_state(self, state: Dict[str, Any]) -> None:
        """Restores what `get_state` returned."""
        del state

    def describe(self) -> str:
        """One line for logs: fields and vocabulary sizes."""
        fields = ", ".join(f"{f.name}={f.vocab_size}" for f in self.fields)
        return f"{type(self).__name__}: {self.num_voices} voices, {fields}"


def check_note(note: music_pb2.NoteSequence.Note, min_pitch: int,
               max_pitch: int, num_voices: Optional[int] = None) -> None:
    """Raises UnusableSequenceError if an encoder cannot hold `note`.

    Args:
        note: The note.
        min_pitch: Lowest pitch of the encoder's vocabulary.
        max_pitch: Highest pitch of the encoder's vocabulary.
        num_voices: If given, `note.instrument` must be a voice below it.
    """
    if num_voices is not None and not 0 <= note.instrument < num_voices:
        raise UnusableSequenceError(
            f"a note has voice (instrument) {note.instrument}, expected "
            f"0..{num_voices - 1}")
    if not min_pitch <= note.pitch <= max_pitch:
        raise UnusableSequenceError(
            f"pitch {note.pitch} is outside the encoder's range "
            f"{min_pitch}..{max_pitch}")


def shift_pitch_ids(events: np.ndarray, semitones: int, first_pitch_id: int,
                    num_pitches: int) -> np.ndarray:
    """`events` with every pitch id of the first field (ids `first_pitch_id`
    .. `first_pitch_id + num_pitches - 1`, one per semitone) moved by
    `semitones`; the other ids are kept.

    Raises:
        UnusableSequenceError: if a pitch would leave that range.
    """
    ids = events[..., 0]
    is_pitch = (ids >= first_pitch_id) & (ids < first_pitch_id + num_pitches)
    moved = ids + semitones
    if np.any(is_pitch & ((moved < first_pitch_id) |
                          (moved >= first_pitch_id + num_pitches))):
        raise UnusableSequenceError(
            f"moving it {semitones} semitones leaves the pitch range")
    shifted = events.copy()
    shifted[..., 0] = np.where(is_pitch, moved, ids)
    return shifted
