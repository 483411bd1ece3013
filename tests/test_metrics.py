"""Per-unit NLL from sums: the arithmetic every reported figure rests on."""

import math

import pytest

from polyframe import metrics


SUMS = {"nll": 30.0, "nll_pitch": 20.0, "nll_end": 4.0, "nll_first": 6.0,
        "nll_atb": 12.0, "events": 10.0, "tokens": 80.0, "notes": 15.0,
        "notes_atb": 8.0, "ends": 2.0, "firsts": 2.0}


def test_every_unit_divides_the_same_nll():
    values = metrics.from_sums(SUMS)
    assert values["nll_per_event"] == 3.0
    assert values["nll_per_token"] == 0.375
    assert values["nll_per_note"] == 2.0
    assert values["bits_per_note"] == pytest.approx(2.0 / math.log(2))
    assert values["nll_pitch_per_event"] == 2.0
    assert values["nll_end"] == 2.0
    assert values["nll_atb_per_note"] == 1.5
    assert values["nll_per_event_after_first"] == 3.0  # (30 - 6) / (10 - 2)
    assert "nll_first_per_event" not in values


def test_per_frame_leaves_out_or_keeps_each_pieces_first_frame():
    values = metrics.from_sums(dict(SUMS, nll_first=2.0))
    assert metrics.per_frame(values) == {
        "nll_per_frame": 3.5,  # (30 - 2) / (10 - 2)
        "nll_per_frame_with_first": 3.0,
        "num_frames": 8.0,
        "num_frames_with_first": 10.0}
