"""Making pieces with a trained model: continue openings, harmonise melodies.

A `Composer` holds a restored model, its encoder and the sample settings. It
builds the constraint chain (START forbidden, the END rule, the user's
constraints, and the given voices when there are any), runs the compiled
generation loop, decodes the results and scores them. It writes nothing:
`polyframe.jobs` hands the pieces to the writers.
"""

import dataclasses
import fractions
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from note_seq.protobuf import music_pb2

from polyframe import given_plan, sequence_model
from polyframe.constraint import Constraint
from polyframe.data import features, pipeline
from polyframe.data.timing import TempoMap, quarters_to_seconds
from polyframe.encoding import EventEncoder
from polyframe.errors import UserFacingError
from polyframe.generation import Generated, Generator, hold_id
from polyframe.music_input import GivenMusic
from polyframe.sampling import SampleConfig
from polyframe.sequence_model import SequenceModel
from polyframe_plugins.constraints import basic

Fraction = fractions.Fraction


@dataclasses.dataclass
class Piece:
    """One generated piece, decoded, with what is known about it.

    Attributes:
        sequence: The notes (voice in `instrument`) at the settings' tempo.
        events: Its events (primer and generated, END excluded).
        primer_end_time: Seconds where the given or primer part ends (0 when
            it starts from silence).
        ended_by_end: Whether the model ended it (else `max_events` did).
        primer: What it starts from or harmonises, in words.
        time_signature: `(numerator, denominator)`.
        key_fifths: Key signature in sharps (+) or flats (-), None if unknown.
        pickup_quarters: Length of an incomplete first bar.
        nll: The model's NLL (nats) of the generated voices, when scored.
        nll_per_note: The same per generated note.
    """

    sequence: music_pb2.NoteSequence
    events: np.ndarray
    primer_end_time: float
    ended_by_end: bool
    primer: str
    time_signature: Tuple[int, int] = (4, 4)
    key_fifths: Optional[int] = None
    pickup_quarters: Fraction = Fraction(0)
    nll: Optional[float] = None
    nll_per_note: Optional[float] = None

    def metadata(self) -> Dict[str, Any]:
        """What `samples.json` and the gallery say about the piece."""
        meta = {"primer": self.primer,
                "num_events": int(len(self.events)),
                "length_seconds": round(self.sequence.total_time, 3),
                "ended_by": "END" if self.ended_by_end else "max_events"}
        if self.nll is not None:
            meta["nll_generated_voices"] = round(self.nll, 4)
            meta["nll_per_generated_note"] = round(self.nll_per_note, 4)
        return meta


def constraint_chain(encoder: EventEncoder, settings: SampleConfig,
                     given: Sequence[Constraint] = ()) -> List[Constraint]:
    """The constraints of polyframe's sampling, in their order, for sampling,
    harmonising and export alike: START forbidden, the END rule when the
    encoder has END, the settings' constraint factories (called with
    `encoder=`), `given` (e.g. forced voices), and last, if the settings ask
    and the encoder has END, END at the model's rate, which reads END's
    probability after every other rule has forbidden or forced it."""
    chain: List[Constraint] = [basic.ForbidStart(encoder)]
    if encoder.end_ids is not None:
        chain.append(basic.EndRule(encoder))
    chain += [make(encoder=encoder) for make in settings.constraints]
    chain += list(given)
    if encoder.end_ids is not None and settings.end_at_model_rate:
        chain.append(basic.EndAtModelRate(encoder, settings.end_odds,
                                          settings.min_quarters))
    return chain


class Composer:
    """Generates with a restored model.

    Args:
        model: The model, with its best weights.
        encoder: Its encoder, with the state it learned.
        settings: The sample settings (count, length, seed, constraints).
        sampler: Draws tokens from the constrained logits.
    """

    def __init__(self, model: SequenceModel, encoder: EventEncoder,
                 settings: SampleConfig, sampler):
        self.model = model
        self.encoder = encoder
        self.settings = settings
        self.sampler = sampler
        # Traced once and reused: it reads the model's variables, so it
        # stays right while they change (previews during training).
        self._plain = None

    @property
    def needs_melody(self) -> bool:
        """Whether the model only generates around a given melody."""
        return sequence_model.MELODY in self.model.features

    def continue_openings(self, openings: Sequence[np.ndarray],
                          descriptions: Sequence[str],
                          key_info: Sequence[Dict[str, Any]] = ()
                          ) -> List[Piece]:
        """Continues encoded openings (all of one length), one per sample."""
        primers = np.stack([pipeline.with_start(o) for o in openings])
        generated = self.generator()(primers, self.settings.max_events,
                                      self.settings.seed)
        pieces = []
        for index, description in enumerate(descriptions):
            events = generated.piece(index)
            sequence = self.encoder.decode(events, qpm=self.settings.qpm)
            primer_end = float(self.encoder.event_start_times(
                events, qpm=self.settings.qpm)[generated.primer_events])
            info = dict(key_info[index]) if index < len(key_info) else {}
            pieces.append(Piece(
                sequence=sequence, events=events, primer_end_time=primer_end,
                ended_by_end=bool(generated.ended[index]),
                primer=description, **info))
        return pieces

    def around(self, given: GivenMusic, force_end: bool, what: str,
               count: Optional[int] = None) -> List[Piece]:
        """Generates the voices `given` lacks, `count` times (default: the
        settings' `num_samples`); `force_end` ends each piece where the given
        music ends (harmonising), else it goes on (a primer).
        """
        plan = given_plan.plan_given_voices(
            self.encoder, given.sequence, given.voices, given.end_quarters,
            force_end=force_end, what=what,
            voice_names=self.encoder.voice_names)
        conditioning = {}
        if self.needs_melody:
            if self.model.melody_voice not in given.voices:
                raise UserFacingError(
                    f"this model harmonises a given "
                    f"{self.encoder.voice_names[self.model.melody_voice]} "
                    f"line, and the {what} has none; give that voice "
                    "(--melody_voice) or use a model without a melody "
                    "encoder.")
        count = count or self.settings.num_samples
        if self.needs_melody:
            conditioning = self.melody_conditioning(given, count)
        primers = np.stack([pipeline.with_start(
            np.zeros((0, self.encoder.num_voices, len(self.encoder.fields)),
                     np.int32))] * count)
        generator = self.generator([basic.GivenVoices(self.encoder, plan)])
        max_events = self.settings.max_events
        if force_end:  # Room to reach the end of the given music, and END.
            max_events = max(max_events, self.encoder.clock().events_until(
                plan.end_tick) + 1)
        generated = generator(primers, max_events, self.settings.seed,
                              conditioning)
        return [self._with_given(generated, index, given, what)
                for index in range(count)]

    def score(self, pieces: Sequence[Piece],
              generated_voices: Sequence[int]) -> None:
        """Sets each piece's NLL of `generated_voices` (teacher-forced)."""
        framing = pipeline.framing_for(self.encoder, self.model.features,
                                       self.model.melody_voice)
        voices = list(generated_voices)
        for piece in pieces:
            batch = next(pipeline.whole_pieces([piece.events], 1, framing))
            losses = sum(loss.numpy() for loss in
                         self.model.token_losses(batch))[0]  # [T, V]
            real = batch["mask"][0] * (1.0 - batch["end"][0])
            piece.nll = float((losses[:, voices] * real[:, None]).sum())
            notes = float((batch["notes"][0][:, voices] *
                           real[:, None]).sum())
            piece.nll_per_note = piece.nll / max(notes, 1.0)

    def generator(self, extra=None) -> Generator:
        """The generation loop for this model, sampler and settings, with
        `extra` constraints in the chain (`constraint_chain`). Without
        `extra` the same loop is reused (traced once)."""
        if extra is None:
            if self._plain is None:
                self._plain = self.generator([])
            return self._plain
        end_ids = self.encoder.end_ids
        return Generator(self.model, self.sampler,
                         constraint_chain(self.encoder, self.settings, extra),
                         clock=self.encoder.clock(),
                         end_id=end_ids[0] if end_ids else None,
                         hold_id=hold_id(self.encoder))

    def melody_conditioning(self, given: GivenMusic,
                             count: int) -> Dict[str, np.ndarray]:
        voice = self.model.melody_voice
        tempo_map = TempoMap(given.sequence)
        notes = [(n.pitch, float(tempo_map.to_quarters(n.start_time)),
                  float(tempo_map.to_quarters(n.end_time)))
                 for n in given.sequence.notes if n.instrument == voice]
        pitch, timing = features.melody_arrays(notes,
                                               float(given.end_quarters))
        size = -(-len(pitch) // pipeline.MELODY_BUCKET) * \
            pipeline.MELODY_BUCKET
        pad = size - len(pitch)
        pitch = np.pad(pitch, (0, pad),
                       constant_values=sequence_model.MELODY_PAD)
        timing = np.pad(timing, ((0, pad), (0, 0)))
        return {"melody_pitch": np.tile(pitch[None], (count, 1)),
                "melody_timing": np.tile(timing[None], (count, 1, 1))}

    def _with_given(self, generated: Generated, index: int,
                    given: GivenMusic, what: str) -> Piece:
        """Decodes a sample and writes the given voices as the user gave
        them (a grid cannot tell a repeated note from a held one; the user's
        notes can)."""
        events = generated.piece(index)
        qpm = self.settings.qpm
        decoded = self.encoder.decode(events, qpm=qpm)
        given_end = quarters_to_seconds(given.end_quarters, qpm)
        sequence = music_pb2.NoteSequence()
        sequence.CopyFrom(decoded)
        del sequence.notes[:]
        for note in decoded.notes:
            if note.instrument in given.voices and \
                    note.start_time < given_end - 1e-9:
                continue
            sequence.notes.add().CopyFrom(note)
        tempo_map = TempoMap(given.sequence)
        for note in given.sequence.notes:
            sequence.notes.add(
                pitch=note.pitch, velocity=note.velocity or 80,
                instrument=note.instrument,
                start_time=quarters_to_seconds(
                    tempo_map.to_quarters(note.start_time), qpm),
                end_time=quarters_to_seconds(
                    tempo_map.to_quarters(note.end_time), qpm))
        notes = sorted(sequence.notes,
                       key=lambda n: (n.start_time, n.instrument))
        del sequence.notes[:]
        sequence.notes.extend(notes)
        sequence.total_time = max(decoded.total_time, given_end)
        return Piece(
            sequence=sequence, events=events, primer_end_time=given_end,
            ended_by_end=bool(generated.ended[index]),
            primer=f"{what}: {given.description}",
            time_signature=tuple(given.time_signature),
            key_fifths=given.key_fifths,
            pickup_quarters=Fraction(given.pickup_quarters))
