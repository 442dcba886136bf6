"""lazyvol.stats of float64 values at the edge of float64's range (exactly -max and +max, max and
the float below it): the mean and standard deviation are the exact ones to rounding, never pushed
past the edge by it (a std of exactly ``max`` came out ``inf``; a mean below every value).

The reference is exact arithmetic: Python fractions of the float64 values, never numpy (whose
std and mean overflow here: ``np.std([max, -max])`` is ``inf``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest

import lazyvol as lv

MAX = float(np.finfo(np.float64).max)
BELOW = float(np.nextafter(MAX, 0.0))


def _exact(values: np.ndarray, ddof: int) -> tuple[Fraction, Fraction]:
    fr = [Fraction(float(v)) for v in values.ravel()]
    mean = sum(fr, Fraction(0)) / len(fr)
    return mean, sum(((v - mean) ** 2 for v in fr), Fraction(0)) / (len(fr) - ddof)


def _sqrt(v: Fraction) -> float:
    """sqrt of a non-negative fraction (scaled by 4**600: no overflow; ``inf`` past float64)."""
    return math.sqrt(float(v / 4**600)) * 2.0**600


def _stats(arr: np.ndarray, chunk: int, **kw: object) -> lv.VolumeStats:
    data = da.from_array(arr.reshape(-1, 1, 1), chunks=(chunk, 1, 1))
    return lv.stats(data, bins=None, percentiles=(), **kw)  # type: ignore[arg-type]


# (half, chunk): layouts that rounded the std of exactly max past it (found by a sweep)
LAYOUTS = [(9, 13), (17, 19), (23, 1), (23, 22), (40, 7), (5, 10)]


@pytest.mark.parametrize("order", ["sorted", "shuffled", "alternating"])
@pytest.mark.parametrize(("half", "chunk"), LAYOUTS)
def test_std_of_plus_and_minus_max_is_max(half: int, chunk: int, order: str) -> None:
    arr = np.r_[np.full(half, MAX), np.full(half, -MAX)]
    if order == "shuffled":
        np.random.default_rng(half * 100 + chunk).shuffle(arr)
    elif order == "alternating":
        arr = np.ravel(np.c_[np.full(half, MAX), np.full(half, -MAX)])
    mean, var = _exact(arr, 0)
    assert _sqrt(var) == MAX  # the reference: exactly max, representable
    res = _stats(arr, chunk)
    assert math.isfinite(res.std), res.std
    assert res.std == pytest.approx(_sqrt(var), rel=4e-16)
    assert -MAX <= res.mean <= MAX
    assert abs(res.mean - float(mean)) <= 1e-15 * MAX
    assert res.var == math.inf  # max**2 passes float64 itself


@pytest.mark.parametrize("chunk", [1, 4, 7])
def test_std_of_plus_and_minus_max_with_ddof_one_passes_float64(chunk: int) -> None:
    """The exact std (max * sqrt(n / (n - 1))) is past float64: inf is right there."""
    arr = np.r_[np.full(6, MAX), np.full(6, -MAX)]
    _, var = _exact(arr, 1)
    assert _sqrt(var) == math.inf
    assert _stats(arr, chunk, ddof=1).std == math.inf


@pytest.mark.parametrize(("n", "chunk"), [(44, 26), (51, 16), (51, 31), (79, 26), (12, 5)])
def test_mean_of_max_and_the_float_below_lies_between_them(n: int, chunk: int) -> None:
    arr = np.full(n, MAX)
    arr[::2] = BELOW
    mean, var = _exact(arr, 0)
    res = _stats(arr, chunk)
    assert BELOW <= res.mean <= MAX, res.mean
    assert abs(Fraction(res.mean) - mean) <= Fraction(MAX - BELOW)  # (one unit: the spacing)
    assert res.std == pytest.approx(_sqrt(var), rel=1e-12)


def test_per_row_std_of_a_two_point_series_at_the_edge() -> None:
    """axis=: every voxel of a two-volume series holding -max and +max has a std of max."""
    arr = np.empty((3, 4, 5, 2))
    arr[..., 0], arr[..., 1] = MAX, -MAX
    arr[0, 0, 0] = (1.0, 2.0)  # an ordinary voxel among them
    res = lv.stats(da.from_array(arr, chunks=(2, 3, 5, 1)), axis=3, bins=None, percentiles=())
    want = np.full((3, 4, 5), MAX)
    want[0, 0, 0] = 0.5
    assert np.array_equal(res.std, want)


@pytest.mark.parametrize("value", [MAX, -MAX, 1e308, 1e200, 3e160])
@pytest.mark.parametrize(("n", "chunk"), [(17, 10), (52, 43), (52, 34), (100, 13), (100, 61)])
def test_a_constant_volume_of_huge_values_has_no_spread(value: float, n: int, chunk: int) -> None:
    """Its spread is 0 exactly and its mean the value (not NaN: the spread pass took such rows,
    the rounding of their chunk means making their M2 inf, and their zero width its scale)."""
    arr = np.full(n, value)
    arr[n // 2] = np.nan  # (NaN is left out, as numpy's nanstd)
    res = _stats(arr, chunk)
    assert (res.mean, res.std, res.var) == (value, 0.0, 0.0)
    assert res.count == n - 1
