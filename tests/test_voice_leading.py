"""`@constraints.no_parallels`: exactly the parallel fifths and octaves are
forbidden, and pieces sampled with it have none."""

import functools
import json

import numpy as np
import tensorflow as tf

from helpers import run_in_process
from polyframe import plugin_loading, registries
from polyframe.constraint import StepContext
from polyframe.generation import Generator, hold_id
from polyframe_plugins.constraints.voice_leading import NoParallels
from polyframe_plugins.encoders.duration import PITCH_HOLD_ID, REST_ID

plugin_loading.load_plugins()


def duration_encoder():
    encoder = registries.ENCODERS.get("duration")(num_voices=2)
    encoder.set_state({"min_pitch": 36, "max_pitch": 100, "end_marker": True,
                       "num_voices": 2, "durations": ["1/2", "1", "2"]})
    return encoder


def forbidden(encoder, before, upper_now):
    """MIDI pitches the lower voice may not take, given both voices' pitches
    before the event and the upper voice's token now."""
    constraint = NoParallels(encoder)
    vocab = encoder.fields[0].vocab_size
    last = tf.constant([[encoder.pitch_id(p) for p in before]], tf.int32)
    drawn = tf.constant([[[upper_now, 0], [0, 0]]], tf.int32)
    context = StepContext(voice=1, field=0, step=tf.constant(3),
                          time=tf.zeros([1], tf.int32), drawn=drawn,
                          last_tokens=last)
    logits = constraint(tf.zeros([1, vocab]), context).numpy()[0]
    by_token = {encoder.pitch_id(p): p for p in range(128)
                if encoder.pitch_id(p) is not None}
    blocked = set(np.flatnonzero(logits < -1e8))
    assert blocked <= set(by_token), "only pitches are ever forbidden"
    return sorted(by_token[t] for t in blocked)


def test_parallel_fifths_and_octaves_are_forbidden_and_nothing_else():
    encoder = duration_encoder()
    # G4 over C4, the upper voice steps up to A4: every D moving up (a fifth
    # again, also above the upper voice) is forbidden; D3 moves down
    # (contrary fifths) and stays allowed.
    assert forbidden(encoder, (67, 60), encoder.pitch_id(69)) == [
        62, 74, 86, 98]
    # C5 over C4 (an octave), the upper voice steps up to D5.
    assert forbidden(encoder, (72, 60), encoder.pitch_id(74)) == [
        62, 74, 86, 98]
    # A third is no perfect interval; an upper voice that holds, rests or
    # repeats its pitch makes no parallel.
    assert forbidden(encoder, (64, 60), encoder.pitch_id(65)) == []
    assert forbidden(encoder, (67, 60), PITCH_HOLD_ID) == []
    assert forbidden(encoder, (67, 60), REST_ID) == []
    assert forbidden(encoder, (67, 60), encoder.pitch_id(67)) == []


def test_the_loop_tells_constraints_what_each_voice_sounds():
    encoder = duration_encoder()
    seen = []

    class Record:
        def __call__(self, logits, context):
            if context.voice == 0 and context.field == 0:
                seen.append(context.last_tokens)
            return logits

    tf.random.set_seed(0)
    cell = functools.partial(registries.CELLS.get("gru"), num_units=4)
    head = functools.partial(registries.HEADS.get("independent"),
                             hidden_size=4)
    model = registries.MODELS.get("event_rnn")(encoder.fields, 2, cell, head,
                                               default_embedding_size=2)
    c4, e4 = encoder.pitch_id(60), encoder.pitch_id(64)
    one = encoder.fields[1].vocab_size - 3  # a duration id
    primer = np.array([[[[0, 0], [0, 0]], [[c4, one], [e4, one]],
                        [[PITCH_HOLD_ID, 1], [c4, one]]]], np.int32)
    generator = Generator(model, registries.SAMPLERS.get("greedy")(),
                          [Record()], encoder.clock(), encoder.end_ids[0],
                          hold_id(encoder))
    generator._generate_graph(tf.constant(primer), tf.constant(1),
                              tf.constant(0), {})
    # The soprano holds its C4 through the last primer event.
    np.testing.assert_array_equal(seen[0].numpy(), [[c4, c4]])


def test_samples_drawn_with_it_have_no_parallels(rnn_run, tmp_path):
    counts = {}
    for name, extra in (("free", [
            "--gin_param=SampleConfig.constraints = []"]), ("ruled", [
            "--gin_param=SampleConfig.constraints = "
            "[@constraints.no_parallels]"])):
        out = tmp_path / name
        assert run_in_process([
            "--mode=sample", f"--model_dir={rnn_run}", f"--output_dir={out}",
            "--num_samples=6", "--temperature=1.5",
            "--gin_param=SampleConfig.max_events = 60",
            "--gin_param=SampleConfig.end_at_model_rate = False",
            "--gin_param=SampleConfig.end_odds = 1",
            "--gin_param=SampleConfig.min_quarters = 0",
            "--gin_param=SampleConfig.writers = [@writers.midi()]",
            *extra]) == 0
        pieces = json.loads((out / "samples.json").read_text())["pieces"]
        counts[name] = sum(
            (p["statistics"]["parallels_per_100_motions"] or 0) for p in pieces)
    assert counts["free"] > 0  # The tiny model writes parallels freely.
    assert counts["ruled"] == 0
