"""Corpus sources, their cache, and the voice selection policy, on real data."""

import glob
import hashlib
import json
import logging
import os
import re
import shutil

import pytest
from note_seq.protobuf import music_pb2

from polyframe.data import cache
from polyframe.data.corpus import (SPLITS, SplitFractions,
                                   UnusableSequenceError, split_of)
from polyframe.data.voices import (DROPPED_NOT_A_VOICE, DROPPED_ZERO_LENGTH,
                                   select_voices)
from polyframe.errors import UserFacingError
from polyframe.registries import SOURCES
from polyframe_plugins.sources.bach import BachChorales, _music21_corpus_dir
from polyframe_plugins.sources.note_sequence_tfrecord import (
    NoteSequenceTFRecord)

# A few chorales: plain SATB, SATB with ten instrumental parts,
# 'Soprano\rOboe 1,2\rViolin1'-style names, and two soprano parts (skipped).
SMALL_CORPUS = ("bwv66.6.mxl", "bwv248.64-6.mxl", "bwv171.6.mxl",
                "bwv227.3.mxl")


@pytest.fixture
def small_corpus(tmp_path):
    """A folder with a few real chorales, for tests that rebuild caches."""
    folder = tmp_path / "chorales"
    folder.mkdir()
    for name in SMALL_CORPUS:
        shutil.copy(os.path.join(_music21_corpus_dir(), name), folder)
    return folder


def _ids(pieces):
    return [piece.id for piece in pieces]


# --- Bach source -------------------------------------------------------------


def test_bach_is_registered():
    assert SOURCES.get("bach") is BachChorales


def test_bach_keeps_most_chorales_as_four_voices(bach):
    pieces = bach.pieces
    assert len(pieces) >= 360
    assert len(set(_ids(pieces))) == len(pieces)
    for piece in pieces:
        assert piece.id and piece.filename == piece.id
        assert {note.instrument for note in piece.notes} == {0, 1, 2, 3}
    assert bach.corpus.notes_dropped[DROPPED_ZERO_LENGTH] == 3
    by_id = {piece.id: piece for piece in pieces}
    # Its voices are named 'Soprano\rOboe 1,2\rViolin1', 'Alto\rViloin 2'...
    assert [info.name.split()[0] for info in by_id["bwv171.6"].part_infos
           ] == ["Soprano", "Alto", "Tenor", "Bass"]


def test_bach_skipped_pieces_carry_reasons(bach):
    skipped = dict(bach.corpus.skipped)
    assert "soprano" in skipped["bwv227.3"].lower()
    assert "Piano" in skipped["bwv846"]
    assert all(reason for reason in skipped.values())
    assert len(skipped) + len(bach.pieces) == 408


def test_bach_split_is_disjoint_deterministic_and_about_80_10_10(bach):
    corpus = bach.corpus
    ids = {name: set(_ids(corpus.split(name))) for name in SPLITS}
    assert not ids["train"] & ids["valid"]
    assert not ids["train"] & ids["test"]
    assert not ids["valid"] & ids["test"]
    for name in SPLITS:
        assert all(split_of(i, SplitFractions()) == name for i in ids[name])
    total = len(bach.pieces)
    assert 0.7 < len(ids["train"]) / total < 0.9
    assert 0.05 < len(ids["valid"]) / total < 0.15
    assert 0.05 < len(ids["test"]) / total < 0.15


# Every published number of the bundled corpus depends on exactly these
# pieces in exactly these splits.
PINNED_SPLIT = {
    "train": (314, "e4a3a138c9a1d6ae43086e2d88ce4eb0"
                   "83f97ef638b4f9bc07388992b97b1b5c"),
    "valid": (40, "765124ac7bf841bebbcad26e8a9cb4ac"
                  "e823b49430f553aff1aa7ad5edb3e26a"),
    "test": (51, "76386206ff176553c9abf6836f959e35"
                 "a035983c6a1d6eba637eada4fef3261a")}


def test_bach_split_is_pinned(bach):
    for name, (count, digest) in PINNED_SPLIT.items():
        ids = sorted(_ids(bach.corpus.split(name)))
        assert len(ids) == count, name
        assert hashlib.sha256("\n".join(ids).encode()).hexdigest() == digest


def test_bach_second_load_reads_only_the_cache(bach, caplog):
    mtime = os.stat(bach.manifest_path).st_mtime_ns
    caplog.set_level(logging.INFO, logger="absl")
    again = BachChorales(cache_dir=bach.source.cache_dir,
                         valid_fraction=0.2, test_fraction=0.0).load()
    assert os.stat(bach.manifest_path).st_mtime_ns == mtime
    assert "from the cache" in caplog.text
    assert "Parsing" not in caplog.text
    # New fractions apply at load time, from the same cached pieces.
    assert not again.test
    assert sorted(_ids(again.train + again.valid)) == sorted(_ids(bach.pieces))


def test_bach_cache_is_used_even_without_the_corpus(small_corpus, tmp_path):
    source = BachChorales(cache_dir=str(tmp_path / "cache"),
                          corpus_dir=str(small_corpus))
    first = source.load()
    small_corpus.rename(tmp_path / "moved")
    second = source.load()
    assert sorted(_ids(second.train + second.valid + second.test)) == sorted(
        _ids(first.train + first.valid + first.test))
    assert second.skipped == first.skipped
    assert [s for s, _ in second.skipped] == ["bwv227.3"]


def shard_of(source):
    (shard,) = glob.glob(os.path.join(source.cache_path, "shard-*.tfrecord"))
    return shard


def test_bach_half_written_cache_is_not_trusted(small_corpus, tmp_path,
                                                caplog):
    source = BachChorales(cache_dir=str(tmp_path / "cache"),
                          corpus_dir=str(small_corpus))
    source.load()
    manifest = os.path.join(source.cache_path, cache.MANIFEST_NAME)
    # What a build killed before its manifest would hold, had it been
    # written in place: a cut shard and no manifest.
    os.remove(manifest)
    with open(shard_of(source), "r+b") as f:
        f.truncate(100)
    caplog.set_level(logging.INFO, logger="absl")
    corpus = source.load()
    assert "No complete cache" in caplog.text and "Parsing" in caplog.text
    assert os.path.exists(manifest)
    assert len(corpus.train + corpus.valid + corpus.test) == 3


def test_bach_cache_with_mismatched_records_or_key_is_rebuilt(
        small_corpus, tmp_path, caplog):
    source = BachChorales(cache_dir=str(tmp_path / "cache"),
                          corpus_dir=str(small_corpus))
    source.load()
    with open(shard_of(source), "ab") as f:
        f.write(b"garbage")
    caplog.set_level(logging.INFO, logger="absl")
    source.load()
    assert re.search(r"shard-00000-of-00001\.tfrecord is missing or does "
                     r"not match the manifest", caplog.text)

    caplog.clear()
    other = tmp_path / "other"
    shutil.copytree(small_corpus, other)
    corpus = BachChorales(cache_dir=str(tmp_path / "cache"),
                          corpus_dir=str(other)).load()
    assert "built for other inputs" in caplog.text and "Parsing" in caplog.text
    with open(os.path.join(source.cache_path, cache.MANIFEST_NAME)) as f:
        assert json.load(f)["key"]["corpus_dir"] == str(other)
    assert len(corpus.train + corpus.valid + corpus.test) == 3


def test_bach_missing_corpus_dir_is_a_user_facing_error(tmp_path):
    missing = tmp_path / "no_such_folder"
    source = BachChorales(cache_dir=str(tmp_path / "cache"),
                          corpus_dir=str(missing))
    with pytest.raises(UserFacingError, match="no_such_folder"):
        source.load()


def test_bach_bad_fractions_are_a_user_facing_error(tmp_path):
    with pytest.raises(UserFacingError):
        BachChorales(cache_dir=str(tmp_path), valid_fraction=0.6,
                     test_fraction=0.5)


def test_cache_dir_defaults_to_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    assert BachChorales().cache_dir == str(tmp_path)
    assert BachChorales(cache_dir="/elsewhere").cache_dir == "/elsewhere"


# --- NoteSequence TFRecord source --------------------------------------------


def test_tfrecord_source_reads_real_pieces(bach, tmp_path):
    pieces = bach.pieces[:6]
    cache.write_note_sequences(str(tmp_path / "a.tfrecord"), pieces[:3])
    cache.write_note_sequences(str(tmp_path / "b.tfrecord"), pieces[3:])
    assert SOURCES.get("note_sequence_tfrecord") is NoteSequenceTFRecord
    corpus = NoteSequenceTFRecord(str(tmp_path / "*.tfrecord")).load()
    loaded = {p.id: p for name in SPLITS for p in corpus.split(name)}
    assert sorted(loaded) == sorted(_ids(pieces))
    for piece in pieces:
        assert loaded[piece.id].notes == piece.notes
        assert split_of(piece.id, SplitFractions()) in SPLITS
        assert piece.id in _ids(corpus.split(split_of(piece.id,
                                                       SplitFractions())))


def test_tfrecord_source_accepts_unnamed_voice_separated_pieces(
        bach, tmp_path):
    piece = music_pb2.NoteSequence()
    piece.CopyFrom(bach.pieces[0])
    piece.id = piece.filename = ""
    del piece.part_infos[:]
    for note in piece.notes:
        note.part = 0
    path = str(tmp_path / "unnamed.tfrecord")
    cache.write_note_sequences(path, [piece])
    corpus = NoteSequenceTFRecord(path).load()
    (loaded,) = corpus.train + corpus.valid + corpus.test
    assert loaded.id == "unnamed.tfrecord:0"
    assert [n.instrument for n in loaded.notes] == [
        n.instrument for n in piece.notes]


def test_tfrecord_source_skips_unusable_pieces_with_reasons(bach, tmp_path):
    piece = music_pb2.NoteSequence()
    piece.CopyFrom(bach.pieces[0])
    piece.id = "three_voices"
    kept = [n for n in piece.notes if n.instrument != 3]
    del piece.notes[:]
    piece.notes.extend(kept)
    path = str(tmp_path / "one.tfrecord")
    cache.write_note_sequences(path, [piece, bach.pieces[1]])
    corpus = NoteSequenceTFRecord(path).load()
    assert [s for s, _ in corpus.skipped] == ["three_voices"]
    assert "bass" in corpus.skipped[0][1]
    assert len(corpus.train + corpus.valid + corpus.test) == 1


def test_tfrecord_source_missing_path_is_a_user_facing_error(tmp_path):
    path = str(tmp_path / "missing-*.tfrecord")
    with pytest.raises(UserFacingError, match="missing-"):
        NoteSequenceTFRecord(path).load()


def test_tfrecord_source_corrupt_file_is_a_user_facing_error(bach, tmp_path):
    path = tmp_path / "corrupt.tfrecord"
    path.write_bytes(b"this is not a tfrecord at all" * 10)
    with pytest.raises(UserFacingError, match="corrupt.tfrecord"):
        NoteSequenceTFRecord(str(path)).load()

    truncated = tmp_path / "truncated.tfrecord"
    cache.write_note_sequences(str(truncated), bach.pieces[:3])
    with open(truncated, "r+b") as f:
        f.truncate(os.path.getsize(truncated) - 50)
    with pytest.raises(UserFacingError, match="truncated.tfrecord.*record 3"):
        NoteSequenceTFRecord(str(truncated)).load()


# --- Voice selection policy --------------------------------------------------


def _score(parts, notes):
    """Returns a NoteSequence with named `parts` and `(part, pitch, start, end)`
    notes, in seconds at 120 qpm."""
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=120)
    for part, name in enumerate(parts):
        sequence.part_infos.add(part=part, name=name)
    for part, pitch, start, end in notes:
        sequence.notes.add(part=part, pitch=pitch, start_time=start,
                           end_time=end, velocity=64, program=52)
    return sequence


def _satb_notes(parts=(0, 1, 2, 3)):
    pitches = (72, 67, 60, 48)
    return [(part, pitch, 0.0, 1.0) for part, pitch in zip(parts, pitches)]


def test_voices_drop_instrumental_parts():
    parts = ["Violin 1", "Soprano\rOboe 1,2\rViolin1", "alto", "Tenor Viola",
             "Bass", "Continuo"]
    notes = _satb_notes((1, 2, 3, 4)) + [(0, 84, 0.0, 2.0), (5, 36, 0.0, 1.0)]
    voices, dropped = select_voices(_score(parts, notes))
    assert dropped == {DROPPED_NOT_A_VOICE: 2}
    assert [(n.instrument, n.part, n.pitch, n.program) for n in voices.notes
           ] == [(0, 1, 72, 52), (1, 2, 67, 52), (2, 3, 60, 52),
                 (3, 4, 48, 52)]
    assert [info.name for info in voices.part_infos] == parts[1:5]
    assert voices.total_time == 1.0


def test_voices_ambiguous_soprano_is_unusable():
    parts = ["Soprano 1", "Soprano 2", "Alto", "Tenor", "Bass"]
    notes = _satb_notes((0, 2, 3, 4)) + [(1, 70, 0.0, 1.0)]
    with pytest.raises(UnusableSequenceError, match="Soprano 2"):
        select_voices(_score(parts, notes))


def test_voices_missing_voice_is_unusable():
    with pytest.raises(UnusableSequenceError, match="tenor"):
        select_voices(_score(["Soprano", "Alto", "Bass"],
                             _satb_notes((0, 1, 2, 2))[:3]))


def test_voices_zero_length_notes_are_dropped_and_counted():
    notes = _satb_notes() + [(0, 74, 1.0, 1.0), (3, 50, 1.0, 1.0)]
    voices, dropped = select_voices(
        _score(["Soprano", "Alto", "Tenor", "Bass"], notes))
    assert dropped == {DROPPED_ZERO_LENGTH: 2}
    assert len(voices.notes) == 4


def test_voices_overlapping_notes_are_unusable():
    notes = _satb_notes() + [(1, 65, 0.5, 1.5)]
    with pytest.raises(UnusableSequenceError, match="alto.*monophonic"):
        select_voices(_score(["Soprano", "Alto", "Tenor", "Bass"], notes))


def test_voices_empty_voice_is_unusable():
    notes = _satb_notes()[:3]
    with pytest.raises(UnusableSequenceError, match="bass has no notes"):
        select_voices(_score(["Soprano", "Alto", "Tenor", "Bass"], notes))


def test_voices_unnamed_parts_are_ordered_by_mean_pitch():
    notes = [(0, 48, 0.0, 1.0), (1, 72, 0.0, 1.0), (2, 60, 0.0, 1.0),
             (3, 67, 0.0, 1.0)]
    voices, _ = select_voices(
        _score(["Violin I", "Violin II", "Viola", "Cello"], notes))
    assert {n.pitch: n.instrument for n in voices.notes} == {
        72: 0, 67: 1, 60: 2, 48: 3}


def test_voices_unnamed_numbered_instruments_are_taken_as_they_are():
    sequence = _score([], [])
    for instrument, pitch in enumerate((60, 72, 55, 40)):
        sequence.notes.add(instrument=instrument, pitch=pitch, start_time=0,
                           end_time=1, velocity=80)
    voices, _ = select_voices(sequence)
    assert [(n.instrument, n.pitch) for n in voices.notes] == [
        (0, 60), (1, 72), (2, 55), (3, 40)]


def test_voices_other_part_counts_are_unusable():
    with pytest.raises(UnusableSequenceError, match="instead of 4"):
        select_voices(_score(["Piano"], [(0, 60, 0.0, 1.0)]))
