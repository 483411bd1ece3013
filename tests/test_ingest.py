"""Ingestion at scale: parallel parsing, sharded caches keyed by content,
atomic builds, and the report, on real MIDI files written by the tests."""

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

from note_seq.protobuf import music_pb2
import numpy as np
import pretty_midi
import pytest

from polyframe.data import cache, ingest, lazy_pieces, skip_reasons
from polyframe.data.corpus import SPLITS
from polyframe.data.voice_rules import VoicedPiece
from polyframe.errors import UserFacingError
from polyframe_plugins.sources.midi_dir import MidiDirectory

BASES = {"Soprano": 72, "Alto": 65, "Tenor": 57, "Bass": 48}


def write_chorale(path, seed, beats=16, transpose=0):
    """A plausible four-track chorale: each voice wanders near its range."""
    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    for name, base in BASES.items():
        instrument = pretty_midi.Instrument(program=52, name=name)
        time_now = 0.0
        for _ in range(beats):
            length = float(rng.choice([0.3, 0.6, 1.2]))
            pitch = int(base + rng.integers(-4, 5)) + transpose
            instrument.notes.append(pretty_midi.Note(
                80, pitch, time_now, time_now + length))
            time_now += length
        midi.instruments.append(instrument)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))
    return path


def make_corpus(folder, count=30):
    """`count` chorales in two sub-folders, plus three bad files."""
    for index in range(count):
        write_chorale(folder / f"set{index % 2}" / f"{index:03d}.mid", index)
    (folder / "empty.mid").write_bytes(b"")
    (folder / "junk.midi").write_bytes(b"RIFF not a midi file")
    data = (folder / "set0" / "000.mid").read_bytes()
    (folder / "set1" / "cut.mid").write_bytes(data[:len(data) // 3])
    return folder


def source_for(folder, cache_dir, **kwargs):
    kwargs.setdefault("num_workers", 1)
    return MidiDirectory(str(folder), cache_dir=str(cache_dir), **kwargs)


def all_pieces(corpus):
    return sorted((p for name in SPLITS for p in corpus.split(name)),
                  key=lambda p: p.id)


def shard_digests(directory):
    return {name: hashlib.sha256(open(os.path.join(directory, name),
                                      "rb").read()).hexdigest()
            for name in sorted(os.listdir(directory))
            if name.startswith("shard-")}


@pytest.fixture
def corpus_dir(tmp_path):
    return make_corpus(tmp_path / "corpus")


def test_parallel_result_equals_serial_result(corpus_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="absl")
    serial = source_for(corpus_dir, tmp_path / "serial", shard_size=7)
    parallel = source_for(corpus_dir, tmp_path / "parallel", shard_size=7,
                          num_workers=2)
    serial_corpus = serial.load()
    parallel_corpus = parallel.load()
    assert "parsed with 1 worker(s)" in caplog.text
    assert "parsed with 2 worker(s)" in caplog.text
    assert [p.SerializeToString() for p in all_pieces(serial_corpus)] == [
        p.SerializeToString() for p in all_pieces(parallel_corpus)]
    assert serial_corpus.skipped == parallel_corpus.skipped
    with open(serial.report_path, "rb") as a, open(parallel.report_path,
                                                  "rb") as b:
        assert a.read() == b.read()
    # Shards hold the same records in the same order, byte for byte.
    assert shard_digests(serial.cache_path) == shard_digests(
        parallel.cache_path)


def test_shards_hold_at_most_shard_size_pieces_in_path_order(corpus_dir,
                                                             tmp_path):
    source = source_for(corpus_dir, tmp_path / "cache", shard_size=7)
    corpus = source.load()
    assert len(all_pieces(corpus)) == 30
    names = sorted(name for name in os.listdir(source.cache_path)
                   if name.startswith("shard-"))
    assert names == [f"shard-{i:05d}-of-00005.tfrecord" for i in range(5)]
    ids = []
    for name in names:
        records = list(cache.read_note_sequences(
            os.path.join(source.cache_path, name)))
        assert len(records) <= 7
        ids.extend(record.id for record in records)
    assert len(ids) == 30 and ids == sorted(ids)
    with open(os.path.join(source.cache_path, cache.MANIFEST_NAME)) as f:
        manifest = json.load(f)
    assert [s["num_records"] for s in manifest["shards"]] == [7, 7, 7, 7, 2]
    assert set(manifest["files"]) == {ingest.REPORT_NAME, ingest.PIECES_NAME}
    with open(os.path.join(source.cache_path, ingest.PIECES_NAME)) as f:
        assert json.load(f) == ids


def test_report_names_every_skipped_file_and_counts(corpus_dir, tmp_path):
    source = source_for(corpus_dir, tmp_path / "cache")
    corpus = source.load()
    with open(source.report_path, encoding="utf-8") as f:
        report = json.load(f)
    assert report["source"] == "midi_dir"
    assert report["root"] == str(corpus_dir)
    assert report["settings"]["voices"]["rule"] == "auto"
    assert (report["num_files"], report["num_kept"],
            report["num_skipped"]) == (33, 30, 3)
    assert report["skipped"] == [
        {"path": "empty.mid", "reason": skip_reasons.EMPTY_FILE,
         "detail": "the file has 0 bytes"},
        {"path": "junk.midi", "reason": skip_reasons.NOT_MIDI,
         "detail": "it starts with b'RIFF', not a MIDI header (b'MThd')"},
        {"path": "set1/cut.mid", "reason": skip_reasons.CORRUPT_MIDI,
         "detail": "the file ends in the middle of a chunk (truncated)"},
    ]
    assert report["skipped_by_reason"] == {
        skip_reasons.CORRUPT_MIDI: 1, skip_reasons.EMPTY_FILE: 1,
        skip_reasons.NOT_MIDI: 1}
    assert report["num_notes_kept"] == sum(
        len(p.notes) for p in all_pieces(corpus)) == 30 * 4 * 16
    assert corpus.skipped[0] == ("empty.mid",
                                 "empty file: the file has 0 bytes")


def test_second_load_reads_only_the_cache(corpus_dir, tmp_path, caplog,
                                          monkeypatch):
    source = source_for(corpus_dir, tmp_path / "cache")
    first = source.load()
    manifest = os.path.join(source.cache_path, cache.MANIFEST_NAME)
    mtime = os.stat(manifest).st_mtime_ns

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed although the cache is valid")

    monkeypatch.setattr(ingest, "parse_files", no_parsing)
    caplog.set_level(logging.INFO, logger="absl")
    second = source_for(corpus_dir, tmp_path / "cache", num_workers=2).load()
    assert "read from the cache" in caplog.text
    assert os.stat(manifest).st_mtime_ns == mtime
    assert [p.SerializeToString() for p in all_pieces(second)] == [
        p.SerializeToString() for p in all_pieces(first)]
    assert second.skipped == first.skipped


def test_changed_file_invalidates_the_cache_even_with_same_size_and_time(
        corpus_dir, tmp_path, caplog):
    source = source_for(corpus_dir, tmp_path / "cache")
    source.load()
    target = corpus_dir / "set0" / "000.mid"
    other = write_chorale(tmp_path / "other.mid", seed=0, transpose=2)
    stat = os.stat(target)
    assert os.path.getsize(other) == stat.st_size
    target.write_bytes(other.read_bytes())
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    caplog.set_level(logging.INFO, logger="absl")
    corpus = source.load()
    assert "inputs: 1 changed (e.g. set0/000.mid)" in caplog.text
    assert "parsed with" in caplog.text
    changed = {p.id: p for p in all_pieces(corpus)}["set0/000.mid"]
    expected = pretty_midi.PrettyMIDI(str(other))
    assert sorted(n.pitch for n in changed.notes) == sorted(
        n.pitch for i in expected.instruments for n in i.notes)


def test_added_or_removed_file_invalidates_the_cache(corpus_dir, tmp_path,
                                                     caplog):
    source = source_for(corpus_dir, tmp_path / "cache")
    source.load()
    caplog.set_level(logging.INFO, logger="absl")
    write_chorale(corpus_dir / "new" / "piece.mid", seed=77)
    assert len(all_pieces(source.load())) == 31
    assert "inputs: 1 added (e.g. new/piece.mid)" in caplog.text
    caplog.clear()
    os.remove(corpus_dir / "set1" / "001.mid")
    assert len(all_pieces(source.load())) == 30
    assert "inputs: 1 removed (e.g. set1/001.mid)" in caplog.text


def test_settings_have_caches_of_their_own(corpus_dir, tmp_path, caplog):
    auto = source_for(corpus_dir, tmp_path / "cache")
    three = source_for(corpus_dir, tmp_path / "cache", num_voices=3)
    assert auto.cache_path != three.cache_path
    auto.load()
    assert {n.instrument for p in all_pieces(three.load())
            for n in p.notes} == {0, 1, 2}
    caplog.set_level(logging.INFO, logger="absl")
    auto.load()
    assert "read from the cache" in caplog.text


def test_build_without_manifest_is_not_trusted(corpus_dir, tmp_path, caplog):
    source = source_for(corpus_dir, tmp_path / "cache")
    source.load()
    # What a run killed before writing its manifest would leave in place.
    os.remove(os.path.join(source.cache_path, cache.MANIFEST_NAME))
    caplog.set_level(logging.INFO, logger="absl")
    corpus = source.load()
    assert "No complete cache" in caplog.text and "parsed with" in caplog.text
    assert len(all_pieces(corpus)) == 30
    assert os.path.exists(os.path.join(source.cache_path, cache.MANIFEST_NAME))


@pytest.mark.parametrize("victim", ["shard-00000-of-00001.tfrecord",
                                    ingest.REPORT_NAME])
def test_tampered_cache_file_is_not_trusted(corpus_dir, tmp_path, caplog,
                                            victim):
    source = source_for(corpus_dir, tmp_path / "cache")
    source.load()
    with open(os.path.join(source.cache_path, victim), "ab") as f:
        f.write(b"garbage")
    caplog.set_level(logging.INFO, logger="absl")
    corpus = source.load()
    assert f"{victim} is missing or does not match the manifest" in caplog.text
    assert len(all_pieces(corpus)) == 30


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from polyframe_plugins.sources import midi_dir

    parse = midi_dir.parse_midi

    def slow_parse(path, data, rule):
        time.sleep(0.1)
        return parse(path, data, rule)

    midi_dir.parse_midi = slow_parse
    midi_dir.MidiDirectory(sys.argv[1], cache_dir=sys.argv[2], num_workers=1,
                           shard_size=2).load()
""")


def test_killed_ingestion_leaves_nothing_that_is_trusted(corpus_dir,
                                                         tmp_path, caplog):
    cache_dir = tmp_path / "cache"
    source = source_for(corpus_dir, cache_dir, shard_size=2)
    corpora = cache_dir / "corpora"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(corpus_dir), str(cache_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list(corpora.glob(".*.tmp/shard-*")):
            assert process.poll() is None, "the run ended before the kill"
            assert time.time() < deadline, "no shard was ever written"
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before the kill"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    (leftover,) = corpora.glob(".*.tmp")
    assert not os.path.exists(source.cache_path)

    caplog.set_level(logging.INFO, logger="absl")
    corpus = source.load()
    assert "No complete cache" in caplog.text and "parsed with" in caplog.text
    assert len(all_pieces(corpus)) == 30
    # The killed run's directory is left to its owner for an hour, in case
    # it is still running; after that the next build removes it.
    assert leftover.exists()
    old = time.time() - 2 * 3600
    os.utime(leftover, (old, old))
    write_chorale(corpus_dir / "one_more.mid", seed=99)
    source.load()
    assert not leftover.exists()
    assert not list(corpora.glob(".*"))


def test_failed_build_leaves_no_trace(tmp_path):
    target = tmp_path / "corpora" / "some-cache"
    with pytest.raises(RuntimeError, match="interrupted"):
        with cache.ShardedCacheWriter(str(target), shard_size=2) as writer:
            writer.add(b"record")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path / "corpora") == []


def test_empty_build_reads_back_empty(tmp_path):
    target = tmp_path / "corpora" / "empty"
    with cache.ShardedCacheWriter(str(target)) as writer:
        writer.add_file("notes.json", b"{}")
        built = writer.commit({"k": 1})
    assert list(built.sequences) == [] and built.files == {
        "notes.json": b"{}"}
    assert list(cache.read_sharded(str(target), {"k": 1}).sequences) == []
    assert cache.read_sharded(str(target), {"k": 2}) is None


def test_find_files_is_recursive_sorted_and_skips_hidden(tmp_path):
    for name in ("b.MID", "a/z.midi", "a/y.mid", ".hidden.mid",
                 ".git/x.mid", "a/._y.mid", "c.txt", "d.mid.bak"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert ingest.find_files(str(tmp_path), (".mid", ".midi")) == [
        "a/y.mid", "a/z.midi", "b.MID"]


def _fails_on_b(path, data):
    if path.endswith("b.mid"):
        raise ValueError("bad value\nsecond line")
    raise skip_reasons.UnusableFileError(skip_reasons.NO_NOTES, "nothing")


def test_any_parser_error_skips_only_that_file(tmp_path):
    for name in ("a.mid", "b.mid"):
        (tmp_path / name).write_bytes(b"MThd")
    results = list(ingest.parse_files(_fails_on_b, str(tmp_path),
                                      ["a.mid", "b.mid"], num_workers=1))
    assert [(r.path, r.reason, r.detail) for r in results] == [
        ("a.mid", skip_reasons.NO_NOTES, "nothing"),
        ("b.mid", skip_reasons.PARSER_ERROR, "ValueError: bad value")]
    assert results[0].sha256 == hashlib.sha256(b"MThd").hexdigest()


def test_results_stream_one_file_at_a_time(tmp_path):
    parsed = []

    def parse(path, data):
        parsed.append(path)
        raise skip_reasons.UnusableFileError(skip_reasons.NO_NOTES)

    names = [f"{i}.mid" for i in range(5)]
    for name in names:
        (tmp_path / name).write_bytes(b"MThd")
    results = ingest.parse_files(parse, str(tmp_path), names, num_workers=1)
    assert next(results).path == "0.mid"
    assert len(parsed) == 1
    assert [r.path for r in results] == names[1:]


def test_parsed_pieces_carry_their_path_as_id(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "p.mid").write_bytes(b"data")

    def parse(path, data):
        return VoicedPiece(music_pb2.NoteSequence(), {"why": 2}, {})

    (result,) = ingest.parse_files(parse, str(tmp_path), ["x/p.mid"],
                                   num_workers=1, collection="mine")
    piece = music_pb2.NoteSequence.FromString(result.record)
    assert (piece.id, piece.filename, piece.collection_name) == (
        "x/p.mid", "x/p.mid", "mine")
    assert result.notes_dropped == {"why": 2}


def test_key_changes_are_described_briefly():
    old = {"settings": {"rule": "auto"}, "inputs": {"a": "1", "b": "2"}}
    new = {"settings": {"rule": "satb"}, "inputs": {"a": "9", "c": "3"}}
    assert cache.describe_change(old, new) == (
        "inputs: 1 changed (e.g. a), 1 added (e.g. c), 1 removed (e.g. b); "
        "settings: 1 changed (e.g. rule)")


def test_workers_default_to_cores_but_not_for_a_few_files(monkeypatch):
    monkeypatch.setattr(ingest, "default_num_workers", lambda: 8)
    assert ingest.resolve_num_workers(None, 10_000) == 8
    assert ingest.resolve_num_workers(None, 450) == 3
    assert ingest.resolve_num_workers(None, 30) == 1
    assert ingest.resolve_num_workers(4, 30) == 4
    assert ingest.resolve_num_workers(4, 2) == 2


def _dies_on_c(path, data):
    if path.endswith("c.mid"):
        os._exit(3)  # Like a worker killed for memory.
    raise skip_reasons.UnusableFileError(skip_reasons.NO_NOTES)


def test_a_dead_worker_is_a_user_facing_error_naming_suspects(tmp_path):
    names = ["a.mid", "b.mid", "c.mid", "d.mid"]
    for name in names:
        (tmp_path / name).write_bytes(b"MThd")
    with pytest.raises(UserFacingError, match="worker process died") as error:
        list(ingest.parse_files(_dies_on_c, str(tmp_path), names,
                                num_workers=2))
    assert "c.mid" in str(error.value)


def test_a_folder_corpus_is_read_from_its_cache_only_when_used(
        corpus_dir, tmp_path):
    source = source_for(corpus_dir, tmp_path / "cache", shard_size=7)
    source.load()
    corpus = source.load()  # From the cache, split by the saved ids alone.
    for split in SPLITS:
        assert isinstance(corpus.split(split), lazy_pieces.StoredRecords)
    assert sum(len(corpus.split(split)) for split in SPLITS) == 30
    assert next(iter(corpus.train)).id == corpus.train[0].id
    # Nothing was kept in memory: with the shards gone, the pieces are gone.
    for shard in os.listdir(source.cache_path):
        if shard.startswith("shard-"):
            os.remove(os.path.join(source.cache_path, shard))
    with pytest.raises(UserFacingError, match="changed while this run read"):
        list(corpus.train)
