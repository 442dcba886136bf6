"""lazyvol.stats on the edges a differential sweep against numpy found: float32 data finer than
float32's spacing, infinities and overflow across chunks, integer percentiles near the dtype's
limits, and arguments numpy refuses. The reference is numpy on the whole array (or exact
arithmetic where numpy itself wraps)."""

from __future__ import annotations

import dataclasses
import pickle
import warnings

import dask
import dask.array as da
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_phantom_nifti

Q = (1, 5, 25, 50, 75, 95, 99)


def _stats(x, chunks, **kw):
    return lv.stats(da.from_array(x, chunks=chunks), **kw)


def test_exact_percentiles_of_float32_finer_than_its_spacing():
    """float32 values around 1e7 (spacing 1.0) gave NaN percentiles labelled "exact": the select
    pass compared the data with float64 bin edges rounded to float32."""
    rng = np.random.default_rng(3)
    x = (1e7 + rng.integers(-2, 3, size=(20, 20, 16))).astype(np.float32)
    res = _stats(x, (20, 20, 4), exact_percentiles=True)
    assert res.percentile_method == "exact"
    np.testing.assert_array_equal(res.percentiles, np.percentile(x.astype(np.float64), Q))
    tiny = (rng.integers(-5, 5, size=(10, 10, 8)) * np.float32(1.4e-45)).astype(np.float32)
    res = _stats(tiny, (10, 10, 2), exact_percentiles=True)
    np.testing.assert_array_equal(res.percentiles, np.percentile(tiny.astype(np.float64), Q))


@pytest.mark.parametrize("chunks", [(4, 4, 4), (2, 4, 4), (1, 1, 4)])
def test_infinities_in_some_chunks(chunks):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy warnings reach the user
        x = np.arange(64, dtype=np.float64).reshape(4, 4, 4)
        x[3, 3, 3] = np.inf
        res = _stats(x, chunks, percentiles=())
        assert res.mean == np.inf and res.sum == np.inf
        x[0, 0, 0] = -np.inf  # +inf and -inf in different chunks: math.fsum raised ValueError
        res = _stats(x, chunks, percentiles=())
        with np.errstate(all="ignore"):
            assert np.isnan(res.mean) and np.isnan(np.nanmean(x))
        big = np.full((4, 4, 4), 1e308)  # finite values whose sum overflows float64
        res = _stats(big, chunks, percentiles=())
        assert res.mean == pytest.approx(1e308) and res.sum == np.inf
        huge = np.random.default_rng(1).normal(0, 1e300, (4, 4, 4))  # squares overflow
        res = _stats(huge, chunks, percentiles=())
        with np.errstate(all="ignore"):
            assert np.std(huge) == np.inf  # numpy's squares overflow; the spread is finite
        # (scaled by a power of two: exact; test_stats_hostile_spread checks exact fractions)
        assert res.std == pytest.approx(np.std(huge * 2.0**-1000) * 2.0**1000, rel=1e-12)
        assert res.var == np.inf  # (8.5e299 ** 2 is past float64)


def test_integer_percentiles_interpolate_without_wrapping():
    """numpy interpolates int16 in int16 (-32768 and 2000 give -35844.8, below the minimum);
    lazyvol interpolates in float64, numpy's answer on the same values as floats."""
    x = np.array([-32768] * 3 + [2000] * 5, dtype=np.int16).reshape(2, 2, 2)
    res = _stats(x, (1, 2, 2), percentiles=(30, 40))
    np.testing.assert_allclose(res.percentiles, np.percentile(x.astype(np.float64), (30, 40)))
    assert res.min <= res.percentiles.min() and res.percentiles.max() <= res.max
    y = np.array([-100, 100], dtype=np.int8).reshape(1, 1, 2)
    assert _stats(y, (1, 1, 1), percentiles=(50,)).percentiles[0] == 0.0


def test_histogram_percentiles_stay_within_min_and_max():
    const = np.full((8, 8, 8), 3.25, dtype=np.float32)
    res = _stats(const, (8, 8, 2), percentiles=(0, 50, 100))
    assert res.percentiles.tolist() == [3.25, 3.25, 3.25]
    x = np.random.default_rng(4).normal(100, 30, (16, 16, 8)).astype(np.float32)
    res = _stats(x, (16, 16, 2), percentiles=(0, 100))
    assert res.percentiles.tolist() == [float(x.min()), float(x.max())]
    assert res.percentile_error.tolist() == [0.0, 0.0]


def test_every_axis_reduced_gives_scalars_like_numpy():
    x = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    res = _stats(x, (1, 3, 4), axis=(0, 1, 2))
    assert res.sum == 276 and np.ndim(res.mean) == 0 and res.mean == 11.5


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"bins": [0.0, float("nan"), 1.0]}, ValueError),  # gave negative counts
        ({"bins": True}, TypeError),  # was one bin
        ({"bins": 2.5}, TypeError),
        ({"axis": 3}, ValueError),  # reduced axis 0 (modulo)
        ({"axis": -4}, ValueError),
        ({"axis": (0, 3)}, ValueError),
        ({"axis": 1.5}, TypeError),
        ({"range": (1.0,)}, ValueError),  # IndexError
    ],
)
def test_arguments_numpy_refuses_are_refused(kw, error):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    with pytest.raises(error):
        _stats(x, (2, 3, 4), **kw)
    if "axis" in kw and isinstance(kw["axis"], int):
        with pytest.raises(np.exceptions.AxisError):
            x.sum(axis=kw["axis"])


def test_a_mistyped_scheduler_name_lists_the_names(lazyvol_cli, tmp_path):
    import nibabel as nib

    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), path)
    res = lazyvol_cli("stats", path, "--scheduler", "thread")
    assert res.returncode == 2
    assert "not a scheduler name" in res.stderr and "threads" in res.stderr


@pytest.mark.parametrize("value", [0.1, 0.3, 123.456, -7.25])
@pytest.mark.parametrize("chunks", [(20, 18, 15), (7, 9, 5)])
def test_constant_float_data_has_zero_spread_and_its_own_mean(value, chunks):
    """Float sums round: a constant 0.3 gave mean 0.29999999999999993 (below min == max) and a
    std of 7e-18 depending on the chunking; std == 0 is a common guard before z-scoring."""
    vol = lv.Volume(da.full((20, 18, 15), value, chunks=chunks), np.eye(4))
    got = lv.stats(vol)
    assert got.mean == value and got.std == 0.0 and got.var == 0.0
    assert got.min == got.max == value
    inf = lv.stats(lv.Volume(da.full((4, 4, 4), np.inf, chunks=2), np.eye(4)))
    assert inf.mean == np.inf and np.isnan(inf.std)  # as numpy: var of inf values is NaN


def test_percentiles_on_infinite_values_are_those_values_as_numpy_gives_them():
    """Log-transformed data: a -inf background, a few +inf. The histogram method gave the finite
    extremes for percentiles that fall on -inf/+inf (numpy: NaN or +-inf by its interpolation)."""
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 2.0, (40, 30, 20))
    x[:, :, :6] = -np.inf
    x[0, 0, -2:] = np.inf
    q = (1, 10, 50, 90, 99.99)
    want = np.percentile(x, q)
    got = lv.stats(lv.Volume(da.from_array(x, chunks=(20, 15, 10)), np.eye(4)), percentiles=q)
    for w, g, e in zip(want, got.percentiles, got.percentile_error, strict=True):
        if np.isfinite(w):
            assert abs(g - w) <= e
        else:
            assert np.isnan(g) if np.isnan(w) else g == w
    assert got.under == 40 * 30 * 6 and got.over == 2


@pytest.mark.parametrize("exact", [False, True])
def test_explicit_edges_narrower_than_the_data_leave_finite_values_outside_them(exact):
    """bins=[edges] inside the data: values below/above them are finite (only the default range
    spans the finite values); they were taken for -inf/+inf and clamped to min/max, error 0."""
    x = np.arange(1000.0).reshape(10, 10, 10)
    q = (1, 50, 99)
    got = lv.stats(
        lv.Volume(da.from_array(x, chunks=5), np.eye(4)),
        percentiles=q,
        bins=np.linspace(200, 800, 11),
        exact_percentiles=exact,
    )
    for w, g, e in zip(np.percentile(x, q), got.percentiles, got.percentile_error, strict=True):
        assert abs(g - w) <= e + 1e-9
    if exact:
        np.testing.assert_allclose(got.percentiles, np.percentile(x, q))


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([-(2**31)] * 5 + list(range(0, 1000, 100)), np.int32),  # a no-data sentinel
        ([-(2**63)] * 3 + [2**63 - 1] * 4, np.int64),
        ([0] * 3 + [2**64 - 1] * 4, np.uint64),
        ([-60000.0] * 3 + [60000.0] * 3, np.float16),  # b - a overflows to inf in float16
        ([-3e38] * 3 + [3e38] * 4, np.float32),
    ],
    ids=["int32-sentinel", "int64-limits", "uint64-limits", "float16", "float32"],
)
@pytest.mark.parametrize("exact", [False, True])
def test_percentiles_interpolate_in_float64_at_the_dtype_limits(values, dtype, exact):
    """Exact order statistics were interpolated in the data's dtype: int32 from -2**31 to 900
    wrapped to +2.1e8 (above the max, error bound 0) and float16 from -60000 to 60000 gave -inf.
    The reference is numpy's percentile of the values as float64."""
    x = np.array(values, dtype=dtype).reshape(1, 1, -1)
    q = (0, 10, 30, 45, 50, 55, 90, 100)
    res = _stats(x, (1, 1, 3), percentiles=q, bins=4, exact_percentiles=exact)
    want = np.percentile(x.astype(np.float64), q)
    assert np.isfinite(want).all()
    if res.percentile_method == "exact":
        np.testing.assert_array_equal(res.percentiles, want)
        assert (res.percentile_error == 0).all()
    else:
        assert not exact
        assert (np.abs(res.percentiles - want) <= res.percentile_error).all()
    assert float(x.min()) <= res.percentiles.min() and res.percentiles.max() <= float(x.max())


def test_percentiles_between_float64_extremes_do_not_overflow():
    """float64 -1e308 and 1e308: b - a overflows even in float64 (numpy's percentile gives
    -inf and NaN); the weighted sum is exact within rounding (reference: fractions)."""
    from fractions import Fraction

    x = np.array([-1e308] * 3 + [1e308] * 3).reshape(1, 1, -1)
    q = (30, 50, 70)
    res = _stats(x, (1, 1, 3), percentiles=q, exact_percentiles=True)
    for got, qq in zip(res.percentiles, q, strict=True):
        virtual = Fraction(5) * Fraction(qq, 100)
        i = int(virtual)
        v = sorted(Fraction(a) for a in x.ravel().tolist())
        want = float(v[i] + (v[min(i + 1, 5)] - v[i]) * (virtual - i))
        assert got == pytest.approx(want, rel=1e-15, abs=1e292)


def _few_ulps_apart(rng):
    return 0.3 + rng.integers(0, 6, 400) * np.spacing(0.3)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: np.r_[np.full(200, 0.3), np.full(200, 0.1 + 0.2), 0.0, 1.0],
        _few_ulps_apart,
        # integers past 2**53 (one float64 value for several), spanning too much to count
        lambda rng: np.r_[2**60 + rng.integers(0, 3, 400), 0, 2**61].astype(np.int64),
        lambda rng: np.r_[2**60 + rng.integers(-5000, 5000, 400), 0, 2**61].astype(np.int64),
        lambda rng: np.r_[2**64 - 1 - rng.integers(0, 5000, 400).astype(np.uint64), 0],
        lambda rng: np.r_[np.full(100, -np.inf), -rng.random(300), rng.random(30)],
    ],
    ids=["0.3-and-0.1+0.2", "ulps", "int64-2**60", "int64-spread", "uint64-top", "-inf-below"],
)
def test_exact_percentiles_of_many_values_too_close_to_sub_bin(monkeypatch, make):
    """More values than are collected (the limit lowered to 50) within a few float64 ulps of
    each other, or integers float64 cannot tell apart: numpy.histogram refused to split their
    interval ("Too many bins for data range", an untyped ValueError)."""
    from lazyvol._stats import limits

    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 50)
    rng = np.random.default_rng(8)
    x = make(rng)
    rng.shuffle(x)
    q = (30, 40, 50, 60, 75, 99) if np.isinf(x).any() else (1, 10, 25, 40, 50, 60, 75, 99)
    kw = {"range": (0.0, 1.0)} if np.isinf(x).any() else {}
    res = _stats(x.reshape(1, 1, -1), (1, 1, 97), percentiles=q, exact_percentiles=True, **kw)
    assert res.percentile_method == "exact"
    want = np.percentile(x.astype(np.float64), q)
    np.testing.assert_array_equal(res.percentiles, want)


@pytest.mark.parametrize("scale", [1e-307, 1e-308, 1e-310])
def test_histogram_and_percentiles_of_a_tiny_float_range_are_numpys(scale):
    """float64 values whose whole range is below ~1e-306: bins as numpy.histogram gives them,
    percentiles as numpy's (the bin estimate multiplied by nb / span, which overflowed to inf:
    3999 of 4000 values in one bin, a median 100x off within a stated error bound of ~0)."""
    x = np.random.default_rng(5).standard_normal(4000) * scale
    res = lv.stats(x, bins=256, percentiles=(1, 50, 99))
    counts, edges = np.histogram(x, bins=256)
    np.testing.assert_array_equal(res.histogram, counts)
    np.testing.assert_array_equal(res.bin_edges, edges)
    want = np.percentile(x, [1, 50, 99])
    assert (np.abs(res.percentiles - want) <= res.percentile_error).all(), (res.percentiles, want)


def test_a_dask_array_of_unknown_chunk_sizes_is_an_option_error_naming_the_fix():
    """data[data > 0] has chunks of unknown size: an OptionError saying to pass the condition as
    mask= or compute the chunk sizes (was a bare ValueError 'cannot convert float NaN to
    integer'); the mask= form gives numpy's values."""
    a = np.random.default_rng(2).standard_normal((16, 16, 8))
    x = da.from_array(a, chunks=(8, 8, 4))
    with pytest.raises(lv.OptionError, match=r"unknown size.*mask="):
        lv.stats(x[x > 0])
    res = lv.stats(x, mask=x > 0)
    assert res.count == int((a > 0).sum())
    np.testing.assert_allclose(res.mean, a[a > 0].mean(), rtol=1e-12)


def _misaligned(x: np.ndarray) -> np.ndarray:
    """A copy of ``x`` at an odd byte offset (as a dask.distributed worker may unpickle a block)."""
    buf = np.zeros(x.nbytes + 64, dtype=np.uint8)
    at = (-buf.ctypes.data) % 64 + 5
    out = buf[at : at + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    assert not out.flags.aligned
    return out


def test_float_sums_do_not_depend_on_memory_alignment():
    """numpy sums misaligned float64 through a buffered loop that rounds differently: a block
    unpickled at an odd offset on a distributed worker gave a sum and mean 1 ulp off the
    threaded scheduler's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64, 32)) * 1e3 + 1e9
    aligned = np.ascontiguousarray(x[:, :, 5:10])
    ref = _stats(aligned, aligned.shape, bins=None, percentiles=())
    odd = _misaligned(aligned)
    block = da.from_delayed(dask.delayed(lambda: odd, pure=True)(), odd.shape, odd.dtype)
    got = lv.stats(block, bins=None, percentiles=())  # (from_array would copy it aligned)
    assert (got.sum, got.mean, got.var) == (ref.sum, ref.mean, ref.var)


def _as_block(x: np.ndarray) -> da.Array:
    """``x`` as the one block of a dask array, handed over as it is (a view stays a view)."""
    return da.from_delayed(dask.delayed(lambda: x, pure=True)(), x.shape, x.dtype)


@pytest.mark.parametrize(
    ("axis", "masked", "dtype"),
    [(3, False, "<f4"), ((0, 1, 2), False, "<f4"), (0, True, "<f4"), (3, False, ">f4")],
)
def test_float_statistics_do_not_depend_on_the_blocks_memory_layout(axis, masked, dtype):
    """A block that is a strided view (``vol[::2, ..., ::-1]`` of a NIfTI chunk) is unpickled
    C-contiguous by processes and dask.distributed workers; its values were summed in another
    order (Rows takes axes by stride, numpy sums contiguous lines pairwise): std and mean
    differed in their last digits from the threaded scheduler's (per voxel: 9,934 of 15,360
    voxels of a sliced NIfTI)."""
    rng = np.random.default_rng(1)
    # (">f4": a big-endian memory map, such as nibabel's dataobj of a big-endian NIfTI)
    a = np.asfortranarray(rng.normal(1000, 3, (64, 48, 20, 6)).astype(dtype))
    view = a[::2, ..., ::-1]
    assert not (view.flags.c_contiguous or view.flags.f_contiguous)
    mview = None
    if masked:
        mview = np.asfortranarray(a > 1000)[::2, ..., ::-1]
    kw = {"axis": axis, "bins": None, "percentiles": ()}
    views = lv.stats(_as_block(view), mask=None if mview is None else _as_block(mview), **kw)
    copies = [pickle.loads(pickle.dumps(b)) for b in (view, mview)]  # (a worker's blocks)
    got = lv.stats(_as_block(copies[0]), mask=None if mview is None else _as_block(copies[1]), **kw)
    assert views == dataclasses.replace(got, dtype=views.dtype)  # (a copy may be native)


def test_one_percentile_as_a_number():
    """numpy.percentile takes one q as a number; stats raised "'int' object is not iterable"."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    res = lv.stats(x, percentiles=50)
    assert res.q == (50.0,)
    np.testing.assert_array_equal(res.percentiles, [np.percentile(x, 50)])
    with pytest.raises(TypeError, match=r"percentiles must be numbers in 0\.\.100"):
        lv.stats(x, percentiles="50")


def test_strings_are_not_bin_edges_or_ranges():
    """A string is a sequence: bins="12" gave one bin from 1 to 2, range="09" the range 0..9."""
    x = np.arange(10)
    with pytest.raises(TypeError, match="bins must be"):
        lv.stats(x, bins="12")
    with pytest.raises(ValueError, match="range must be"):
        lv.stats(x, bins=4, range="09")


def test_ddof_as_numpy_takes_it():
    """A float ddof on integer data raised Fraction's TypeError after the whole pass, and a
    string only then too."""
    x = np.arange(10, dtype=np.int16)
    for ddof in (1, 1.5, -1):
        assert lv.stats(x, ddof=ddof).var == pytest.approx(np.var(x, ddof=ddof), rel=1e-15)
        assert lv.stats(x.astype(np.float32), ddof=ddof).var == pytest.approx(
            np.var(x, ddof=ddof), rel=1e-12
        )
    with pytest.raises(TypeError, match="ddof must be a number"):
        lv.stats(x, ddof="1")


def test_one_percentile_as_a_zero_d_array():
    """numpy.percentile takes a 0-d array as one q (np.percentile(x, np.array(50))); stats
    raised numpy's untyped 'iteration over a 0-d array'."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    res = lv.stats(x, percentiles=np.array(50))
    assert res.q == (50.0,)
    np.testing.assert_array_equal(res.percentiles, [np.percentile(x, np.array(50))])
    with pytest.raises(TypeError, match=r"percentiles must be numbers in 0\.\.100"):
        lv.stats(x, percentiles=np.array("50"))


def test_a_bin_count_as_a_zero_d_array():
    """numpy.histogram takes a 0-d integer array as the number of bins
    (np.histogram(x, bins=np.array(10))); stats raised Python's untyped 'len() of unsized
    object'. A 0-d float array is refused as numpy refuses it, as an OptionError."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    res = lv.stats(x, bins=np.array(5))
    np.testing.assert_array_equal(res.histogram, np.histogram(x, bins=np.array(5))[0])
    with pytest.raises(lv.OptionError, match="a number of bins or a sequence of edges"):
        lv.stats(x, bins=np.array(5.0))


@pytest.mark.parametrize(
    "kw",
    [
        {"bins": 0},
        {"bins": "12"},
        {"bins": [1, 0]},
        {"bins": ["a", "b"]},
        {"range": (5, 1)},
        {"range": ("a", 1)},
        {"percentiles": [150]},
        {"percentiles": ["x"]},
        {"ddof": "1"},
        {"axis": 5},
        {"axis": 1.5},
    ],
)
def test_argument_refusals_are_option_errors(kw):
    """lv.stats refused its arguments with bare ValueError / TypeError (or numpy's, for edges or
    a range that are not numbers): every rejection is a LazyvolError (BAD_INPUTS); still the
    ValueError or TypeError it was."""
    with pytest.raises(lv.OptionError) as exc:
        lv.stats(np.arange(24.0).reshape(2, 3, 4), **kw)
    assert isinstance(exc.value, ValueError | TypeError)


def test_bins_beyond_the_limit_are_refused_before_allocating():
    """bins=10**9 allocated the counts (8 GB a result row) and ended in a bare MemoryError; the
    CLI refused more than 10 million bins, the API took any number (edges too)."""
    from lazyvol._stats import limits

    data = np.arange(24.0).reshape(2, 3, 4)
    for bins in (limits.MAX_BINS + 1, 2**40, np.zeros(limits.MAX_BINS + 2)):
        with pytest.raises(lv.OptionError, match="10,000,000 bins"):
            lv.stats(data, bins=bins)
    assert lv.stats(data, bins=limits.MAX_BINS).count == 24


@pytest.mark.parametrize("as_mask", [False, True])
def test_a_path_given_as_data_or_mask_says_to_open_it(tmp_path, as_mask):
    # lv.stats("scan.nii") took the path as a 0-d string array: "needs integer ... data, got
    # <U..; convert the values, e.g. ....astype('float32')", advice that cannot work.
    path = write_phantom_nifti(tmp_path / "scan.nii", (6, 5, 4))
    args = (lv.open(path), {"mask": path}) if as_mask else (path, {})
    with pytest.raises(lv.DataTypeError, match=r"scan\.nii' is a path, not data.*lazyvol\.open"):
        lv.stats(args[0], **args[1])


@pytest.mark.parametrize("chunks", [None, {}, {"t": 1}])
def test_stats_of_an_xarray_image_is_read_a_chunk_at_a_time(tmp_path, monkeypatch, chunks):
    """``lv.stats(ds.image)`` of ``xr.open_dataset(path, engine="lazyvol")`` (and a mask given as
    such a DataArray) took the DataArray through ``numpy.asarray``: the whole image read into
    memory before its first chunk was reduced (a 4D series of many GiB with it), lazily indexed
    or dask-backed alike. Its dask array (or, lazily indexed, one chunked "auto") is taken now;
    the statistics equal numpy's on nibabel's values."""
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(7)
    values = rng.integers(-500, 500, size=(6, 7, 8, 3)).astype(np.int16)
    keep = rng.random((6, 7, 8)) < 0.6
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(values, affine), tmp_path / "bold.nii.gz")
    nib.save(nib.Nifti1Image(keep.astype(np.uint8), affine), tmp_path / "mask.nii.gz")

    def whole(*args, **kwargs):
        raise AssertionError("the DataArray was read whole (numpy.asarray)")

    monkeypatch.setattr(xr.DataArray, "__array__", whole)
    monkeypatch.setattr(xr.Variable, "__array__", whole)
    image = xr.open_dataset(tmp_path / "bold.nii.gz", engine="lazyvol", chunks=chunks).image
    mask = xr.open_dataset(tmp_path / "mask.nii.gz", engine="lazyvol", chunks=chunks).image
    for data in (image, image.variable):
        res = lv.stats(data, axis=(0, 1, 2), mask=mask, percentiles=(5, 50, 95))
        for t in range(3):
            want = values[..., t][keep].astype(np.float64)
            assert res[t].count == want.size
            assert res[t].sum == int(want.sum())
            assert res[t].mean == pytest.approx(want.mean(), rel=1e-12)
            np.testing.assert_array_equal(res[t].percentiles, np.percentile(want, (5, 50, 95)))


def test_a_nifti_mask_written_from_the_volume_is_on_its_grid(tmp_path):
    """A mask written with to_nifti from a volume with a float64 affine (a Zarr store here; DICOM
    alike) of 10 micron voxels 320 mm from the scanner's origin was refused as 'not on the grid
    (affine differs)': NIfTI-1 stores the affine in float32, which rounds 320.35 mm by 1.3e-5 mm,
    more than the 1e-3 of a voxel (1e-5 mm) the check allowed. The float32 rounding of each
    element is allowed now; a mask moved by a twentieth of a voxel is still refused."""
    affine = np.diag([0.01, 0.01, 0.01, 1.0])
    affine[:3, 3] = (-320.3456789, 295.123457, -160.9876543)
    values = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    lv.Volume(values, affine).to_zarr(tmp_path / "scan.zarr")
    keep = values % 3 == 0
    lv.Volume(keep.astype(np.uint8), affine).to_nifti(tmp_path / "mask.nii")
    assert nib.load(tmp_path / "mask.nii").header["sizeof_hdr"] == 348  # (NIfTI-1: float32)
    scan = lv.open(tmp_path / "scan.zarr")
    res = lv.stats(scan, mask=lv.open(tmp_path / "mask.nii"))
    assert (res.count, res.sum) == (int(keep.sum()), int(values[keep].sum()))
    moved = affine.copy()
    moved[0, 3] += 0.0005  # a twentieth of a voxel
    lv.Volume(keep.astype(np.uint8), moved).to_nifti(tmp_path / "moved.nii")
    with pytest.raises(lv.errors.GridMismatchError, match="affine"):
        lv.stats(scan, mask=lv.open(tmp_path / "moved.nii"))
