"""Pieces read from a cache as they are used: order, subsets, indexing,
mapping, and a cache replaced while it is read."""

import json
import shutil

import pytest

from polyframe.data import cache, lazy_pieces
from polyframe.errors import UserFacingError


def build(directory, count, shard_size):
    with cache.ShardedCacheWriter(str(directory), shard_size=shard_size,
                                  parse=bytes) as writer:
        for index in range(count):
            writer.add(f"record {index}".encode())
        return writer.commit({"count": count})


def test_records_are_read_in_order_across_shards(tmp_path):
    built = build(tmp_path / "c", 7, shard_size=3)
    records = built.records
    assert isinstance(records, lazy_pieces.StoredRecords)
    assert len(records) == 7 and len(built.manifest["shards"]) == 3
    assert list(records) == [f"record {i}".encode() for i in range(7)]
    assert list(records) == list(records)  # Iterable again.
    assert records[4] == b"record 4" and records[-1] == b"record 6"
    with pytest.raises(IndexError):
        records[7]  # pylint: disable=pointless-statement


def test_subsets_and_slices_read_only_their_records(tmp_path):
    records = build(tmp_path / "c", 10, shard_size=4).records
    chosen = records.subset([1, 2, 8])
    assert len(chosen) == 3
    assert list(chosen) == [b"record 1", b"record 2", b"record 8"]
    assert list(chosen.subset([0, 2])) == [b"record 1", b"record 8"]
    assert list(records[3:9:2]) == [b"record 3", b"record 5", b"record 7"]
    assert records[:2] + [b"x"] == [b"record 0", b"record 1", b"x"]
    with pytest.raises(ValueError, match="must increase"):
        records.subset([3, 1])


def test_mapped_pieces_apply_the_function_on_access(tmp_path):
    records = build(tmp_path / "c", 5, shard_size=2).records
    calls = []

    def upper(record):
        calls.append(record)
        return record.upper()

    mapped = lazy_pieces.MappedPieces(records, upper)
    assert len(mapped) == 5 and calls == []
    assert mapped[1] == b"RECORD 1" and calls == [b"record 1"]
    assert list(lazy_pieces.subset(mapped, [0, 4])) == [b"RECORD 0",
                                                       b"RECORD 4"]
    assert lazy_pieces.first(mapped, 2) == [b"RECORD 0", b"RECORD 1"]
    assert lazy_pieces.subset([5, 6, 7], [0, 2]) == [5, 7]


def test_a_cache_removed_while_read_is_one_clear_error(tmp_path):
    records = build(tmp_path / "c", 4, shard_size=2).records
    iterator = iter(records)
    assert next(iterator) == b"record 0"
    shutil.rmtree(tmp_path / "c")
    with pytest.raises(UserFacingError, match="changed while this run read "
                       "it .* Run again"):
        list(iterator)


def test_record_counts_that_disagree_are_not_trusted(tmp_path):
    built = build(tmp_path / "c", 4, shard_size=2)
    manifest = built.manifest
    manifest["shards"][0]["num_records"] = 3
    (tmp_path / "c" / cache.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert cache.read_sharded(str(tmp_path / "c"), {"count": 4},
                              parse=bytes) is None
    stored = lazy_pieces.StoredRecords(
        [(str(tmp_path / "c" / s["name"]), s["num_records"])
         for s in manifest["shards"]], bytes, where=str(tmp_path / "c"))
    with pytest.raises(UserFacingError, match="fewer records than its "
                       "manifest says"):
        list(stored)
    assert len(stored) == 5
