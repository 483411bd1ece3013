"""Snapping float seconds to exact fractions of a quarter note."""

import fractions

import numpy as np
import pytest

from polyframe.data import timing


def reference(value, max_denominator=timing.MAX_DENOMINATOR):
    return fractions.Fraction(value).limit_denominator(max_denominator)


@pytest.mark.parametrize("max_denominator", [960, 48, 12000])
def test_snap_is_the_nearest_fraction_with_a_bounded_denominator(
        max_denominator):
    rng = np.random.default_rng(0)
    on_grid = rng.integers(0, 10**6, 3000) / max_denominator
    noisy = on_grid * (1 + rng.choice([-1e-13, 0, 1e-13], 3000))
    septuplets = np.arange(1, 3000) / 7 + 1e-12
    anywhere = rng.random(3000) * 500
    for value in np.concatenate([on_grid, noisy, septuplets, anywhere]):
        assert timing.snap(float(value), max_denominator) == reference(
            float(value), max_denominator)


def test_snap_removes_float_noise():
    assert timing.snap(0.1 + 0.2) == fractions.Fraction(3, 10)
    assert timing.snap(1 / 3 * 3 - 1e-12) == 1
    assert timing.snap(2 / 7) == fractions.Fraction(2, 7)
