"""`@constraints.max_run`: a voice leaves a pitch it has sounded for the
limit, the loop tells constraints since when each voice sounds its pitch,
and samples drawn with the rule have no longer runs."""

import json

import numpy as np
import pytest
import tensorflow as tf

from helpers import run_in_process, tiny_rnn
from polyframe import checks, plugin_loading, registries
from polyframe import musical_statistics as ms
from polyframe.constraint import StepContext
from polyframe.generation import Generator, hold_id
from polyframe_plugins.constraints.runs import MaxRun
from polyframe_plugins.encoders.duration import PITCH_HOLD_ID, REST_ID

plugin_loading.load_plugins()

C4, E4 = 60, 64


def duration_encoder():
    encoder = registries.ENCODERS.get("duration")(num_voices=2)
    # Halves are the shortest duration: two ticks per quarter.
    encoder.set_state({"min_pitch": 36, "max_pitch": 100, "end_marker": True,
                       "num_voices": 2, "durations": ["1/2", "1", "2"]})
    return encoder


def forbidden(encoder, sounding, since, now, quarters=2.0, field=0,
              drawn=0):
    """The tokens `max_run` forbids the second voice at tick `now` in
    `field`, when it has sounded token `sounding` since tick `since` (and
    `drawn` is its first-field token of this event)."""
    context = StepContext(
        voice=1, field=field, step=tf.constant(3),
        time=tf.constant([now], tf.int32),
        drawn=tf.constant([[[0, 0], [drawn, 0]]], tf.int32),
        last_tokens=tf.constant([[encoder.pitch_id(E4), sounding]]),
        run_start=tf.constant([[0, since]], tf.int32))
    vocab = encoder.fields[field].vocab_size
    logits = MaxRun(encoder, quarters)(tf.zeros([1, vocab]), context)
    return sorted(np.flatnonzero(logits.numpy()[0] < -1e8).tolist())


def test_a_voice_on_one_pitch_for_the_limit_must_leave_it():
    encoder = duration_encoder()
    c4 = encoder.pitch_id(C4)
    # Two quarters are four ticks, the shortest note one tick. C4 since
    # tick 2 may go on at tick 5 (struck again for one tick, or held), and
    # must be left (neither struck again nor held) at tick 6.
    assert forbidden(encoder, c4, since=2, now=5) == []
    assert forbidden(encoder, c4, since=2, now=6) == sorted(
        [c4, PITCH_HOLD_ID])
    assert forbidden(encoder, c4, since=0, now=9) == sorted(
        [c4, PITCH_HOLD_ID])
    # A rest, or nothing sounded yet (START), is never limited.
    assert forbidden(encoder, REST_ID, since=0, now=9) == []
    assert forbidden(encoder, 0, since=0, now=9) == []


def test_no_note_is_drawn_long_enough_to_pass_the_limit():
    encoder = duration_encoder()
    c4, e4 = encoder.pitch_id(C4), encoder.pitch_id(E4)
    quarter, two = 3, 4  # duration ids of 2 and 4 ticks (id 2: 1 tick)

    def lengths(drawn, quarters=2.0):
        return forbidden(encoder, c4, since=2, now=5, quarters=quarters,
                         field=1, drawn=drawn)

    # C4 struck again after three ticks of C4 has one tick of room left.
    assert lengths(c4) == [quarter, two]
    # A new pitch may last the whole limit, not longer.
    assert lengths(e4) == []
    assert lengths(e4, quarters=1.5) == [two]
    # Below the shortest length, the shortest stays allowed.
    assert lengths(e4, quarters=0.25) == [quarter, two]
    # Rests and held notes have no length to limit.
    assert lengths(REST_ID, quarters=0.25) == []
    assert lengths(PITCH_HOLD_ID, quarters=0.25) == []




def test_the_loop_tells_constraints_since_when_each_voice_sounds():
    encoder = duration_encoder()
    seen = []

    class Record:
        def __call__(self, logits, context):
            if context.voice == 0 and context.field == 0:
                seen.append((context.time, context.last_tokens,
                             context.run_start))
            return logits

    c4, e4 = encoder.pitch_id(C4), encoder.pitch_id(E4)
    half = 2  # duration ids: 2 is 1/2, 3 is 1, 4 is 2 quarters
    quarter = 3
    # Soprano: C4 (a quarter), C4 again, then holds; alto: E4, C4, C4 again
    # (halves). Events at ticks 0, 1, 2, 3.
    primer = np.array([[
        [[0, 0], [0, 0]],
        [[c4, quarter], [e4, half]],
        [[PITCH_HOLD_ID, 1], [c4, half]],
        [[c4, quarter], [c4, half]],
        [[PITCH_HOLD_ID, 1], [REST_ID, half]]]], np.int32)
    generator = Generator(tiny_rnn(encoder),
                          registries.SAMPLERS.get("greedy")(), [Record()],
                          encoder.clock(), encoder.end_ids[0],
                          hold_id(encoder))
    generator._generate_graph(tf.constant(primer), tf.constant(2),
                              tf.constant(0), {})
    time, last_tokens, run_start = (t.numpy() for t in seen[0])
    np.testing.assert_array_equal(time, [4])
    np.testing.assert_array_equal(last_tokens, [[c4, REST_ID]])
    # The soprano's C4 struck at tick 0 goes on through its repetition at
    # tick 2; the alto rests since tick 3.
    np.testing.assert_array_equal(run_start, [[0, 3]])
    # A primer of a length the graph does not know (an exported signature)
    # is played the same way.
    played = tf.function(lambda rows: generator._play_primer(
        rows, encoder.clock().initial_state(tf.shape(rows)[0])),
        input_signature=[
            tf.TensorSpec([None, None, 2, 2], tf.int32)])(
                tf.constant(primer))
    np.testing.assert_array_equal(played[2].numpy(), [[c4, REST_ID]])
    np.testing.assert_array_equal(played[3].numpy(), [[0, 3]])


def test_it_needs_an_encoder_with_a_clock_and_pitches():
    event_stream = registries.ENCODERS.get("event_stream")()
    with pytest.raises(checks.ConfigurationError,
                       match="constraints.max_run needs an encoder"):
        MaxRun(event_stream)


class Stay:
    """Makes the model all but certain to strike its pitch again, and never
    to rest, hold or draw START (ids 0 and 1 of every field, and HOLD)."""

    def __init__(self, hold):
        self._hold = hold

    def __call__(self, logits, context):
        vocab = tf.shape(logits)[-1]
        never = tf.one_hot(0, vocab, on_value=-1e9) + tf.one_hot(
            1, vocab, on_value=-1e9)
        if context.field != 0:
            return logits + never
        if self._hold is not None:
            never += tf.one_hot(self._hold, vocab, on_value=-1e9)
        same = tf.one_hot(context.last_tokens[:, context.voice], vocab,
                          on_value=50.0)
        return logits + same + never


def grid_encoder():
    encoder = registries.ENCODERS.get("grid")(num_voices=2)
    encoder.set_state({"num_voices": 2, "steps_per_quarter": 2,
                       "min_pitch": 48, "max_pitch": 72, "held_field": False,
                       "end_marker": False})
    return encoder


def duration_encoder_without_end():
    encoder = registries.ENCODERS.get("duration")(num_voices=2)
    encoder.set_state({"min_pitch": 48, "max_pitch": 72, "end_marker": False,
                       "num_voices": 2, "durations": ["1/2", "1", "2"]})
    return encoder


@pytest.mark.parametrize("make_encoder", [
    grid_encoder, duration_encoder_without_end], ids=["grid", "duration"])
@pytest.mark.parametrize("limit", [1.5, 3.0])
def test_every_run_stops_exactly_at_the_limit(make_encoder, limit):
    encoder = make_encoder()
    model = tiny_rnn(encoder)
    primers = np.zeros((3, 1, 2, len(encoder.fields)), np.int32)
    stay = Stay(hold_id(encoder))
    runs = {}
    for name, chain in (("free", [stay]),
                        ("ruled", [stay, MaxRun(encoder, limit)])):
        generator = Generator(model, registries.SAMPLERS.get("temperature")(
            temperature=1.0), chain, encoder.clock(), None, hold_id(encoder))
        generated = generator(primers, 16, seed=3)
        runs[name] = []
        for index in range(3):
            notes = ms.notes_of(encoder.decode(generated.piece(index),
                                               qpm=120), qpm=120)
            runs[name].append(ms.longest_runs(notes, 2))
    # Without the rule each voice stays on its first pitch throughout;
    # with it, every voice of every sample leaves its pitch exactly at the
    # limit.
    assert min(min(voices) for voices in runs["free"]) >= 8.0
    assert runs["ruled"] == [[limit, limit]] * 3


def longest_runs(grid_run, out, *extra):
    """Each sample's longest run on one pitch (quarters) in 16 quarters of
    music from silence."""
    assert run_in_process([
        "--mode=sample", f"--model_dir={grid_run}", f"--output_dir={out}",
        "--num_samples=4",
        "--gin_param=SampleConfig.primer_events = 0",
        "--gin_param=SampleConfig.max_events = 64",
        "--gin_param=SampleConfig.writers = [@writers.midi()]",
        *extra]) == 0
    pieces = json.loads((out / "samples.json").read_text())["pieces"]
    return [p["statistics"]["longest_run_quarters"] for p in pieces]


def test_samples_drawn_with_it_never_stay_longer(grid_run, tmp_path):
    free = longest_runs(grid_run, tmp_path / "free",
                        "--gin_param=SampleConfig.constraints = []")
    ruled = longest_runs(
        grid_run, tmp_path / "ruled",
        "--gin_param=SampleConfig.constraints = [@constraints.max_run]",
        "--gin_param=constraints.max_run.quarters = 0.25")
    assert max(free) > 0.25
    # A limit of one 16th note: no voice sounds a pitch for two grid steps.
    assert ruled == [0.25] * 4
