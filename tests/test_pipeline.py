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
