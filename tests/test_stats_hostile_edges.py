"""lazyvol.stats with explicit bin edges that are infinite or far outside the data
(``bins=[-inf, 0, inf]``, as one would write "below and above zero"): the exact percentiles
that split a bin too full to collect at once, and the histogram, against numpy on the values as
float64 (``numpy.percentile`` and ``numpy.histogram``, computed on the whole array).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import lazyvol as lv
from lazyvol._stats import limits

Q = (0, 1, 5, 25, 50, 75, 95, 99, 100)
EDGES = [
    [-np.inf, 0.0, np.inf],
    [-np.inf, np.inf],
    [-np.inf, 5.5],
    [0.0, np.inf],
    [-1e30, 0.0, 1e30],
]
DTYPES = ["int16", "int32", "uint32", "int64", "uint64", "float32", "float64"]


def _values(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(DTYPES.index(dtype))
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x = (rng.normal(size=shape) * 1000).astype(dt)
        x.flat[3] = np.nan
        return x
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integer data too spread out to count, and bins too full to collect in one pass, on a
    volume small enough for a test (the sub-binning of a real run of millions of values)."""
    monkeypatch.setattr(limits, "MAX_COUNT_SPAN", 4)
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 40)


@pytest.mark.usefixtures("small_budget")
@pytest.mark.parametrize(
    "edges", EDGES, ids=["-inf,0,inf", "-inf,inf", "-inf,5.5", "0,inf", "wide"]
)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
def test_exact_percentiles_with_infinite_or_far_edges(
    dtype: str, edges: list[float], masked: bool
) -> None:
    x = _values(dtype, (6, 7, 5, 3))
    mask = (np.indices(x.shape).sum(axis=0) % 4 != 0) if masked else None
    res = lv.stats(
        da.from_array(x, chunks=2),
        mask=None if mask is None else da.from_array(mask, chunks=2),
        bins=edges,
        percentiles=Q,
        exact_percentiles=True,
    )
    v = (x if mask is None else x[mask]).astype(np.float64).ravel()
    v = v[~np.isnan(v)]
    assert res.percentile_method == "exact"
    np.testing.assert_array_equal(res.percentiles, np.percentile(v, Q))
    np.testing.assert_array_equal(res.histogram, np.histogram(v, bins=np.asarray(edges))[0])


@pytest.mark.usefixtures("small_budget")
@pytest.mark.parametrize("dtype", ["int32", "uint64", "float32"])
def test_per_row_exact_percentiles_with_infinite_edges(dtype: str) -> None:
    x = _values(dtype, (6, 7, 5, 4))
    res = lv.stats(
        da.from_array(x, chunks=(3, 4, 2, 3)),
        axis=(0, 1, 2),
        bins=[-np.inf, 0.0, np.inf],
        percentiles=Q,
        exact_percentiles=True,
    )
    for t in range(x.shape[3]):
        v = x[..., t].astype(np.float64).ravel()
        v = v[~np.isnan(v)]
        np.testing.assert_array_equal(res.percentiles[t], np.percentile(v, Q))


@pytest.mark.parametrize("dtype", ["int32", "float64"])
def test_histogram_percentiles_with_infinite_edges_have_finite_bounds(dtype: str) -> None:
    """Without exact passes, a percentile in the bin (-inf, 0) is stated with the bound of the
    values there (the row's minimum to 0), not an infinite one, and holds the exact value."""
    x = _values(dtype, (6, 7, 5))
    res = lv.stats(da.from_array(x, chunks=(4, 3, 2)), bins=[-np.inf, 0.0, np.inf], percentiles=Q)
    v = x.astype(np.float64).ravel()
    v = v[~np.isnan(v)]
    assert np.isfinite(res.percentile_error).all()
    assert (np.abs(res.percentiles - np.percentile(v, Q)) <= res.percentile_error).all()
