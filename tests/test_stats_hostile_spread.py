"""lazyvol.stats: the standard deviation of finite float64 values whose squared deviations pass
float64 (spreads beyond about 1.3e154) is finite, as exact arithmetic gives it; the variance is
``inf`` only where it passes float64 itself.

The reference is exact: Python fractions of the float64 values (mean and sum of squared
deviations), never numpy's std (which overflows to ``inf`` here too).
"""

from __future__ import annotations

import math
from fractions import Fraction

import dask
import dask.array as da
import numpy as np
import pytest

import lazyvol as lv

MAX = float(np.finfo(np.float64).max)


def _exact_var(values: np.ndarray, ddof: int) -> Fraction:
    fr = [Fraction(float(v)) for v in values.ravel()]
    mean = sum(fr, Fraction(0)) / len(fr)
    return sum(((v - mean) ** 2 for v in fr), Fraction(0)) / (len(fr) - ddof)


def _sqrt(v: Fraction) -> float:
    """The square root of a non-negative fraction as a float (scaled by 4**600: no overflow)."""
    return math.sqrt(float(v / 4**600)) * 2.0**600 if v > 1e300 else math.sqrt(float(v))


def _float(v: Fraction) -> float:
    return float(v) if v <= Fraction(MAX) else math.inf


def _values(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "opposite-1e200":  # deviations of 1e200: squares of 1e400
        return rng.choice(np.array([-1e200, 1e200]), size=shape)
    if kind == "near-max":  # all large and positive: deviations of 1e307
        return MAX * rng.uniform(0.5, 1.0, size=shape)
    if kind == "extremes":  # -max and +max: the difference of the extremes passes float64
        return rng.choice(np.array([-MAX, MAX, 1.0]), size=shape)
    if kind == "one-outlier":  # one huge value among ordinary ones, in one chunk of many
        out = rng.normal(size=shape)
        out.flat[7] = 3e160
        return out
    if kind == "just-over":  # squares just past float64 (2e154 ** 2 = 4e308)
        return rng.choice(np.array([-2e154, 2e154, 0.0]), size=shape)
    raise AssertionError(kind)


KINDS = ["opposite-1e200", "near-max", "extremes", "one-outlier", "just-over"]
CHUNKS = [(6, 5, 4), (1, 1, 1), (4, 3, 3)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunks", CHUNKS, ids=["one-chunk", "voxel-chunks", "uneven"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_std_of_values_whose_squares_pass_float64_is_finite_and_exact(
    kind: str, chunks: tuple[int, ...], ddof: int
) -> None:
    rng = np.random.default_rng([KINDS.index(kind), CHUNKS.index(chunks), ddof])
    arr = _values(kind, rng, (6, 5, 4))
    mask = np.indices(arr.shape).sum(axis=0) % 3 != 1
    for m in (None, mask):
        res = lv.stats(
            da.from_array(arr, chunks=chunks),
            mask=None if m is None else da.from_array(m, chunks=chunks),
            bins=None,
            percentiles=(),
            ddof=ddof,
        )
        picked = arr if m is None else arr[m]
        var = _exact_var(picked, ddof)
        assert math.isfinite(res.std), (kind, res.std)
        assert res.std == pytest.approx(_sqrt(var), rel=1e-12)
        want_var = _float(var)
        if math.isinf(want_var):
            assert res.var == math.inf
        else:
            assert res.var == pytest.approx(want_var, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_per_row_std_of_values_whose_squares_pass_float64(kind: str) -> None:
    """axis=: each output row on its own (rows that overflow and rows that do not, together)."""
    rng = np.random.default_rng(KINDS.index(kind))
    arr = _values(kind, rng, (4, 5, 3, 6))
    arr[..., 2] = rng.normal(size=(4, 5, 3))  # an ordinary volume among them
    res = lv.stats(
        da.from_array(arr, chunks=(3, 2, 3, 4)), axis=(0, 1, 2), bins=None, percentiles=()
    )
    for t in range(arr.shape[3]):
        var = _exact_var(arr[..., t], 0)
        assert res.std[t] == pytest.approx(_sqrt(var), rel=1e-12), t
        assert res.var[t] == (pytest.approx(_float(var), rel=1e-12) if var <= MAX else math.inf)


def test_spread_pass_is_the_same_on_every_scheduler() -> None:
    """The extra pass sums in a fixed tree: threads and processes give the same bits."""
    arr = _values("near-max", np.random.default_rng(3), (8, 6, 5))
    data = da.from_array(arr, chunks=(5, 6, 3))
    got = []
    for scheduler in ("sync", "threads", "processes"):
        with dask.config.set(scheduler=scheduler, num_workers=2):
            got.append(lv.stats(data, percentiles=(50,)))
    assert got[0] == got[1] == got[2]
    assert got[0].std == pytest.approx(_sqrt(_exact_var(arr, 0)), rel=1e-12)


def test_ordinary_data_takes_no_spread_pass() -> None:
    """Only rows whose M2 overflowed are read again: ordinary float data keeps its passes."""
    arr = np.random.default_rng(4).normal(size=(5, 6, 7))
    res = lv.stats(da.from_array(arr, chunks=(2, 3, 4)), range=(-5.0, 5.0))
    assert res.passes == 1
    assert res.std == pytest.approx(np.std(arr), rel=1e-12)
