"""Per-row moments of integer data too spread out to count (per-voxel statistics of a series):
rows of integers of at most 32 bits are held in int64 (native), and their results are exactly
those of the Python-int way: numpy's extremes and sums, the mean and variance of
fractions.Fraction rounded once, for every integer dtype, masks, empty rows and chunkings."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import dask
import dask.array as da
import numpy as np
import pytest

import lazyvol as lv
from lazyvol._stats import limits
from lazyvol._stats.blocks import block_stats
from lazyvol._stats.parts import BlockSpec
from lazyvol._stats.rows import exact_means

INTS = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]


def _values(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random values of the whole range of ``dtype``, a third of them at its ends."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    ends = np.array([info.min, info.max, info.min + 1, info.max - 1], dtype=dtype)
    pick = rng.random(shape) < 0.35
    x[pick] = rng.choice(ends, int(pick.sum()))
    return x


def _check_rows(res: lv.VolumeStats, x: np.ndarray, ok: np.ndarray, ddof: int) -> None:
    """Every row of ``res`` (the last axis reduced) against exact arithmetic."""
    for idx in np.ndindex(*x.shape[:-1]):
        v = [int(a) for a in x[idx][ok[idx]].tolist()]
        one = res[idx]
        assert one.count == len(v)
        if not v:
            assert one.min is None and one.max is None and one.sum == 0
            assert np.isnan(one.mean) and np.isnan(one.var)
            continue
        assert (one.min, one.max, one.sum) == (min(v), max(v), sum(v))
        assert type(one.min) is int and type(one.sum) is int
        assert one.nonzero == sum(1 for a in v if a)
        mean = Fraction(sum(v), len(v))
        assert one.mean == float(mean)
        m2 = sum((a - mean) ** 2 for a in v)
        if len(v) > ddof:
            # M2 is rounded once in float64 (a relative error of 2**-52 or so), then divided
            assert one.var == pytest.approx(float(m2 / (len(v) - ddof)), rel=1e-14, abs=0)


@pytest.mark.parametrize("native_max", [None, 3])  # 3: native and not mixed
@pytest.mark.parametrize("dtype", INTS)
def test_per_voxel_moments_of_every_integer_dtype_are_exact(monkeypatch, dtype, native_max):
    """5 x 4 x 3 voxels of 7 time points in uneven chunks, a 4D mask with an empty voxel: each
    voxel's min, max, sum, count, mean and variance as exact arithmetic gives them."""
    monkeypatch.setattr(limits, "MAX_COUNT_SPAN", 4)  # the moments way, whatever the values
    if native_max is not None:
        monkeypatch.setattr(limits, "NATIVE_MAX_N", native_max, raising=False)
    x = _values(dtype, (5, 4, 3, 7), 1)
    ok = np.random.default_rng(2).random(x.shape) > 0.3
    ok[1, 1, 1, :] = False
    res = lv.stats(
        da.from_array(x, chunks=(3, 4, 2, (3, 3, 1))),
        mask=da.from_array(ok, chunks=(3, 4, 2, (3, 3, 1))),
        axis=3,
        ddof=1,
        bins=None,
        percentiles=(),
    )
    _check_rows(res, x, ok, ddof=1)


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
@pytest.mark.parametrize("dtype", ["int16", "uint32", "int64"])
def test_moments_of_5d_rows_are_exact_with_any_scheduler(monkeypatch, dtype, scheduler):
    """Rows of a 5D array over its last two axes, uneven chunks, a 3D mask; the percentiles of
    the rows exact too (numpy's)."""
    monkeypatch.setattr(limits, "MAX_COUNT_SPAN", 4)
    x = _values(dtype, (3, 4, 2, 5, 3), 3)
    mask = np.random.default_rng(4).random(x.shape[:3]) > 0.3
    mask[0, 0, 0] = False
    with dask.config.set(scheduler=scheduler):
        res = lv.stats(
            da.from_array(x, chunks=(2, 3, 1, (2, 3), (1, 2))),
            mask=mask,
            axis=(3, 4),
            bins=None,
            percentiles=(0, 37.5, 100),
            exact_percentiles=True,
        )
    flat = x.reshape((*x.shape[:3], -1))
    ok = np.broadcast_to(mask[..., None], flat.shape)
    _check_rows(res, flat, ok, ddof=0)
    for idx in zip(*np.nonzero(mask), strict=True):
        want = np.percentile(flat[idx].astype(np.float64), (0, 37.5, 100))
        np.testing.assert_array_equal(res[idx].percentiles, want)


def test_int64_row_means_are_those_of_python_ints():
    """Means of int64 row sums (and what their rounding left off) bit for bit as the Python-int
    way computes them, sums past 2**53 and counts up to 2**31 - 1 included."""
    rng = np.random.default_rng(5)
    k = 20000
    n = rng.integers(0, 2**31 - 1, k)
    n[: k // 2] = rng.integers(0, 40, k // 2)
    s = rng.integers(-(2**32), 2**32, k) * n + rng.integers(-1000, 1000, k)
    s[::7] = rng.integers(-(2**62), 2**62, len(s[::7]))
    s[n == 0] = 0
    mean, lo, floor = exact_means(s, n)
    want_mean, want_lo, want_floor = exact_means(s.astype(object), n)
    assert mean.tobytes() == want_mean.tobytes()
    assert lo.tobytes() == want_lo.tobytes()
    assert np.asarray(floor).tolist() == list(want_floor)


def test_per_voxel_partial_of_int16_holds_no_python_ints():
    """A block of 65,536 voxels x 4 int16 time points too spread out to count: its partial
    holds int64 arrays, 11 numbers a voxel (it held min, max and sum as Python ints, 175 bytes
    a voxel and 315 at the peak, and looped over every voxel in Python: 2 minutes and 1.6 GiB
    for a million voxels)."""
    x = np.random.default_rng(0).integers(-3000, 3000, (64, 64, 16, 4)).astype(np.int16)
    voxels = x.shape[0] * x.shape[1] * x.shape[2]
    spec = BlockSpec(kept=(0, 1, 2), kind="int")
    tracemalloc.start()
    part = block_stats(x, None, spec)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert part.sums.dtype == np.int64 and part.vmin.dtype == np.int64  # type: ignore[union-attr]
    assert held < 120 * voxels  # (now 81 bytes a voxel)
    assert peak < 260 * voxels  # (now 199)
