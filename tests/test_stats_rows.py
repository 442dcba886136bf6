"""Per-row statistics (``axis=``) against numpy row by row, and moments against exact arithmetic
(fractions.Fraction) where float64 rounds or overflows."""

from __future__ import annotations

import tracemalloc
import warnings
from fractions import Fraction

import dask.array as da
import numpy as np
import pytest

import lazyvol as lv
from lazyvol._stats import limits
from lazyvol._stats.blocks import block_stats
from lazyvol._stats.parts import BlockSpec

Q = (1, 25, 50, 99)


def _data(dtype: str) -> np.ndarray:
    """A 4 x 3 x 2 x 9 series: per-voxel rows of 9 time points, one row all NaN, one with NaNs."""
    rng = np.random.default_rng(7)
    if dtype == "int64":  # values spread too wide to count: the moments way
        x = rng.integers(-(2**40), 2**40, size=(4, 3, 2, 9))
    else:
        x = rng.normal(size=(4, 3, 2, 9)) * 100 + 1000
    x = np.asfortranarray(x.astype(dtype))  # NIfTI chunks are Fortran-ordered
    if x.dtype.kind == "f":
        x[0, 0, 0, :] = np.nan
        x[1, 2, 1, [0, 4]] = np.nan
    return x


@pytest.mark.parametrize("piece", [limits.PIECE, 4])  # 4: rows read in pieces
@pytest.mark.parametrize("tchunk", [9, 4, 1])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16", "int64"])
def test_per_voxel_statistics_equal_numpy_row_by_row(monkeypatch, dtype, tchunk, piece):
    """One result per voxel over time, the time axis in one chunk or many: each row as numpy
    gives it for that voxel's values (in the mask, not NaN)."""
    monkeypatch.setattr(limits, "PIECE", piece)
    x = _data(dtype)
    mask = np.ones(x.shape, dtype=bool)
    mask[3, 0, 1, :] = False  # a voxel outside the mask
    mask[2, 1, 0, ::2] = False  # a voxel in the mask at some time points
    data = da.from_array(x, chunks=(4, 2, 2, tchunk))
    inside = da.from_array(mask, chunks=(4, 2, 2, tchunk))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = lv.stats(data, mask=inside, axis=3, bins=16, percentiles=Q, exact_percentiles=True)
    ok = mask & ~np.isnan(x) if x.dtype.kind == "f" else mask
    every = x[ok]
    lo, hi = every.min(), every.max()
    assert res.shape == x.shape[:3]
    for idx in np.ndindex(*x.shape[:3]):
        v = x[idx][ok[idx]]
        one = res[idx]
        assert one.count == v.size
        assert one.nan_count == int(np.count_nonzero(np.isnan(x[idx]) & mask[idx]))
        h, _ = np.histogram(v, bins=16, range=(lo, hi))
        np.testing.assert_array_equal(one.histogram, h)
        if not v.size:
            assert one.min is None and np.isnan(one.mean)
            continue
        assert one.min == v.min() and one.max == v.max()
        assert one.nonzero == np.count_nonzero(v)
        if x.dtype.kind == "i":
            assert one.sum == sum(int(a) for a in v)
        exact = sum(Fraction(float(a)) for a in v) / v.size
        assert one.mean == pytest.approx(float(exact), rel=1e-12)
        var = sum((Fraction(float(a)) - exact) ** 2 for a in v) / v.size
        assert one.var == pytest.approx(float(var), rel=1e-9)
        np.testing.assert_array_equal(one.percentiles, np.percentile(v.astype(np.float64), Q))


def test_per_slice_histogram_of_floats_with_a_known_range():
    """Histograms counted with the moments in the first pass (range given), rows over several
    chunks: numpy's histogram of each slice, values on the edges and outside them included."""
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 14, size=(5, 6, 4)).astype(np.float32) / 2  # many values on edges
    res = lv.stats(da.from_array(x, chunks=(2, 3, 1)), axis=(0, 1), bins=5, range=(0.0, 5.0))
    assert res.passes == 1
    for z in range(x.shape[2]):
        v = x[..., z].ravel()
        h, _ = np.histogram(v, bins=5, range=(0.0, 5.0))
        one = res[z]
        np.testing.assert_array_equal(one.histogram, h)
        assert one.under == np.count_nonzero(v < 0) and one.over == np.count_nonzero(v > 5)


@pytest.mark.parametrize("axis", [None, (0, 1)])
def test_histogram_with_nan_mask_and_values_outside_the_range(monkeypatch, axis):
    """Whole-volume and per-slice histograms binned by the same cells (one line or several),
    NaN and masked-out values left out: numpy's histogram, under and over of each slice."""
    monkeypatch.setattr(limits, "PIECE", 40)  # lines read in pieces, tiles of several lines
    rng = np.random.default_rng(5)
    x = (rng.integers(-6, 20, size=(6, 5, 4)) / 2).astype(np.float32)
    x[0, :, 1] = np.nan
    mask = rng.random((6, 5, 4)) < 0.8
    res = lv.stats(da.from_array(x, chunks=(3, 5, 2)), mask=mask, axis=axis, bins=7, range=(0, 6))
    per = [(slice(None),) * 2 + (z,) for z in range(4)] if axis else [(Ellipsis,)]
    for i, at in enumerate(per):
        v = x[at][mask[at] & ~np.isnan(x[at])]
        one = res[i] if axis else res
        np.testing.assert_array_equal(one.histogram, np.histogram(v, bins=7, range=(0, 6))[0])
        assert (one.under, one.over) == (np.count_nonzero(v < 0), np.count_nonzero(v > 6))


@pytest.mark.parametrize(
    ("dtype", "spec", "tiles"),
    [  # (before: 3.2 and 4.5 tiles)
        ("int16", BlockSpec(kept=(), kind="int"), 2.5),
        ("float32", BlockSpec(kept=(0,), kind="float", bins=256, range=(-1.0, 1.0)), 3.5),
    ],
)
def test_block_temporaries_stay_within_a_few_tiles(monkeypatch, dtype, spec, tiles):
    """A block's value counts (one line) or histograms (several lines a tile) hold a few int64
    or float64 arrays of a tile at once (each value's cell, the deviations from the mean), not a
    line index, its multiple and their sum besides."""
    monkeypatch.setattr(limits, "PIECE", 1 << 17)
    x = np.random.default_rng(0).normal(size=(64, 64, 256))
    x = (x * (100 if dtype == "int16" else 1)).astype(dtype)
    tracemalloc.start()
    block_stats(x, None, spec)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < tiles * 8 * limits.PIECE


@pytest.mark.parametrize("chunks", [2, 1])
def test_variance_of_int64_beyond_2_53_is_exact(chunks):
    """int64 values past 2**53 spread wider than value counts take: each value's deviation is
    taken in integers, not from its float64 rounding (which was 0.4% off, and chunk-dependent)."""
    base = 3 * 10**18 + 1
    values = [base, base + 70000, base + 3, base + 69999]
    x = np.array(values, dtype=np.int64)
    res = lv.stats(da.from_array(x, chunks=chunks), bins=None, percentiles=())
    mean = Fraction(sum(values), len(values))
    exact = sum((v - mean) ** 2 for v in values) / len(values)
    assert res.sum == sum(values)
    assert res.var == pytest.approx(float(exact), rel=1e-14)


@pytest.mark.parametrize("chunks", [4, 3, 2, 1])
def test_mean_of_finite_float64_near_its_maximum(chunks):
    """Finite values whose sum passes float64: the mean is the exact one whatever the chunking
    (the merge's difference of two means overflowed: -inf with 2 chunks, NaN with 1)."""
    big = np.finfo(np.float64).max
    x = np.array([big, big, -big, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = lv.stats(da.from_array(x, chunks=chunks), bins=None, percentiles=())
    exact = sum(Fraction(float(v)) for v in x) / len(x)
    assert res.mean == float(exact)


def test_exact_percentiles_of_int32_extremes_in_small_passes(monkeypatch):
    """int32 data at both ends of its range, exact percentiles refined in small passes (one integer
    a sub-bin): the offsets of a target starting at -1 (held as uint64) overflowed int64 in the
    narrow-integer path (OverflowError; the per-row rewrite's, found by h52's fuzzer)."""
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 50)
    monkeypatch.setattr(limits, "EXACT_ROW_CELLS", 4)
    info = np.iinfo(np.int32)
    values = np.array([info.min, info.max, 0, 1, 2], dtype=np.int32)
    picks = (  # (the fuzzer's array: indices into ``values``)
        "331212001131122421124112341441111412430014112200421424024332413211212343200324221003"
        "211311134112024301041141111032431340000133123413234313011142020012132040104144100020"
        "424002000133202302422430341423100343134104040011104434441333331204433112101313223443"
    )
    a = values[np.frombuffer(picks.encode(), np.uint8) - ord("0")].reshape(6, 7, 6)
    q = (0, 0.1, 1, 5, 25, 33.3, 50, 75, 95, 99, 99.9, 100)
    r = lv.stats(da.from_array(a, chunks=(4, 1, 3)), percentiles=q, exact_percentiles=True, bins=3)
    assert r.percentile_method == "exact"
    np.testing.assert_array_equal(r.percentiles, np.percentile(a.astype(np.float64), q))


def test_histograms_of_every_row_are_capped_before_any_data_is_read():
    """bins alone was capped (10 million, 80 MB a row), but not rows x bins: per-voxel
    histograms (axis=3) of 10,000 voxels with 100,000 bins allocated 7.5 GiB in every block's
    partial (a bare MemoryError, or the OOM killer), and the default 256 bins of a 4-million-row
    run 8 GiB a copy. Refused, typed, before a chunk is read; bins=None still runs."""
    read = []

    def chunk(block):
        if block.size > 1:  # (not dask's own probes of the function)
            read.append(block.shape)
        return block

    x = da.zeros((100, 100, 1, 4), chunks=(50, 100, 1, 4), dtype=np.float32)
    x = x.map_blocks(chunk, meta=np.empty((0, 0, 0, 0), np.float32))
    with pytest.raises(lv.OptionError, match=r"bins=None") as ei:
        lv.stats(x, axis=3, bins=100_000)
    assert "10,000 output rows" in str(ei.value) and "GiB" in str(ei.value)
    with pytest.raises(lv.OptionError, match=r"bins=None"):
        lv.stats(x, axis=3, bins=np.linspace(0, 1, 100_001))
    assert not read
    assert lv.stats(x, axis=3, bins=None).count.shape == (100, 100, 1)
    assert lv.stats(x, axis=3, bins=256).histogram.shape == (100, 100, 1, 256)


def test_results_compare_by_value():
    """Two results of one computation compared with == raised numpy's 'truth value of an array
    is ambiguous' ValueError (the generated __eq__ put the histogram, bin edges and per-row
    arrays in a tuple); now equal by value, NaN (an empty mask's mean) equal to NaN."""
    import dataclasses

    from lazyvol.volume import Volume

    data = np.arange(4 * 3 * 2 * 5, dtype=np.float32).reshape(4, 3, 2, 5)
    vol = Volume(da.from_array(data, chunks=(4, 3, 2, 2)), np.eye(4))
    first, second = lv.stats(vol, percentiles=(5, 50)), lv.stats(vol, percentiles=(5, 50))
    assert first == second and first != lv.stats(vol, bins=10) and first != "x"
    rows = lv.stats(vol, axis=(0, 1, 2))
    assert rows == lv.stats(vol, axis=(0, 1, 2)) and rows != first
    empty = lv.stats(vol[..., 0], mask=np.zeros((4, 3, 2), bool))
    assert np.isnan(empty.mean) and empty == dataclasses.replace(empty)


def test_per_voxel_percentiles_do_not_hash_their_order_statistics(monkeypatch):
    """The distinct (row, rank) keys of every row's order statistics were found by numpy.unique,
    which numpy 2.4 does by hashing: these evenly stepped keys are its worst case (29 s of a
    54 s run for 7 percentiles of 1,048,576 voxels, superlinear in the voxels). A stable sort
    gives the same keys (0.2 s); the percentiles stay numpy's, row by row."""
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 50, 1000) * 9 + rng.integers(0, 3, 1000)
    from lazyvol._stats.finalise import _distinct

    np.testing.assert_array_equal(_distinct(keys), np.unique(keys))
    assert _distinct(np.empty(0, np.int64)).size == 0

    x = rng.normal(size=(8, 6, 4, 9)).astype(np.float32)

    def no_unique(*args, **kwargs):
        raise AssertionError("numpy.unique hashes the per-row order statistics")

    monkeypatch.setattr(np, "unique", no_unique)
    res = lv.stats(da.from_array(x, chunks=(4, 6, 4, 3)), axis=3, exact_percentiles=True)
    monkeypatch.undo()
    np.testing.assert_array_equal(
        res.percentiles, np.percentile(x.astype(np.float64), res.q, axis=3).transpose(1, 2, 3, 0)
    )


@pytest.mark.parametrize("bins", [None, 6])
def test_per_voxel_percentiles_are_located_a_group_of_rows_at_a_time(monkeypatch, bins):
    """Histogram percentiles of every row were located all at once: some 150 bytes for each of
    up to two order statistics per row and percentile, so per-voxel statistics of 1,048,576
    float32 voxels x 16 time points peaked at 2.1 GiB (0.5 GiB without percentiles). Rows are
    now taken a group of at most limits.PIECE order statistics at a time, with the same
    results as all rows at once."""
    from lazyvol._stats import finalise as fin

    rng = np.random.default_rng(11)
    x = rng.normal(size=(6, 5, 4, 9)).astype(np.float32)
    x[0, 0, 0] = np.nan
    x[1, 0, 0, 2] = np.inf
    x[2, 0, 0] = 5.0
    data = da.from_array(x, chunks=(3, 5, 4, 5))
    mask = np.ones((6, 5, 4), bool)
    mask[:, 1] = False
    whole = lv.stats(data, axis=3, bins=bins, mask=mask)
    seen: list[int] = []
    locate = fin.locate

    def counted(row, *args, **kwargs):
        seen.append(len(row))
        return locate(row, *args, **kwargs)

    monkeypatch.setattr(fin, "locate", counted)
    monkeypatch.setattr(limits, "PIECE", 40)  # 40 order statistics: 2 rows of 7 percentiles
    grouped = lv.stats(data, axis=3, bins=bins, mask=mask)
    assert len(seen) > 1 and max(seen) <= 40
    assert grouped == whole
    v = x.astype(np.float64)
    ref = np.nanpercentile(v, whole.q, axis=3).transpose(1, 2, 3, 0)
    has = mask & ~np.isnan(x).all(axis=3) & ~np.isinf(x).any(axis=3)
    assert np.all(np.abs(grouped.percentiles - ref)[has] <= grouped.percentile_error[has])
