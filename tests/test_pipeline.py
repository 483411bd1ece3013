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


def pieces(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 4, (n, 4, 2)).astype(np.int32)
            for n in (1, 7, 19, 40, 41)]


@pytest.mark.parametrize("seed", range(5))
def test_windows_make_every_event_a_target_exactly_once(seed):
    data = pieces()
    windows = pipeline.training_windows(data, 8, note_starts,
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
        windows = pipeline.training_windows(data, 8, note_starts,
                                            np.random.default_rng(seed))
        return sorted(windows["mask"].sum(1).tolist())

    assert window_lengths(0) == window_lengths(0)
    assert len({tuple(window_lengths(seed)) for seed in range(5)}) > 1


def test_whole_pieces_start_with_start_and_mask_padding():
    data = pieces()
    batches = list(pipeline.whole_pieces(data, 2, note_starts))
    assert sum(len(b["mask"]) for b in batches) == len(data)
    for batch in batches:
        assert (batch["events"][:, 0] == START_ID).all()
        for events, mask in zip(batch["events"], batch["mask"]):
            length = int(mask.sum())
            assert any(np.array_equal(events[1:length + 1], p) for p in data)


def test_datasets_drop_the_last_partial_batch():
    windows = pipeline.training_windows(pieces(), 8, note_starts,
                                        np.random.default_rng(0))
    batches = list(pipeline.to_dataset(windows, 4))
    assert len(batches) == len(windows["mask"]) // 4
    assert all(b["events"].shape[0] == 4 for b in batches)
