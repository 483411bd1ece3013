"""Training windows and whole-piece batches."""

import numpy as np
import pytest

from polyframe.data import pipeline
from polyframe.encoding import START_ID


def note_starts(events):
    """A note starts where a voice's id changes (like the grid encoder)."""
    before = np.concatenate([np.zeros_like(events[:1, :, 0]),
                             events[:-1, :, 0]])
    return events[..., 0] != before


FRAMING = pipeline.Framing(note_starts)


def pieces(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 4, (n, 4, 2)).astype(np.int32)
            for n in (1, 7, 19, 40, 41)]


@pytest.mark.parametrize("seed", range(5))
def test_windows_make_every_event_a_target_exactly_once(seed):
    data = pieces()
    windows = pipeline.training_windows(data, 8, FRAMING,
                                        np.random.default_rng(seed))
    assert windows["events"].shape[1:] == (9, 4, 2)
    assert windows["mask"].sum() == sum(len(p) for p in data)
    # Notes are counted on whole pieces, not on windows.
    assert windows["notes"].sum() == sum(note_starts(p).sum() for p in data)
    assert (windows["notes"][windows["mask"] == 0] == 0).all()
    targets = [tuple(row.reshape(-1).tolist())
               for events, mask in zip(windows["events"], windows["mask"])
               for row, real in zip(events[1:], mask) if real]
    expected = [tuple(row.reshape(-1).tolist())
                for p in data for row in p]
    assert sorted(targets) == sorted(expected)


def test_window_offsets_change_with_the_epoch_seed():
    data = pieces()

    def window_lengths(seed):
        windows = pipeline.training_windows(data, 8, FRAMING,
                                            np.random.default_rng(seed))
        return sorted(windows["mask"].sum(1).tolist())

    assert window_lengths(0) == window_lengths(0)
    assert len({tuple(window_lengths(seed)) for seed in range(5)}) > 1


def test_whole_pieces_start_with_start_and_mask_padding():
    data = pieces()
    batches = list(pipeline.whole_pieces(data, 2, FRAMING))
    assert sum(len(b["mask"]) for b in batches) == len(data)
    for batch in batches:
        assert (batch["events"][:, 0] == START_ID).all()
        for events, mask in zip(batch["events"], batch["mask"]):
            length = int(mask.sum())
            assert any(np.array_equal(events[1:length + 1], p) for p in data)


def test_datasets_drop_the_last_partial_batch():
    windows = pipeline.training_windows(pieces(), 8, FRAMING,
                                        np.random.default_rng(0))
    batches = list(pipeline.to_dataset(windows, 4))
    assert len(batches) == len(windows["mask"]) // 4
    assert all(b["events"].shape[0] == 4 for b in batches)


def test_end_row_is_the_last_target_and_marked():
    data = pieces()
    end_row = np.full((4, 2), 9, np.int32)
    framing = pipeline.Framing(note_starts, end_row=end_row)
    windows = pipeline.training_windows(data, 8, framing,
                                        np.random.default_rng(0))
    assert windows["mask"].sum() == sum(len(p) + 1 for p in data)
    assert windows["end"].sum() == len(data)
    ends = windows["events"][:, 1:][windows["end"] == 1]
    assert (ends == end_row).all()
    # END starts no note, and padding is never an END.
    assert (windows["notes"][windows["end"] == 1] == 0).all()
    assert (windows["end"][windows["mask"] == 0] == 0).all()


def test_times_and_melody_features_follow_the_targets():
    data = pieces()
    framing = pipeline.Framing(
        note_starts, end_row=np.full((4, 2), 9, np.int32),
        times=lambda p: np.arange(len(p) + 1, dtype=np.float32) * 0.5,
        melody=lambda p: (np.full(len(p), 60, np.int32),
                          np.zeros((len(p), 2), np.float32)))
    batch = next(pipeline.whole_pieces(data[-1:], 1, framing))
    length = len(data[-1])
    # Target t (event t, then END) starts at t / 2 quarters.
    np.testing.assert_allclose(batch["times"][0],
                               np.arange(length + 1) * 0.5)
    assert batch["melody_pitch"].shape == (1, 64)  # 41 notes, bucketed
    assert (batch["melody_pitch"][0, length:] == 129).all()


def window_rows(windows):
    """Every window as a hashable tuple of its events, in order."""
    return [tuple(w.reshape(-1).tolist()) for w in windows["events"]]


def stacked(epoch):
    return pipeline._stack(list(epoch.windows()))  # pylint: disable=protected-access


def test_an_epoch_that_fits_the_shuffle_buffer_is_shuffled_whole():
    data = pieces()
    whole = pipeline.training_windows(data, 8, FRAMING,
                                      np.random.default_rng([0, 3]))
    epoch = pipeline.epoch_of(data, 8, FRAMING, np.random.default_rng([0, 3]),
                              shuffle_windows=len(whole["mask"]))
    assert epoch.num_windows == len(whole["mask"])
    for key, value in stacked(epoch).items():
        np.testing.assert_array_equal(value, whole[key])


def test_a_longer_epoch_streams_through_a_bounded_buffer():
    data = pieces() + pieces(seed=1)

    def epoch(buffer):
        return pipeline.epoch_of(data, 8, FRAMING, np.random.default_rng(5),
                                 shuffle_windows=buffer)

    whole, small, one = (stacked(epoch(b)) for b in (10**6, 4, 1))
    assert sorted(window_rows(small)) == sorted(window_rows(whole))
    assert window_rows(small) != window_rows(whole)
    again = epoch(4)
    assert window_rows(stacked(again)) == window_rows(stacked(again))
    # A buffer of one window keeps the pieces' order: windows come out in
    # the order they are cut, piece after piece.
    starts = [float(rows[1:][mask > 0][..., 0].sum()) for rows, mask in
              zip(one["events"], one["mask"])]
    expected = []
    offsets = np.random.default_rng(5).integers(8, size=len(data))
    for piece, offset in zip(data, offsets):
        bounds = [0] + list(range(offset or 8, len(piece), 8)) + [len(piece)]
        expected += [float(piece[b:e, :, 0].sum())
                     for b, e in zip(bounds[:-1], bounds[1:]) if e > b]
    assert starts == expected


def test_chunks_stack_the_windows_in_order():
    data = pieces()
    epoch = pipeline.epoch_of(data, 8, FRAMING, np.random.default_rng(2))
    chunks = list(epoch.chunks(size=3))
    assert [len(c["mask"]) for c in chunks][:-1] == [3] * (len(chunks) - 1)
    joined = {key: np.concatenate([c[key] for c in chunks])
              for key in chunks[0]}
    for key, value in stacked(epoch).items():
        np.testing.assert_array_equal(joined[key], value)
    signature = epoch.signature()
    assert signature["events"].shape.as_list() == [None, 9, 4, 2]
    assert signature["mask"].dtype.name == "float32"


@pytest.mark.parametrize("seed", range(3))
def test_window_counts_are_known_before_cutting(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 50, size=30)
    offsets = rng.integers(8, size=30)
    counted = pipeline.count_windows(lengths, offsets, 8)
    for length, offset, count in zip(lengths, offsets, counted):
        bounds = [0] + list(range(offset or 8, length, 8)) + [length]
        assert count == sum(1 for b, e in zip(bounds[:-1], bounds[1:])
                            if e > b)


def test_whole_pieces_sorted_in_groups_cover_every_piece_once():
    data = pieces() + pieces(seed=3)
    grouped = list(pipeline.whole_pieces(data, 2, FRAMING, sort_pieces=4))
    together = list(pipeline.whole_pieces(data, 2, FRAMING))
    assert sum(b["mask"].sum() for b in grouped) == sum(len(p) for p in data)
    assert len(grouped) == len(together) == 5
    # Groups of 4 pieces are sorted apart: events per piece, batch by batch.
    assert [b["mask"].sum(1).tolist() for b in grouped] == [
        [1, 7], [19, 40], [1, 7], [19, 41], [40, 41]]
    assert [b["mask"].sum(1).tolist() for b in together] == [
        [1, 1], [7, 7], [19, 19], [40, 40], [41, 41]]


def test_framing_remembers_times_and_melody_of_the_latest_pieces():
    """Decoding a piece for its times or melody happens once per distinct
    event array; the oldest answers are forgotten past the size, and the
    shared answers cannot be changed by a caller."""
    calls = []

    def times(piece):
        calls.append(piece.copy())
        return np.cumsum(piece[:, 0, 0]).astype(np.float32)

    remembered = pipeline.Remembered(times, size=2)
    first = np.arange(24, dtype=np.int32).reshape(3, 4, 2)
    answer = remembered(first)
    assert remembered(first.copy()) is answer
    np.testing.assert_array_equal(answer, [0, 8, 24])
    assert not answer.flags.writeable
    assert len(calls) == 1
    transposed = first + 1  # The same piece in another key is another piece.
    np.testing.assert_array_equal(remembered(transposed), [1, 10, 27])
    remembered(first + 2)
    assert len(calls) == 3
    remembered(first)  # Forgotten: the two latest were the shifted ones.
    assert len(calls) == 4
    remembered(first + 2)
    assert len(calls) == 4


def test_a_models_framing_decodes_each_piece_once(bach):
    """`framing_for` remembers the times and melody it decodes, so later
    epochs and evaluations reuse them (same arrays, equal to a fresh
    decoding)."""
    from polyframe import sequence_model
    from polyframe.data import features
    from polyframe_plugins.encoders.duration import DurationEncoder

    encoder = DurationEncoder()
    chorales = list(bach.corpus.train[:2])
    encoder.fit(chorales)
    piece = encoder.encode(chorales[0])
    framing = pipeline.framing_for(
        encoder, (sequence_model.TIMES, sequence_model.MELODY))
    times, melody = framing.times(piece), framing.melody(piece)
    assert framing.times(piece.copy()) is times
    assert framing.melody(piece.copy()) is melody
    np.testing.assert_array_equal(times, features.event_times(encoder, piece))
    for got, fresh in zip(melody, features.piece_melody(encoder, piece, 0)):
        np.testing.assert_array_equal(got, fresh)
