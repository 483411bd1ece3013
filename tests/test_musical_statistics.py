"""Each musical statistic on small hand-made pieces whose answer is known."""

import math

import pytest
from note_seq.protobuf import music_pb2

from polyframe import musical_statistics as ms
from polyframe import plugin_loading, registries
from polyframe.musical_statistics import Key, Note


def chords(*columns, duration=1.0):
    """Notes from sonorities: each column lists one pitch per voice (None
    rests), one column per `duration` quarters."""
    notes = []
    for index, column in enumerate(columns):
        for voice, pitch in enumerate(column):
            if pitch is not None:
                notes.append(Note(voice, pitch, index * duration,
                                  (index + 1) * duration))
    return notes


def test_parallel_fifths_and_octaves_counted_per_voice_pair_motion():
    # Two voices: parallel fifth, contrary motion, parallel octave, oblique,
    # contrary fifths (G4/C4 -> D5/G3: both fifths, opposite directions).
    notes = chords((67, 60), (69, 62), (71, 60), (72, 60), (74, 62),
                   (74, 60), (67, 60), (74, 55))
    parallels, motions = ms.parallel_motions(notes, 2)
    assert (parallels, motions) == (2, 7)
    stats = ms.piece_statistics(notes, 2)
    assert stats["parallels_per_100_motions"] == pytest.approx(200.0 / 7)


def test_repeated_chord_is_no_motion_and_rests_break_pairs():
    notes = chords((67, 60), (67, 60), (69, None), (71, 64))
    assert ms.parallel_motions(notes, 2) == (0, 0)
    assert math.isnan(ms.piece_statistics(notes, 2)[
        "parallels_per_100_motions"])


def test_crossings_per_100_sonorities():
    # Alto above soprano in the second of four sonorities; the one-voice
    # sonority does not count.
    notes = chords((72, 67, 60), (65, 67, 60), (72, 67, 60), (None, 67, None))
    stats = ms.piece_statistics(notes, 3)
    assert stats["crossings_per_100_sonorities"] == pytest.approx(100.0 / 3)


def test_chord_share_weighs_time_with_three_or_more_voices():
    notes = (chords((67, 64, 60), duration=2.0)  # C major triad, 2 quarters
             + [Note(v, p, 2.0, 3.0) for v, p in enumerate((67, 62, 60))]
             + [Note(v, p, 3.0, 4.0) for v, p in enumerate((70, 67, 64, 48))]
             + [Note(v, p, 4.0, 6.0) for v, p in enumerate((67, 60))])
    assert ms.chord_kind([0, 4, 7]) == "triad"
    assert ms.chord_kind([4, 7, 0]) == "triad"
    assert ms.chord_kind([11, 2, 5, 8]) == "seventh"  # diminished seventh
    assert ms.chord_kind([0, 2, 7]) is None
    stats = ms.piece_statistics(notes, 4)
    # 2 (triad) + 1 (C-E-G-Bb seventh) of 4 quarters; the two-voice end
    # does not count.
    assert stats["chord_share"] == pytest.approx(0.75)


def test_longest_run_holds_and_repeats_but_a_rest_breaks_it():
    alto = [Note(1, 64, 0, 1), Note(1, 64, 1, 2), Note(1, 64, 2, 4),
            Note(1, 64, 5, 6), Note(1, 65, 6, 11)]
    outer = [Note(0, 72, 0, 2), Note(0, 72, 2, 3), Note(0, 74, 3, 11),
             Note(2, 48, 0, 11)]
    notes = alto + outer
    assert ms.longest_runs(notes, 3) == [8.0, 5.0, 11.0]
    stats = ms.piece_statistics(notes, 3)
    assert stats["longest_inner_run_quarters"] == 5.0
    assert stats["longest_run_quarters"] == 11.0


def test_pitch_range_per_named_voice():
    notes = chords((72, 60), (79, 55), (74, 57))
    stats = ms.piece_statistics(notes, 2, voice_names=("Soprano", "Bass"))
    assert stats["pitch_range_soprano"] == 7.0
    assert stats["pitch_range_bass"] == 5.0


def test_key_and_in_key_share():
    c_major = [Note(0, 60, 0, 4), Note(0, 64, 4, 6), Note(0, 67, 6, 8),
               Note(0, 62, 8, 9), Note(0, 65, 9, 10), Note(0, 69, 10, 11),
               Note(0, 71, 11, 12), Note(0, 66, 12, 13)]
    assert ms.estimate_key(c_major) == Key(0, False)
    assert ms.piece_statistics(c_major, 1)["in_key_share"] == pytest.approx(
        7 / 8)
    a_minor = [Note(0, 69, 0, 4), Note(0, 72, 4, 6), Note(0, 76, 6, 8),
               Note(0, 68, 8, 9), Note(0, 71, 9, 10), Note(0, 69, 10, 12)]
    assert ms.estimate_key(a_minor) == Key(9, True)
    # G# is the raised seventh: in the key.
    assert ms.piece_statistics(a_minor, 1)["in_key_share"] == 1.0


def test_final_tonic_triad_needs_root_position_on_the_tonic():
    c_major = Key(0, False)
    root = chords((72, 67, 64, 48))
    inverted = chords((72, 67, 60, 52))
    dominant = chords((74, 67, 59, 43))
    open_fifth = chords((72, 67, 60, 48))
    assert ms.final_tonic_triad(root, c_major)
    assert not ms.final_tonic_triad(inverted, c_major)
    assert not ms.final_tonic_triad(dominant, c_major)
    assert not ms.final_tonic_triad(open_fifth, c_major)
    # A minor ending on A major (a Picardy third) counts.
    assert ms.final_tonic_triad(chords((73, 69, 64, 45)), Key(9, True))
    # Only the last sonority matters.
    assert ms.final_tonic_triad(dominant + [
        Note(v, p, 1, 2) for v, p in enumerate((72, 67, 64, 48))], c_major)


def test_one_voice_encodings_have_no_voice_statistics():
    stats = ms.piece_statistics(chords((60,), (62,), (64,)), 1)
    assert set(stats) == {"in_key_share", "final_tonic_triad", "chord_share",
                          "longest_run_quarters"}
    assert math.isnan(stats["chord_share"])


def test_without_voices_a_run_follows_the_pitch_whoever_sounds_it():
    # E4 is held for two quarters, struck again at once for one more, and
    # taken over by a second note for two: five quarters without a break.
    # C4 sounds 0-2 and again after a one-quarter rest: two at most. G4's
    # two notes overlap (3-6 and 5-7): four.
    notes = [Note(0, 64, 0, 2), Note(0, 64, 2, 3), Note(0, 64, 3, 5),
             Note(0, 60, 0, 2), Note(0, 60, 3, 4), Note(0, 67, 3, 6),
             Note(0, 67, 5, 7)]
    assert ms.longest_pitch_run(notes) == 5.0
    assert ms.longest_pitch_run(notes[3:]) == 4.0
    assert ms.longest_pitch_run(notes[3:5]) == 2.0
    assert ms.piece_statistics(notes, 1)["longest_run_quarters"] == 5.0


def test_without_voices_chord_share_counts_the_pitches_sounding():
    # One stream: C E G together for two quarters, then a C D E F cluster
    # for one; a note held over the cluster counts in both.
    notes = [Note(0, 48, 0, 3), Note(0, 64, 0, 2), Note(0, 67, 0, 2),
             Note(0, 62, 2, 3), Note(0, 64, 2, 3), Note(0, 65, 2, 3)]
    assert ms.sounding_pitches(notes) == [(2.0, [48, 64, 67]),
                                          (1.0, [48, 62, 64, 65])]
    assert ms.piece_statistics(notes, 1)["chord_share"] == pytest.approx(
        2.0 / 3)


def test_segments_split_where_notes_start_or_end():
    notes = [Note(0, 72, 0, 2), Note(1, 60, 1, 3)]
    assert ms.segments(notes, 2) == [(1.0, (72, None)), (1.0, (72, 60)),
                                    (1.0, (None, 60))]


def test_notes_of_reads_quarters_at_the_sequence_tempo():
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=90.0)
    sequence.notes.add(pitch=60, start_time=0.0, end_time=2.0, instrument=3)
    assert ms.notes_of(sequence) == [Note(3, 60, 0.0, 3.0)]
    assert ms.notes_of(sequence, qpm=60.0) == [Note(3, 60, 0.0, 2.0)]


def test_summarize_gives_mean_percentiles_and_max():
    rows = [{"a": float(v)} for v in range(11)] + [{"a": float("nan")}]
    assert ms.summarize(rows) == {"a": {"mean": 5.0, "p10": 1.0, "p90": 9.0,
                                        "max": 10.0, "pieces": 11}}


def test_a_piano_rolls_slots_are_no_voices():
    """Grid frames whose slots are no parts are measured by pitch: the
    held G4 moves from the top slot to the second when C5 enters above it,
    and still sounds without a break for three quarters."""
    plugin_loading.load_plugins()
    grid = registries.ENCODERS.get("grid")
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=60.0)
    for slot, pitch, start, end in ((0, 67, 0, 1), (1, 60, 0, 1),
                                    (0, 72, 1, 3), (1, 67, 1, 3)):
        sequence.notes.add(pitch=pitch, start_time=start, end_time=end,
                           instrument=slot)
    slots = grid(num_voices=2, voices_are_parts=False)
    assert not slots.voices_are_parts
    stats = ms.sequence_statistics(sequence, slots)
    assert set(stats) == {"in_key_share", "final_tonic_triad", "chord_share",
                          "longest_run_quarters"}
    assert stats["longest_run_quarters"] == 3.0
    parts = ms.sequence_statistics(sequence, grid(num_voices=2))
    assert parts["pitch_range_soprano"] == 5.0
    # Followed slot by slot, no pitch stays longer than two quarters.
    assert parts["longest_run_quarters"] == 2.0
