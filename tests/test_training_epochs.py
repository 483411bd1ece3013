"""The windows a training run reads: streamed from the encoded cache, cut,
shuffled and transposed as its config says."""

import numpy as np
from note_seq.protobuf import music_pb2

from polyframe import jobs, plugin_loading, registries
from polyframe.data import augmentation, lazy_pieces, pipeline
from polyframe.data.corpus import Corpus
from polyframe.data.prepare import encode_corpus
from polyframe.trainer import TrainConfig

plugin_loading.load_plugins()


def piece(piece_id, seed, length=24):
    rng = np.random.default_rng(seed)
    sequence = music_pb2.NoteSequence(id=piece_id)
    sequence.tempos.add(qpm=120)
    for voice, base in enumerate((72, 64, 57, 48)):
        time = 0.0
        for _ in range(length):
            duration = float(rng.choice([0.5, 1.0]))
            sequence.notes.add(pitch=int(base + rng.integers(-3, 4)),
                               velocity=80, instrument=voice,
                               start_time=time, end_time=time + duration)
            time += duration
    sequence.total_time = max(n.end_time for n in sequence.notes)
    return sequence


def encoded_train(tmp_path):
    corpus = Corpus(train=[piece(f"t{i}", i) for i in range(6)],
                    valid=[piece("v", 10)], test=[piece("x", 11)])
    encoder = registries.ENCODERS.get("duration")()
    encoded = encode_corpus(encoder, corpus, cache_dir=str(tmp_path))
    return encoded["train"], encoder


def rows(epoch):
    return [tuple(w.reshape(-1).tolist()) for w in
            pipeline._stack(list(epoch.windows()))["events"]]  # pylint: disable=protected-access


def test_windows_stream_from_the_cache_shuffled_as_configured(tmp_path):
    train, encoder = encoded_train(tmp_path)
    assert isinstance(train.pieces, lazy_pieces.StoredRecords)
    framing = pipeline.framing_for(encoder)
    held = list(train.pieces)
    none = augmentation.Augmentation()

    def epoch(config):
        return jobs.training_epochs(train, encoder, framing, config, none)(
            np.random.default_rng([0, 1]))

    shuffled = epoch(TrainConfig(window_length=4))
    in_order = epoch(TrainConfig(window_length=4, shuffle_windows=1))
    assert rows(shuffled) == rows(pipeline.epoch_of(
        held, 4, framing, np.random.default_rng([0, 1])))
    assert rows(in_order) == rows(pipeline.epoch_of(
        held, 4, framing, np.random.default_rng([0, 1]), shuffle_windows=1))
    assert rows(in_order) != rows(shuffled)
    assert sorted(rows(in_order)) == sorted(rows(shuffled))


def test_transposition_is_drawn_per_epoch_from_the_streamed_pieces(tmp_path):
    train, encoder = encoded_train(tmp_path)
    framing = pipeline.framing_for(encoder)
    config = TrainConfig(window_length=4)
    plain = jobs.training_epochs(train, encoder, framing, config,
                                 augmentation.Augmentation())
    moved = jobs.training_epochs(
        train, encoder, framing, config,
        augmentation.Augmentation(transpose_semitones=3))
    expected = list(augmentation.TransposedPieces(
        list(train.sequences), list(train.pieces), encoder, 3).epoch(
            np.random.default_rng([0, 2]))())
    assert rows(moved(np.random.default_rng([0, 2]))) == rows(
        pipeline.epoch_of(expected, 4, framing,
                          _after_shifts(len(expected))))
    assert rows(moved(np.random.default_rng([0, 2]))) != rows(
        plain(np.random.default_rng([0, 2])))


def _after_shifts(count):
    """The epoch generator once the keys have been drawn from it."""
    rng = np.random.default_rng([0, 2])
    rng.integers(-3, 4, size=count)
    return rng
