"""Exact percentiles of many output rows hold a bounded number of values at once.

Every pass of the exact selection shares one budget (values collected plus sub-bin counts) over
all rows and intervals; the results stay equal to numpy's percentile of each row.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import lazyvol as lv
from lazyvol._stats import limits
from lazyvol._stats.passes import Passes

Q = (1, 5, 25, 50, 75, 95, 99)


@pytest.fixture
def held(monkeypatch):
    """The values, sub-bin counts and sub-bin edges each exact-percentile pass held at once."""
    cells: list[int] = []
    select = Passes.select

    def counting(self, spec):
        found = select(self, spec)
        cells.append(found.cells + spec.edges.size)
        return found

    monkeypatch.setattr(Passes, "select", counting)
    return cells


def _series(kind: str) -> np.ndarray:
    rng = np.random.default_rng(3)
    shape = (16, 16, 10, 24)  # 24 volumes of 2560 values, 240 slices of 256
    if kind == "float32":
        x = (1000 + 5 * rng.normal(size=shape)).astype(np.float32)
        x[0, 0, :2] = 5000  # a few bright voxels: most values in one or two of the bins
        x[1, 1, 1, ::5] = np.nan
        return x
    # integers spread too wide to count value by value (the moments strategy)
    return (rng.integers(-3, 4, size=shape) * 10_000_000 + rng.integers(0, 50, size=shape)).astype(
        np.int64
    )


@pytest.mark.parametrize("kind", ["float32", "int64"])
@pytest.mark.parametrize("axis", [(0, 1, 2), (0, 1)], ids=["per-volume", "per-slice"])
def test_exact_per_row_percentiles_stay_within_the_budget(monkeypatch, held, kind, axis):
    """Before, each bin of at most EXACT_COLLECT_LIMIT values was collected whatever the other
    rows held: per-volume exact percentiles of a series kept nearly every value in memory."""
    x = _series(kind)
    rows = int(np.prod([x.shape[a] for a in range(4) if a not in axis]))
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 2000)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 16, raising=False)
    budget = max(2000, rows * 16)  # the budget: the limit, or 16 cells a row (more than 4 bins)
    assert budget < x.size // 4  # far less than the data
    vol = lv.Volume(da.from_array(x, chunks=(16, 16, 5, 6)))
    res = lv.stats(vol, axis=axis, bins=4, percentiles=Q, exact_percentiles=True)
    assert res.percentile_method == "exact"
    moved = np.moveaxis(x.astype(np.float64), axis, tuple(range(len(axis))))
    flat = moved.reshape(-1, *res.shape)
    want = np.moveaxis(np.nanpercentile(flat, Q, axis=0), 0, -1)
    np.testing.assert_array_equal(res.percentiles, want)
    assert held and max(held) <= budget, (held, budget)


def test_budget_grows_with_the_histogram_of_every_row():
    """The exact passes may hold as much as the histogram of every row (the documented bound)."""
    assert limits.exact_budget(1, 256) == limits.EXACT_COLLECT_LIMIT
    assert limits.exact_budget(100_000, 1024) == 102_400_000
    assert limits.exact_budget(100_000, 0) == 100_000 * limits.EXACT_ROW_CELLS


def test_intervals_that_do_not_fit_wait_for_a_later_pass(monkeypatch, held):
    """A budget smaller than one cell per interval: intervals wait, every result still exact."""
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 100)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 1, raising=False)
    x = np.random.default_rng(4).normal(size=(4, 4, 3, 30)).astype(np.float64)
    vol = lv.Volume(da.from_array(x, chunks=(4, 4, 3, 10)))
    q = (10, 50, 90)
    res = lv.stats(vol, axis=(0, 1, 2), bins=1, percentiles=q, exact_percentiles=True)
    assert res.percentile_method == "exact"
    np.testing.assert_array_equal(res.percentiles, np.percentile(x, q, axis=(0, 1, 2)).T)
    assert max(held) <= 100


def test_one_row_keeps_one_select_pass():
    """A single row whose bins fit the budget: values collected in one extra pass, as before."""
    x = np.random.default_rng(5).gamma(2.0, 50.0, size=(30, 20, 25)).astype(np.float32)
    res = lv.stats(lv.Volume(da.from_array(x, chunks=(30, 20, 6))), exact_percentiles=True)
    assert res.passes == 3 and res.percentile_method == "exact"
    np.testing.assert_array_equal(res.percentiles, np.percentile(x.astype(np.float64), Q))
