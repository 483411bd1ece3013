"""Exporting a trained run as a SavedModel that serves without polyframe.

`--mode=export` writes the best checkpoint's model as a SavedModel with two
serving signatures, so any TensorFlow runtime (TF Serving, another Python
program, TF.js converters) can generate and score chorales with nothing
but `tf.saved_model.load`:

* `generate(primer, num_events, seed, temperature)`: the very compiled loop
  of `polyframe.generation.Generator`, with the constraints polyframe's own
  sampling uses (START forbidden, the END rule when the encoder has END, and
  the run's `SampleConfig.constraints`, END at the model's rate if the run
  samples so), drawing with the temperature
  sampler. The temperature is an input here, not a setting baked in, and
  the draws are exactly those of `@samplers.temperature` (stateless, row by
  row): the same seed and temperature give the same events as polyframe.
* `score(events, mask, end, notes)`: teacher-forced NLL per piece, END
  scored apart, from `model.token_losses` (what `metrics.json` sums). A
  model that reads event times gets them from the events themselves, played
  on the encoder's clock as generation does.

Two assets travel with it: `encoder.json` (the encoder's learned state,
as in the model directory) and `polyframe_export.json` (fields, voices,
voice names, START and END ids, and every token's meaning), enough to turn
events into notes without polyframe.

Models that read a melody (`MELODY` in `model.features`, the
melody-conditioned harmoniser) are refused with a one-line error: their
generation also needs the given voices forced by a constraint built from the
melody, which a fixed signature cannot take yet.

The export is written into a temporary sibling directory and renamed into
place only when complete; an existing export is replaced only then, so a
crash never leaves a half-written directory that looks like an export.
"""

import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import tensorflow as tf

from polyframe.constraint import Constraint
from polyframe.encoding import START_ID, EventEncoder
from polyframe.errors import UserFacingError
from polyframe import generation
from polyframe.generation import Generator
from polyframe.sequence_model import MELODY, TIMES, SequenceModel
from polyframe_plugins.samplers import categorical

FORMAT_VERSION = 1
ENCODER_ASSET = "encoder.json"
INFO_ASSET = "polyframe_export.json"
SIGNATURES = ("generate", "score")


class TensorTemperatureSampler:
    """`@samplers.temperature` with the temperature given as a tensor.

    The draw is the registered temperature sampler's, op for op (float32
    logits divided by the temperature, one stateless categorical draw per
    row; 0 or below is argmax), so exported and in-process generation agree
    token for token. `temperature` is set inside the traced function, where
    it is the signature's input.
    """

    def __init__(self):
        self.temperature: Optional[tf.Tensor] = None

    def __call__(self, logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Draws one id per row of `logits` `[batch, vocab]` -> `[batch]`."""
        logits = categorical._as_float_logits(logits)
        temperature = self.temperature
        return tf.cond(
            temperature <= 0.0,
            lambda: categorical._argmax(logits),
            lambda: categorical._draw(logits / temperature, seed))


def check_exportable(model: SequenceModel) -> None:
    """Refuses models whose signatures would need conditioning inputs.

    Event times are computed from the events, so only a melody is refused.

    Raises:
        UserFacingError: if the model reads a melody besides the events.
    """
    if MELODY in model.features:
        raise UserFacingError(
            f"--mode=export cannot export {type(model).__name__}: it reads "
            f"{', '.join(model.features)} besides the events, and exported "
            "signatures take events only; export a model without a melody "
            "encoder (e.g. models.event_rnn).")


class ServingModule(tf.Module):
    """The exported object: the model, its signatures and its assets.

    Args:
        model: The restored model.
        encoder: Its encoder, with the learned state.
        constraints: The constraint chain
            (`polyframe.compose.constraint_chain`).
        asset_paths: Files to ship as assets, by attribute name.
    """

    def __init__(self, model: SequenceModel, encoder: EventEncoder,
                 constraints: Sequence[Constraint],
                 asset_paths: Dict[str, str]):
        super().__init__(name="polyframe_export")
        self.model = model
        self._sampler = TensorTemperatureSampler()
        end_ids = encoder.end_ids
        self._generator = Generator(model, self._sampler, constraints,
                                    clock=encoder.clock(),
                                    end_id=end_ids[0] if end_ids else None,
                                    hold_id=generation.hold_id(encoder))
        for name, path in asset_paths.items():
            setattr(self, name, tf.saved_model.Asset(path))
        shape = [None, None, encoder.num_voices, len(encoder.fields)]
        self.generate = tf.function(self._generate, input_signature=[
            tf.TensorSpec(shape, tf.int32, name="primer"),
            tf.TensorSpec([], tf.int32, name="num_events"),
            tf.TensorSpec([], tf.int32, name="seed"),
            tf.TensorSpec([], tf.float32, name="temperature")])
        self.score = tf.function(self._score, input_signature=[
            tf.TensorSpec(shape, tf.int32, name="events"),
            tf.TensorSpec([None, None], tf.float32, name="mask"),
            tf.TensorSpec([None, None], tf.float32, name="end"),
            tf.TensorSpec([None, None, encoder.num_voices], tf.float32,
                          name="notes")])

    def _generate(self, primer, num_events, seed, temperature):
        tf.debugging.assert_positive(
            num_events, message="num_events must be at least 1")
        tf.debugging.assert_all_finite(
            temperature, "temperature must be finite; 0 is argmax")
        self._sampler.temperature = temperature
        generated, lengths, ended = self._generator._generate_graph(
            primer, num_events, seed, {})
        events = tf.concat(
            [primer[:, 1:], tf.transpose(generated, [1, 0, 2, 3])], axis=1)
        return {"events": events, "lengths": lengths, "ended": ended}

    def _score(self, events, mask, end, notes):
        batch = {"events": events, "mask": mask, "end": end, "notes": notes}
        if TIMES in self.model.features:
            batch[TIMES] = self._generator.successor_times(events[:, :-1])
        losses = self.model.token_losses(batch, training=False)
        per_event = tf.reduce_sum(tf.add_n(losses), axis=-1)  # [B, T]
        end = end * mask
        return {"nll": tf.reduce_sum(per_event * (mask - end), axis=1),
                "nll_end": tf.reduce_sum(per_event * end, axis=1)}


def vocabularies(encoder: EventEncoder) -> List[List[str]]:
    """What every token id of every field means, as far as the encoder's
    public interface tells: START, END, HOLD, REST, `pitch:<MIDI>` and
    `duration:<quarters>` (duration fields); any other id is `token:<id>`."""
    fields = encoder.fields
    names: List[List[Optional[str]]] = [[None] * f.vocab_size
                                        for f in fields]

    def name(field: int, token, label: str) -> None:
        if token is not None and 0 <= int(token) < len(names[field]) and \
                names[field][int(token)] is None:
            names[field][int(token)] = label

    for field in range(len(fields)):
        name(field, START_ID, "START")
        if encoder.end_ids is not None:
            name(field, encoder.end_ids[field], "END")
    continuation = encoder.continuation_tokens()
    if continuation is not None:
        for field, token in enumerate(continuation):
            name(field, token, "HOLD")
    for pitch in range(128):
        name(0, encoder.pitch_id(pitch), f"pitch:{pitch}")
    for duration in getattr(encoder, "durations", ()):
        rest = encoder.rest_tokens(duration)
        if rest is None:
            continue
        name(0, rest[0], "REST")
        for field, token in enumerate(rest[1:], start=1):
            if fields[field].name == "duration":
                name(field, token, f"duration:{duration}")
    return [[label or f"token:{token}" for token, label in enumerate(field)]
            for field in names]


def export_info(model: SequenceModel, encoder: EventEncoder,
                constraints: Sequence[Constraint]) -> Dict[str, Any]:
    """The contents of `polyframe_export.json`."""
    return {
        "format_version": FORMAT_VERSION,
        "model": type(model).__name__,
        "encoder": type(encoder).__name__,
        "num_voices": encoder.num_voices,
        "voice_names": list(encoder.voice_names),
        "start_id": START_ID,
        "end_ids": (list(encoder.end_ids) if encoder.end_ids is not None
                    else None),
        "fields": [{"name": f.name, "vocab_size": f.vocab_size,
                    "vocabulary": vocabulary}
                   for f, vocabulary in zip(encoder.fields,
                                            vocabularies(encoder))],
        "constraints": [type(c).__name__ for c in constraints],
        "signatures": {
            "generate": "primer int32 [B, P+1, V, F] (START row first), "
                        "num_events int32, seed int32, temperature float32 "
                        "(0: argmax) -> events int32 [B, P+n, V, F], "
                        "lengths int32 [B], ended bool [B]",
            "score": "events int32 [B, T+1, V, F], mask, end float32 "
                     "[B, T], notes float32 [B, T, V] -> nll float32 [B] "
                     "(END excluded), nll_end float32 [B]"},
    }


def export(model: SequenceModel, encoder: EventEncoder, encoder_state: str,
           export_dir: str, constraints: Sequence[Constraint]) -> str:
    """Writes the SavedModel of `model` to `export_dir`, atomically.

    Args:
        model: The restored model.
        encoder: Its encoder, with the learned state.
        encoder_state: The run's `encoder.json`, shipped as an asset.
        export_dir: Where the SavedModel goes; an existing export there is
            replaced once the new one is complete.
        constraints: The generation constraints
            (`polyframe.compose.constraint_chain`).

    Returns:
        `export_dir`.

    Raises:
        UserFacingError: if the model cannot be exported, or `export_dir`
            cannot be written or holds something other than an export.
    """
    check_exportable(model)
    export_dir = os.path.abspath(export_dir)
    _check_replaceable(export_dir)
    parent = os.path.dirname(export_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        temporary = tempfile.mkdtemp(dir=parent, prefix=".tmp-export-")
    except OSError as error:
        raise _unwritable(export_dir, error) from None
    try:
        with tempfile.TemporaryDirectory() as staging:
            info_path = os.path.join(staging, INFO_ASSET)
            with open(info_path, "w", encoding="utf-8") as handle:
                json.dump(export_info(model, encoder, constraints), handle,
                          indent=2)
            encoder_path = os.path.join(staging, ENCODER_ASSET)
            shutil.copyfile(encoder_state, encoder_path)
            module = ServingModule(model, encoder, constraints, {
                "encoder_json": encoder_path, "export_info": info_path})
            tf.saved_model.save(module, temporary, signatures={
                "generate": module.generate.get_concrete_function(),
                "score": module.score.get_concrete_function()})
        _move_into_place(temporary, export_dir)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise _unwritable(export_dir, error) from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return export_dir


def is_export(path: str) -> bool:
    """Whether `path` is a complete polyframe export."""
    return (os.path.isfile(os.path.join(path, "saved_model.pb")) and
            os.path.isfile(os.path.join(path, "assets", INFO_ASSET)))


def _check_replaceable(export_dir: str) -> None:
    """Only an earlier export (or an empty folder) may be replaced: never
    delete files the user keeps there."""
    if not os.path.lexists(export_dir):
        return
    if os.path.isdir(export_dir) and (is_export(export_dir) or
                                      not os.listdir(export_dir)):
        return
    raise UserFacingError(
        f"--export_dir {export_dir!r} exists and is not a polyframe export; "
        "choose a new or empty directory.")


def _move_into_place(temporary: str, export_dir: str) -> None:
    """Renames the finished export into place, replacing an older one."""
    if not os.path.lexists(export_dir):
        os.rename(temporary, export_dir)
        return
    old = tempfile.mkdtemp(dir=os.path.dirname(export_dir),
                           prefix=".old-export-")
    moved = os.path.join(old, "export")
    os.rename(export_dir, moved)
    try:
        os.rename(temporary, export_dir)
    except BaseException:
        os.rename(moved, export_dir)  # Put the old export back.
        os.rmdir(old)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _unwritable(export_dir: str, error: OSError) -> UserFacingError:
    return UserFacingError(
        f"cannot write the export directory {export_dir!r}: "
        f"{error.strerror or error}. Choose another --export_dir.")
