"""The cache of encoded splits: reused for the same pieces and settings,
rebuilt when either changes, never trusted half-written."""

import os

import numpy as np
from note_seq.protobuf import music_pb2

from polyframe import plugin_loading, registries
from polyframe.data.corpus import Corpus
from polyframe.data.prepare import encode_corpus

plugin_loading.load_plugins()


def piece(piece_id, shift, length=6):
    sequence = music_pb2.NoteSequence(id=piece_id)
    sequence.tempos.add(qpm=120)
    for step in range(length):
        for voice, base in enumerate((72, 64, 57, 48)):
            sequence.notes.add(pitch=base + shift + step % 3, velocity=80,
                               instrument=voice, start_time=step * 0.5,
                               end_time=(step + 1) * 0.5)
    sequence.total_time = length * 0.5
    return sequence


def corpus(shift=0):
    return Corpus(train=[piece(f"t{i}", i + shift) for i in range(4)],
                  valid=[piece("v", 1)], test=[piece("x", 2, length=4)])


def encoder(**kwargs):
    real = registries.ENCODERS.get("duration")(**kwargs)
    fits = []
    original_fit = real.fit
    real.fit = lambda sequences: (fits.append(1), original_fit(sequences))
    return real, fits


def cached_dirs(root):
    return sorted(os.listdir(root / "encoded"))


def test_second_run_reuses_the_encoding(tmp_path):
    first, first_fits = encoder()
    fresh = encode_corpus(first, corpus(), cache_dir=str(tmp_path))
    second, second_fits = encoder()
    reused = encode_corpus(second, corpus(), cache_dir=str(tmp_path))
    assert first_fits == [1] and second_fits == []
    assert second.get_state() == first.get_state()
    for split in ("train", "valid", "test"):
        assert [s.id for s in reused[split].sequences] == \
            [s.id for s in fresh[split].sequences]
        for a, b in zip(fresh[split].pieces, reused[split].pieces):
            np.testing.assert_array_equal(a, b)
    assert len(cached_dirs(tmp_path)) == 1


def test_other_pieces_or_settings_get_their_own_cache(tmp_path):
    encode_corpus(encoder()[0], corpus(), cache_dir=str(tmp_path))
    encode_corpus(encoder()[0], corpus(shift=1), cache_dir=str(tmp_path))
    other, fits = encoder(max_pitch=100)
    encode_corpus(other, corpus(), cache_dir=str(tmp_path))
    assert fits == [1]
    assert len(cached_dirs(tmp_path)) == 3


def test_half_written_cache_is_not_trusted(tmp_path):
    encode_corpus(encoder()[0], corpus(), cache_dir=str(tmp_path))
    (directory,) = cached_dirs(tmp_path)
    os.remove(tmp_path / "encoded" / directory / "manifest.json")
    again, fits = encoder()
    encode_corpus(again, corpus(), cache_dir=str(tmp_path))
    assert fits == [1]


def test_skipped_pieces_stay_skipped_when_reused(tmp_path):
    data = corpus()
    data.train.append(piece("too_high", 60))  # pitches above 108
    first = encode_corpus(encoder()[0], data, cache_dir=str(tmp_path))
    second = encode_corpus(encoder()[0], data, cache_dir=str(tmp_path))
    for encoded in (first, second):
        assert [s.id for s in encoded["train"].sequences] == \
            ["t0", "t1", "t2", "t3"]


def test_every_split_reads_back_its_own_pieces_in_order(tmp_path):
    data = corpus()
    data.valid.append(piece("v2", 3, length=5))
    for attempt in ("fresh", "reused"):
        fitted = encoder()[0]
        encoded = encode_corpus(fitted, data, cache_dir=str(tmp_path))
        for split in ("train", "valid", "test"):
            sequences = list(encoded[split].sequences)
            assert [s.id for s in sequences] == [
                s.id for s in data.split(split)], attempt
            for sequence, events, length in zip(
                    sequences, encoded[split].pieces,
                    encoded[split].lengths):
                np.testing.assert_array_equal(events,
                                              fitted.encode(sequence))
                assert len(events) == length
