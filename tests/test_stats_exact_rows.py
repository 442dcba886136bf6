"""Exact percentiles of many output rows are planned and gathered as arrays over all rows.

The order statistics of every row, the intervals a pass gathers and what it finds are numpy arrays
(no Python object per row and percentile, in the process or in the dask graph); even sub-bins
are computed where they are counted rather than carried. Results stay equal to numpy's
percentile of each row.
"""

from __future__ import annotations

import pickle
import warnings

import dask.array as da
import numpy as np
import pytest

import lazyvol as lv
from lazyvol._stats import limits
from lazyvol._stats.parts import SelectSpec
from lazyvol._stats.passes import Passes

Q = (1, 5, 25, 50, 75, 95, 99)


def _per_row(x: np.ndarray, axis: tuple[int, ...], mask: np.ndarray | None = None) -> np.ndarray:
    """numpy's nanpercentile of each output row (reduced axes first), as float64."""
    v = x.astype(np.float64)
    if mask is not None:
        v = np.where(mask, v, np.nan)
    moved = np.moveaxis(v, axis, tuple(range(len(axis))))
    flat = moved.reshape(-1, *moved.shape[len(axis) :])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered"
        want = np.nanpercentile(flat, Q, axis=0)
    return np.moveaxis(want, 0, -1)


@pytest.fixture
def specs(monkeypatch):
    """The select specs each exact-percentile pass put in the dask graph, one list a pass."""
    seen: list[list[SelectSpec]] = []
    run = Passes._run

    def spying(self, task, group_specs, merge, desc):
        if desc == "percentiles":
            seen.append(list(group_specs.values()))
        return run(self, task, group_specs, merge, desc)

    monkeypatch.setattr(Passes, "_run", spying)
    return seen


def test_select_specs_hold_arrays_not_an_object_per_interval(monkeypatch, specs):
    """Before, each target interval was a frozen dataclass in a tuple, with its sub-bin edges as
    bytes (1,025 edges: 8 KiB a target): the graph of a pass over 10**5 intervals held that many
    Python objects. Now a spec is a few arrays: about 50 bytes an interval, and even sub-bins
    carry no edges."""
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 3000)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 16, raising=False)
    x = (100 + np.random.default_rng(1).normal(size=(12, 12, 6, 20))).astype(np.float32)
    vol = lv.Volume(da.from_array(x, chunks=(12, 12, 3, 5)))
    res = lv.stats(vol, axis=(0, 1), bins=4, percentiles=Q, exact_percentiles=True)
    np.testing.assert_array_equal(res.percentiles, _per_row(x, (0, 1)))
    assert specs and any((s.mode == 1).any() for ss in specs for s in ss)  # some sub-binned
    for spec in (s for ss in specs for s in ss):
        assert spec.edges.size == 0  # even sub-bins: computed in the block task
        targets = len(spec.rows)
        assert len(pickle.dumps(spec)) <= 64 * targets + 4096, targets


def test_even_sub_bins_leave_the_budget_to_counts(monkeypatch):
    """The budget of a pass is spent on counts alone (edges used to take half of it): the same
    per-volume series is settled in two select passes where it took three."""
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 5000)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 64, raising=False)
    x = (1000 + 5 * np.random.default_rng(3).normal(size=(16, 16, 10, 24))).astype(np.float32)
    vol = lv.Volume(da.from_array(x, chunks=(16, 16, 5, 6)))
    res = lv.stats(vol, axis=(0, 1, 2), bins=4, percentiles=Q, exact_percentiles=True)
    np.testing.assert_array_equal(res.percentiles, _per_row(x, (0, 1, 2)))
    assert res.passes == 4  # statistics, histogram, two select passes


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "uint64"])
def test_many_rows_with_mask_nan_and_rows_over_several_chunks(monkeypatch, dtype):
    """Rows spanning several chunks (values of one interval found in several blocks), masked
    voxels, rows with no value, NaNs, values fewer float32/float16 steps apart than the sub-bins
    (the bounds are float64: a float16 value must be compared as float64), and integers."""
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 400)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 4, raising=False)
    rng = np.random.default_rng(7)
    shape = (8, 6, 5, 7)
    if dtype.startswith("float"):
        steps = rng.integers(0, 6, size=shape)  # six neighbouring values, many of each
        x = (np.float16(3.0) + steps * np.finfo(np.float16).eps).astype(dtype)
        x[0, 0, 0, :] = np.nan
    elif dtype == "uint64":
        top = np.uint64(2**64 - 1)  # integers float64 cannot tell apart, spread too wide to count
        x = top - rng.integers(0, 3, size=shape).astype(np.uint64) * np.uint64(2**40)
        x[..., 0] -= rng.integers(0, 5, size=shape[:3]).astype(np.uint64)
    else:
        x = (rng.integers(-5, 5, size=shape) * 100_000_000).astype(np.int32)
    mask = rng.random(shape) < 0.8
    mask[:, :, 2, 3] = False  # a row with no value: NaN percentiles
    vol = lv.Volume(da.from_array(x, chunks=(3, 6, 5, 4)))
    res = lv.stats(
        vol, mask=mask.astype(np.uint8), axis=(0, 1), bins=3, percentiles=Q, exact_percentiles=True
    )
    assert res.percentile_method == "exact"
    np.testing.assert_array_equal(res.percentiles, _per_row(x, (0, 1), mask))


def test_infinite_order_statistics_of_many_rows():
    """-inf and +inf are order statistics of some rows (known from the histogram's finite
    range), others are finite: every row as numpy gives it."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(10, 10, 4, 3))
    x[:, :3, 0, 0] = -np.inf
    x[:, :, 1, 1] = np.inf
    x[:5, :, 2, 2] = np.inf
    vol = lv.Volume(da.from_array(x, chunks=(5, 10, 2, 3)))
    for kw in ({}, {"range": (-1.0, 1.0)}):
        res = lv.stats(vol, axis=(0, 1), bins=8, percentiles=Q, exact_percentiles=True, **kw)
        with np.errstate(invalid="ignore"):
            want = np.moveaxis(np.percentile(x, Q, axis=(0, 1)), 0, -1)
        np.testing.assert_array_equal(res.percentiles, want)


def test_exact_percentiles_not_reached_say_so(monkeypatch):
    """One fill value near the float32 maximum among values 0-1000: the even sub-bins narrow the
    bracket too slowly to settle it in MAX_EXACT_PASSES, and the exact request fell back to
    histogram estimates without a word (percentile_method said it, nothing warned)."""
    import warnings

    import dask.array as da

    import lazyvol as lv
    from lazyvol._stats import limits

    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 64)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 64)
    monkeypatch.setattr(limits, "MAX_EXACT_PASSES", 1)
    x = np.random.default_rng(0).uniform(0, 1000, size=(20, 20, 25)).astype(np.float32)
    x[0, 0, 0] = np.finfo(np.float32).max
    vol = lv.Volume(da.from_array(x, chunks=(20, 20, 5)), np.eye(4))
    with pytest.warns(RuntimeWarning, match="exact percentiles asked for, but .* not settled"):
        res = lv.stats(vol, percentiles=[1, 50], exact_percentiles=True)
    assert res.percentile_method == "histogram"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settled = lv.stats(vol, percentiles=[1, 50], exact_percentiles=True, range=(0, 1000))
    assert settled.percentile_method == "exact"
    np.testing.assert_array_equal(settled.percentiles, np.percentile(x.astype(np.float64), [1, 50]))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_one_bin_over_nearly_the_whole_dtype_range(dtype):
    """numpy bins in the values' dtype: hi - lo overflowed float16/float32 and np.histogram raised
    a bare IndexError inside a dask task (bins=1, values at -max and +max)."""
    import dask.array as da

    import lazyvol as lv

    big = float(np.finfo(dtype).max)
    x = np.linspace(-big, big, 60).astype(dtype).reshape(3, 4, 5)
    vol = lv.Volume(da.from_array(x, chunks=(3, 4, 2)), np.eye(4))
    res = lv.stats(vol, bins=1)
    expected, _ = np.histogram(x.astype(np.float64), bins=1)
    assert np.asarray(res.histogram).sum() == expected.sum() == x.size
