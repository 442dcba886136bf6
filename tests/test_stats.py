"""lazyvol.stats against numpy / exact arithmetic on volumes that fit in memory."""

from __future__ import annotations

import json
import math
import threading
import warnings

import dask
import dask.array as da
import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyvol as lv
from lazyvol._stats import limits
from lazyvol.testing import write_phantom_nifti

Q = (1, 5, 25, 50, 75, 95, 99)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def counted(x: np.ndarray, chunks) -> tuple[da.Array, list]:
    """Dask array over ``x`` that records every block read."""
    reads: list = []
    lock = threading.Lock()
    base = da.from_array(x, chunks=chunks)

    def read(block, block_info=None):
        with lock:
            reads.append(tuple(block_info[0]["chunk-location"]))
        return block

    return base.map_blocks(read, dtype=x.dtype), reads


def check_against_numpy(res, x, *, exact_pct=True, bins=256):
    v = x[~np.isnan(x)] if x.dtype.kind == "f" else x.ravel()
    assert res.count == v.size
    assert res.nonzero == np.count_nonzero(v)
    assert res.min == v.min() and res.max == v.max()
    if x.dtype.kind in "biu":
        assert res.sum == sum(int(a) for a in v.ravel())
        assert isinstance(res.sum, int)
    v64 = v.astype(np.float64)
    exact = math.fsum(v64) / v.size
    if x.dtype.kind in "biu":
        assert res.mean == pytest.approx(exact, rel=1e-14, abs=1e-300)
    else:
        # float data: float64 sums inside a chunk (numpy's pairwise summation), math.fsum across
        # chunks. The error bound is a few ulps of the sum of magnitudes, not of the sum itself:
        # values that cancel (a mean near 0 of values near +-100) leave a larger relative error.
        bound = 16 * np.finfo(np.float64).eps * math.fsum(np.abs(v64)) / v.size
        assert abs(res.mean - exact) <= max(bound, 1e-14 * abs(exact)), (res.mean, exact, bound)
    assert res.std == pytest.approx(np.std(v64), rel=1e-10, abs=1e-12)
    h, e = np.histogram(v, bins=bins)
    np.testing.assert_array_equal(res.bin_edges, e)
    np.testing.assert_array_equal(res.histogram, h)
    # numpy's percentile of the values as float64: numpy interpolates in the data's own dtype,
    # where integers wrap (int16 -15623 and 22123 gave a median of 36018) and float16 overflows;
    # lazyvol interpolates in float64
    p = np.percentile(v64, Q)
    if exact_pct:
        np.testing.assert_array_equal(res.percentiles, p)
        assert (res.percentile_error == 0).all()
    else:
        assert (np.abs(res.percentiles - p) <= res.percentile_error).all()


def test_int16_nifti_exact(tmp_path):
    path = write_phantom_nifti(tmp_path / "p.nii", (48, 40, 36), dtype="int16")
    x = np.asarray(nib.load(path).dataobj)
    vol = lv.open(path, chunks=(48, 40, 5))
    res = lv.stats(vol)
    check_against_numpy(res, x)
    assert res.passes == 1 and res.percentile_method == "exact"


def test_each_chunk_read_once_integers():
    x = np.random.default_rng(1).integers(-500, 3000, size=(20, 16, 30), dtype=np.int32)
    arr, reads = counted(x, (20, 16, 4))
    res = lv.stats(lv.Volume(arr), mask=None)
    check_against_numpy(res, x)
    assert sorted(reads) == sorted(set(reads)) and len(reads) == arr.npartitions


def test_float_passes_documented():
    x = np.random.default_rng(2).normal(size=(20, 16, 30)).astype(np.float32)
    arr, reads = counted(x, (20, 16, 7))
    res = lv.stats(lv.Volume(arr))
    assert res.passes == 2 and len(reads) == 2 * arr.npartitions
    check_against_numpy(res, x, exact_pct=False)
    reads.clear()
    res1 = lv.stats(lv.Volume(arr), range=(-3, 3), bins=60)
    assert res1.passes == 1 and len(reads) == arr.npartitions
    v = x.ravel()
    h, e = np.histogram(v, bins=60, range=(-3, 3))
    np.testing.assert_array_equal(res1.histogram, h)
    np.testing.assert_array_equal(res1.bin_edges, e)
    assert res1.under == np.count_nonzero(v < -3) and res1.over == np.count_nonzero(v > 3)
    # percentiles in the tails lie outside the range: still bounded, by min..range edge
    p = np.percentile(v, Q)
    assert (np.abs(res1.percentiles - p) <= res1.percentile_error).all()


def test_uint16_sum_overflow_trap():
    x = np.full((256, 256, 80), 65000, dtype=np.uint16)
    x[::7] = 65535
    exact = int(np.sum(x, dtype=np.uint64))
    assert exact > 2**32  # a 32-bit accumulator would wrap
    assert int(np.sum(x, dtype=np.uint32)) != exact
    assert float(np.sum(x, dtype=np.float32)) != exact  # and float32 would round
    res = lv.stats(lv.Volume(da.from_array(x, chunks=(256, 256, 9))))
    assert res.sum == exact and isinstance(res.sum, int)
    assert res.mean == exact / x.size
    assert res.std == pytest.approx(np.std(x.astype(np.float64)), rel=1e-12)


def test_float32_accumulation_drift():
    rng = np.random.default_rng(3)
    n = 2**21  # 2 M voxels
    x = (1000.0 + rng.normal(0, 0.1, size=n)).astype(np.float32).reshape(128, 128, 128)
    exact_mean = math.fsum(x.astype(np.float64).ravel()) / n
    naive = np.cumsum(x.ravel(), dtype=np.float32)[-1] / np.float32(n)  # running float32 sum
    assert abs(float(naive) - exact_mean) > 1e-3  # the trap is real
    res = lv.stats(lv.Volume(da.from_array(x, chunks=(128, 128, 16))), bins=64)
    assert res.mean == pytest.approx(exact_mean, rel=1e-15)
    ref_std = float(np.sqrt(np.mean((x.astype(np.float64) - exact_mean) ** 2)))
    assert res.std == pytest.approx(ref_std, rel=1e-9)
    assert res.sum == pytest.approx(math.fsum(x.astype(np.float64).ravel()), rel=1e-15)


def test_nan_and_exact_percentiles():
    rng = np.random.default_rng(4)
    x = rng.gamma(2.0, 50.0, size=(30, 20, 25)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[0, 0, :3] = 0
    vol = lv.Volume(da.from_array(x, chunks=(30, 20, 6)))
    res = lv.stats(vol, bins=50)
    assert res.nan_count == np.count_nonzero(np.isnan(x))
    check_against_numpy(res, x, exact_pct=False, bins=50)
    exact = lv.stats(vol, bins=50, exact_percentiles=True)
    assert exact.percentile_method == "exact" and exact.passes >= 3
    np.testing.assert_array_equal(exact.percentiles, np.nanpercentile(x.astype(np.float64), Q))


def test_exact_percentiles_refine_big_bins(monkeypatch):
    # Force sub-binning: bins with more values than the collect limit are split again.
    monkeypatch.setattr(limits, "EXACT_COLLECT_LIMIT", 50)
    x = np.random.default_rng(5).normal(size=(20, 20, 20))
    res = lv.stats(lv.Volume(da.from_array(x, chunks=(20, 20, 3))), bins=4, exact_percentiles=True)
    np.testing.assert_array_equal(res.percentiles, np.percentile(x, Q))
    assert res.passes >= 4


def test_mask_same_grid(tmp_path):
    path = write_phantom_nifti(tmp_path / "img.nii.gz", (40, 36, 30), dtype="int16")
    x = np.asarray(nib.load(path).dataobj)
    m = (x > 500).astype(np.uint8)
    aff = nib.load(path).affine
    mpath = tmp_path / "mask.nii"
    nib.save(nib.Nifti1Image(m, aff), mpath)
    res = lv.stats(lv.open(path), mask=lv.open(mpath))
    check_against_numpy(res, x[m.astype(bool)])


def test_mask_other_grid(tmp_path):
    vol = lv.Volume(np.zeros((10, 12, 14), dtype="int16"), np.diag([2.0, 2.0, 2.0, 1.0]))
    other = lv.Volume(np.ones((10, 12, 13), dtype="uint8"), np.diag([2.0, 2.0, 2.0, 1.0]))
    with pytest.raises(lv.GridMismatchError) as ei:
        lv.stats(vol, mask=other)
    msg = str(ei.value)
    assert "(10, 12, 14)" in msg and "(10, 12, 13)" in msg and "affine" in msg
    shifted = lv.Volume(np.ones((10, 12, 14), dtype="uint8"), np.diag([2.0, 2.0, 2.5, 1.0]))
    with pytest.raises(lv.GridMismatchError, match="affine differs"):
        lv.stats(vol, mask=shifted)
    assert isinstance(ei.value, lv.LazyvolError) and isinstance(ei.value, ValueError)


def test_mask_saved_as_one_volume_of_a_4d_image(tmp_path):
    """A mask written as a 4D image of one volume (X, Y, Z, 1) was refused as "not on the grid"
    of a 4D series (and of a 3D volume) on the same grid; it is the 3D mask."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7, 5, 3)).astype(np.float32)
    m = rng.random((6, 7, 5)) < 0.5
    mpath = tmp_path / "mask4d.nii"
    nib.save(nib.Nifti1Image(m[..., None].astype(np.uint8), np.eye(4)), mpath)
    mask = lv.open(mpath)
    assert mask.shape == (6, 7, 5, 1)
    series = lv.Volume(x, np.eye(4))
    res = lv.stats(series, mask=mask, axis=(0, 1, 2))
    np.testing.assert_array_equal(res.count, [m.sum()] * 3)
    np.testing.assert_allclose(res.mean, [x[..., t][m].mean() for t in range(3)], rtol=1e-6)
    assert lv.stats(lv.Volume(x[..., 0], np.eye(4)), mask=mask).count == m.sum()
    two = lv.Volume(np.stack([m, m], axis=-1))  # two volumes: not one mask for every volume
    with pytest.raises(lv.GridMismatchError):
        lv.stats(series, mask=two)


def test_a_3d_mask_of_a_long_series_is_not_held_once_per_volume(monkeypatch):
    """A 3D mask of a 4D series was broadcast and rechunked in dask: every volume's block had a
    4D mask block of its own, made by cheap tasks that ran ahead of the reads and were held until
    their data block came, so memory grew with the number of volumes (+444 MiB for a 768 MiB
    int16 series of 128 chunks, +36 MiB without the mask). The block tasks now get the 3D mask's
    block, one object shared by every volume, and broadcast it as a view."""
    from lazyvol._stats import passes

    got = []

    def recording(block, mblock, spec):
        got.append(mblock)
        return passes.block_stats.__wrapped__(block, mblock, spec)

    recording.__wrapped__ = passes.block_stats  # type: ignore[attr-defined]
    monkeypatch.setattr(passes, "block_stats", recording)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5, 4, 12)).astype(np.float32)
    mask = rng.random((6, 5, 4)) < 0.5
    with dask.config.set(scheduler="threads"):
        res = lv.stats(da.from_array(x, chunks=(6, 5, 4, 1)), mask=mask, axis=(0, 1, 2))
    np.testing.assert_array_equal(res.count, [mask.sum()] * 12)
    np.testing.assert_allclose(res.mean, [x[..., t][mask].mean() for t in range(12)], rtol=1e-6)
    assert len(got) == 12 and all(m.shape == mask.shape for m in got)
    assert len({id(m) for m in got}) == 1  # one mask block, not one a volume


def test_empty_mask():
    """A mask that selects nothing gives count 0 and NaN / None statistics, as numpy's mean of
    an empty selection, and says so (it was silent: lazyvol stats exited 0 with count 0)."""
    vol = lv.Volume(np.arange(60, dtype="float32").reshape(3, 4, 5))
    with pytest.warns(RuntimeWarning, match="the mask selects no voxel"):
        res = lv.stats(vol, mask=lv.Volume(np.zeros((3, 4, 5), dtype=bool)))
    assert res.count == 0 and math.isnan(res.mean) and res.min is None
    json.dumps(res.to_dict())
    nan = lv.Volume(np.full((3, 4, 5), np.nan, dtype="float32"))  # selected, all NaN: no note
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lv.stats(nan, mask=lv.Volume(np.ones((3, 4, 5), dtype=bool))).nan_count == 60


def test_axis_per_time_point_4d(tmp_path):
    path = write_phantom_nifti(tmp_path / "f.nii", (24, 20, 16, 5), dtype="int16")
    x = np.asarray(nib.load(path).dataobj)
    mask3 = np.zeros(x.shape[:3], dtype=np.uint8)
    mask3[4:20, 3:15, 2:12] = 1
    vol = lv.open(path)
    res = lv.stats(vol, axis=(0, 1, 2), mask=lv.Volume(mask3, vol.affine))
    assert res.shape == (5,)
    sel = x[mask3.astype(bool)]  # (n_in_mask, t)
    np.testing.assert_array_equal(res.count, [sel.shape[0]] * 5)
    np.testing.assert_allclose(res.mean.astype(float), sel.mean(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(res.percentiles, np.percentile(sel, Q, axis=0).T)
    for t in range(5):
        one = res[t]
        assert one.sum == int(sel[:, t].astype(np.int64).sum())
        assert one.min == sel[:, t].min() and one.max == sel[:, t].max()
        h, _ = np.histogram(sel[:, t], bins=256, range=(sel.min(), sel.max()))
        np.testing.assert_array_equal(one.histogram, h)
    json.dumps(res.to_dict())


def test_axis_rows_spanning_chunks_float():
    # Per-slice statistics where each chunk holds several slices (k-chunk 4).
    x = np.random.default_rng(6).normal(size=(12, 10, 11))
    res = lv.stats(
        lv.Volume(da.from_array(x, chunks=(6, 10, 4))), axis=(0, 1), exact_percentiles=True
    )
    assert res.shape == (11,)
    np.testing.assert_allclose(res.mean, x.mean(axis=(0, 1)), rtol=1e-13)
    np.testing.assert_allclose(res.std, x.std(axis=(0, 1)), rtol=1e-12)
    np.testing.assert_array_equal(res.max, x.max(axis=(0, 1)))
    np.testing.assert_array_equal(res.percentiles, np.percentile(x, Q, axis=(0, 1)).T)


def test_wide_int_span_falls_back_exactly():
    rng = np.random.default_rng(7)
    x = rng.integers(-(2**40), 2**40, size=(16, 16, 20), dtype=np.int64)
    x[0, 0, 0] = 2**62
    x[1, 0, 0] = 2**62 + 12345
    res = lv.stats(lv.Volume(da.from_array(x, chunks=(16, 16, 3))), bins=32, exact_percentiles=True)
    assert res.sum == sum(int(a) for a in x.ravel())
    assert res.min == int(x.min()) and res.max == int(x.max())
    h, e = np.histogram(x, bins=32)
    np.testing.assert_array_equal(res.histogram, h)
    np.testing.assert_array_equal(res.bin_edges, e)
    np.testing.assert_array_equal(res.percentiles, np.percentile(x, Q))


def test_axis_mixed_counts_and_moments_rows():
    # Per-volume statistics where one volume's integers fit exact value counts and the other's span
    # too wide: the groups' partials differ in kind and must still be assembled (this crashed).
    rng = np.random.default_rng(11)
    x = np.empty((6, 5, 4, 2), dtype=np.int64)
    x[..., 0] = rng.integers(-50, 50, size=(6, 5, 4))
    x[..., 1] = rng.integers(-(2**40), 2**40, size=(6, 5, 4))
    vol = lv.Volume(da.from_array(x, chunks=(6, 5, 2, 1)))
    res = lv.stats(vol, axis=(0, 1, 2), bins=8, exact_percentiles=True)
    assert res.shape == (2,)
    for t in range(2):
        v = x[..., t].ravel()
        one = res[t]
        assert one.sum == sum(int(a) for a in v) and isinstance(one.sum, int)
        assert one.min == int(v.min()) and one.max == int(v.max())
        assert one.count == v.size
        assert one.mean == pytest.approx(float(sum(int(a) for a in v)) / v.size, rel=1e-15)
        # Every row shares the bin edges of the whole data's range.
        h, _ = np.histogram(v, bins=np.histogram_bin_edges(x, bins=8))
        np.testing.assert_array_equal(one.histogram, h)
        np.testing.assert_array_equal(one.percentiles, np.percentile(v, Q))


def test_wide_int_sum_exact_with_fully_masked_chunk():
    # A chunk with no voxel inside the mask must not turn the exact integer sum into a float.
    x = (np.arange(4 * 4 * 4, dtype=np.int64).reshape(4, 4, 4) + 1) * 10**12 + 1
    m = np.ones(x.shape, dtype=np.uint8)
    m[:, :, 0] = 0
    res = lv.stats(
        lv.Volume(da.from_array(x, chunks=(4, 4, 1))),
        mask=lv.Volume(da.from_array(m, chunks=(4, 4, 1))),
        bins=None,
    )
    v = x[m.astype(bool)]
    assert isinstance(res.sum, int) and res.sum == sum(int(a) for a in v)
    assert res.count == v.size


def test_grid_mismatch_leaves_numpy_print_options_alone():
    before = np.get_printoptions()
    vol = lv.Volume(np.zeros((4, 4, 4), dtype="int16"), np.diag([1.0, 1.0, 1.0, 1.0]))
    other = lv.Volume(np.ones((4, 4, 4), dtype="uint8"), np.diag([1.0, 1.0, 1.123456789, 1.0]))
    with pytest.raises(lv.GridMismatchError, match=r"1\.123457"):
        lv.stats(vol, mask=other)
    assert np.get_printoptions() == before


def test_bool_and_int8():
    rng = np.random.default_rng(8)
    b = rng.random((10, 10, 10)) < 0.3
    res = lv.stats(lv.Volume(da.from_array(b, chunks=(10, 10, 3))), bins=2)
    assert res.sum == int(b.sum()) and res.nonzero == int(b.sum()) and res.count == 1000
    i8 = rng.integers(-128, 128, size=(9, 8, 7), dtype=np.int8)
    check_against_numpy(lv.stats(lv.Volume(da.from_array(i8, chunks=(9, 8, 2)))), i8)


def test_to_dict_json():
    x = np.random.default_rng(9).integers(0, 100, size=(5, 6, 7), dtype=np.uint8)
    d = json.loads(json.dumps(lv.stats(lv.Volume(x), bins=10).to_dict()))
    assert d["count"] == 210 and d["sum"] == int(x.sum())
    assert d["histogram"]["counts"] == np.histogram(x, 10)[0].tolist()
    assert d["percentiles"]["values"] == np.percentile(x, Q).tolist()
    assert d["percentiles"]["method"] == "exact"


def test_bad_arguments():
    vol = lv.Volume(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="percentiles"):
        lv.stats(vol, percentiles=(101,))
    with pytest.raises(ValueError, match="bins"):
        lv.stats(vol, bins=0)
    with pytest.raises(lv.DataTypeError, match=r"complex128; take a real quantity.*abs\(") as exc:
        lv.stats(lv.Volume(np.zeros((2, 3, 4), dtype=complex)))
    assert isinstance(exc.value, TypeError)  # (a TypeError before it was a lazyvol error)
    for values, dtype in ((np.ones((2, 2, 2), dtype=object), "object"), ([[["a", "b"]]], "<U1")):
        with pytest.raises(lv.DataTypeError, match=f"got {dtype}"):  # (objects: dask's error)
            lv.stats(values)


def test_rgb_data_is_a_typed_error_naming_the_channels(tmp_path):
    """RGB NIfTI (nibabel's RGB24): no statistics of a structured dtype, but a DataTypeError
    naming the file, the channels and how to get per-channel numbers."""
    rgb = np.zeros((4, 5, 6), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["G"] = 9
    path = tmp_path / "rgb.nii"
    nib.Nifti1Image(rgb, np.eye(4)).to_filename(path)
    vol = lv.open(path)
    with pytest.raises(
        lv.DataTypeError, match=r"rgb\.nii: .*one channel \(R, G, B\).*every channel"
    ):
        lv.stats(vol)
    green = lv.stats(lv.Volume(vol.data["G"], vol.affine))  # the fix the message gives
    assert (green.min, green.max, green.count) == (9, 9, rgb.size)


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "int16", "uint16", "int32", "float32", "float64"]),
    shape=st.tuples(st.integers(1, 7), st.integers(1, 6), st.integers(1, 9)),
    chunk=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_property_matches_numpy(dtype, shape, chunk, seed):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x = (rng.normal(size=shape) * 100).astype(dt)
    else:
        info = np.iinfo(dt)
        x = rng.integers(max(info.min, -70000), min(info.max, 70000), size=shape, endpoint=True)
        x = x.astype(dt)
    vol = lv.Volume(da.from_array(x, chunks=(shape[0], chunk, chunk)))
    res = lv.stats(vol, bins=17, exact_percentiles=True)
    check_against_numpy(res, x, bins=17)


def test_stats_name_is_the_function_not_a_module():
    import importlib.util
    import sys

    assert callable(lv.stats) and lv.stats.__name__ == "stats"
    assert "lazyvol.stats" not in sys.modules
    assert importlib.util.find_spec("lazyvol.stats") is None  # no module shadows the function


@pytest.mark.parametrize(
    "values",
    [
        np.full((4, 4, 4), 3e38, np.float32),  # a constant numpy cannot pad by +-0.5
        np.array([[[1e308, -1e308, 0.0]]]),  # a span that overflows float64
        np.full((4, 4, 4), 2**64 - 1, np.uint64),  # counts past int64's top
        np.full((2, 2, 2), np.finfo(np.float64).max),  # padding a constant must stay finite
    ],
    ids=["float32-3e38", "float64-1e308", "uint64-max", "float64-max"],
)
def test_extreme_values_give_statistics_not_numpy_errors(values):
    """numpy's histogram refuses these ranges ("Too many bins for data range") and uint64 counts
    overflowed int64: the statistics come out, the histogram holding every value."""
    res = lv.stats(lv.Volume(values))
    assert res.count == values.size
    assert res.min == values.min() and res.max == values.max()
    assert int(res.histogram.sum()) == values.size
    assert np.isfinite(res.bin_edges).all()


@pytest.mark.parametrize(
    ("values", "rng"),
    [
        (np.array([-1.0, 0.0, 1e300]), (-1e308, 1e308)),  # a span that overflows float64
        (np.array([1e17, 1e17 + 32, 1e17 + 64]), (1e17, 1e17 + 64)),  # too fine for float64
        (np.array([1e10, 1e10 + 50], np.float32), (1e10, 1e10 + 100)),  # too fine for float32
    ],
    ids=["overflowing-span", "fine-float64", "fine-float32"],
)
@pytest.mark.parametrize("bins", [7, 16, 100])
def test_a_range_numpy_cannot_split_gives_even_finite_bins(values, rng, bins):
    """numpy refuses these ranges ("Too many bins for data range"); they are split into the
    same even bins, as explicit float64 edges (never decreasing, though rounding in a range finer
    than float64 made some fall), and every value is counted."""
    res = lv.stats(lv.Volume(values.reshape(1, 1, -1)), bins=bins, range=rng)
    assert np.isfinite(res.bin_edges).all() and len(res.bin_edges) == bins + 1
    assert np.all(np.diff(res.bin_edges) >= 0)
    assert res.bin_edges[0] == rng[0] and res.bin_edges[-1] == rng[1]
    assert int(res.histogram.sum()) == values.size


def test_a_boolean_volume_with_a_range_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = lv.stats(lv.Volume(np.ones((2, 2, 2), bool)), bins=4, range=(0, 1))
    assert res.count == 8 and int(res.histogram.sum()) == 8


@pytest.mark.parametrize(
    ("offset", "sd", "chunks"), [(1e9, 1e-4, (4, 4, 4)), (1e12, 1e-2, (2, 2, 2)), (-1e9, 1, 3)]
)
def test_std_of_small_noise_on_a_large_offset(offset, sd, chunks):
    """Chunk means merged as float64 lost their last bits: 1e9 + noise of sd 1e-4 gave a std off
    by 2.8e-5 (numpy's two-pass: 3e-8). Reference: exact rational arithmetic."""
    from fractions import Fraction

    x = offset + np.random.default_rng(1).normal(size=(16, 16, 16)) * sd
    fr = [Fraction(v) for v in x.ravel().tolist()]
    mean = sum(fr) / len(fr)
    var = sum((v - mean) ** 2 for v in fr) / len(fr)
    res = lv.stats(lv.Volume(da.from_array(x, chunks=chunks)), bins=None, percentiles=())
    assert res.var == pytest.approx(float(var), rel=1e-12, abs=0)
    assert res.mean == pytest.approx(float(mean), rel=1e-15)


@pytest.mark.parametrize("exact", [False, True])
def test_per_voxel_value_counts_stay_within_their_budget(monkeypatch, exact):
    """Per-voxel statistics of int16 data (axis=3: one output row per voxel) kept value counts of
    rows x the chunk's span of values (6 MiB of data took 2 GiB); past limits.MAX_COUNT_CELLS
    (lowered here) the rows go the moments way. Every counts partial a block, a merge or the
    assembly makes is checked against the budget; the statistics against numpy's."""
    from lazyvol._stats import passes

    budget = 400
    monkeypatch.setattr(limits, "MAX_COUNT_CELLS", budget, raising=False)
    cells: list[int] = []

    def spy(fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            if isinstance(out, lv._stats.parts.CountsPart):
                cells.append(out.counts.size)
            return out

        return wrapped

    for name in ("block_stats", "merge_parts", "assemble_stats"):
        monkeypatch.setattr(passes, name, spy(getattr(passes, name)))
    rng = np.random.default_rng(12)
    x = rng.integers(0, 4096, size=(6, 5, 4, 12), dtype=np.int16)
    x[:3, :, :2] %= 4  # the rows of some chunks narrow enough to count
    res = lv.stats(
        lv.Volume(da.from_array(x, chunks=(3, 5, 2, 6))), axis=3, exact_percentiles=exact
    )
    assert cells and max(cells) <= budget
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(res.min.astype(int), x.min(axis=3))
    np.testing.assert_array_equal(res.max.astype(int), x.max(axis=3))
    np.testing.assert_array_equal(res.sum.astype(int), x.sum(axis=3, dtype=np.int64))
    np.testing.assert_allclose(res.mean, x64.mean(axis=3), rtol=1e-15)
    np.testing.assert_allclose(res.std, x64.std(axis=3), rtol=1e-12)
    want = np.moveaxis(np.percentile(x64, Q, axis=3), 0, -1)
    if exact:
        np.testing.assert_array_equal(res.percentiles, want)
    else:
        assert (np.abs(res.percentiles - want) <= res.percentile_error).all()
