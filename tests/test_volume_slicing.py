"""Volume slicing and the direct (no-graph) reads against numpy and nibabel."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


@pytest.fixture
def nifti(tmp_path):
    """A small float32 NIfTI of known values: (path, values)."""
    values = np.arange(4 * 5 * 6, dtype="float32").reshape(4, 5, 6)
    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(values, np.eye(4)), path)
    return str(path), values


def test_assignment_into_data_is_seen_by_compute_and_writers(nifti, tmp_path):
    """``vol.data[...] = x`` (dask's in-place assignment) changes what every path reads: the
    direct read, a cut, ``np.asarray`` and ``to_nifti`` used to read the file's values again."""
    path, values = nifti
    vol = lv.open(path)
    vol.data[0, 0, 0] = -7.0
    want = values.copy()
    want[0, 0, 0] = -7.0
    np.testing.assert_array_equal(vol.data.compute(), want)
    np.testing.assert_array_equal(vol.compute(), want)
    np.testing.assert_array_equal(np.asarray(vol), want)
    np.testing.assert_array_equal(vol[0:2, 0:2, 0:1].compute(), want[0:2, 0:2, 0:1])
    out = tmp_path / "out.nii"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol.to_nifti(out)
    np.testing.assert_array_equal(nib.load(out).get_fdata(), want)


def test_volume_built_on_an_array_assigned_into_later(nifti):
    """``lv.Volume(vol.data, ...)`` shares ``vol``'s dask array: an assignment into it afterwards
    is seen by the new volume's direct reads and cuts too, as by its ``.data``."""
    path, values = nifti
    vol = lv.open(path)
    built = lv.Volume(vol.data, vol.affine, meta=vol.meta)
    cut_from = lv.Volume(vol.data, vol.affine, meta=vol.meta)
    vol.data[1, 2, 3] = -7.0
    want = values.copy()
    want[1, 2, 3] = -7.0
    np.testing.assert_array_equal(built.compute(), want)
    np.testing.assert_array_equal(cut_from[1:3, 2:4, 3:5].compute(), want[1:3, 2:4, 3:5])
    np.testing.assert_array_equal(built.data.compute(), want)


def _random_slice(rng: np.random.Generator, n: int) -> slice:
    """A slice with starts/stops past either end, negative values and steps beyond the size."""
    ends = range(-n - 2, n + 3)
    start, stop = (None if rng.random() < 0.4 else ends[rng.integers(len(ends))] for _ in "ab")
    steps = [None, 1, 2, 3, -1, -2, -3, n + 2, -(n + 2)]
    return slice(start, stop, steps[rng.integers(len(steps))])


def _random_index(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple:
    """Slices on the spatial axes, slices or integers after them, sometimes an Ellipsis."""
    index: list = [
        _random_slice(rng, n) if axis < 3 or rng.random() < 0.7 else int(rng.integers(-n, n))
        for axis, n in enumerate(shape)
    ]
    if rng.random() < 0.2:
        index = [*index[: int(rng.integers(1, len(index)))], Ellipsis]
    return tuple(index)


def _sources(tmp_path) -> dict[str, tuple[str, dict, np.ndarray]]:
    """Small sources of known values: ``name -> (path, open options, values)``."""
    from lazyvol.testing import write_dicom_series

    aff = np.array([[0, -1.5, 0.1, 10], [2, 0, 0, -5], [0, 0.2, 3, 7], [0, 0, 0, 1.0]])
    values = np.random.default_rng(0).integers(-300, 300, (7, 6, 5, 3)).astype("int16")
    img = nib.Nifti1Image(values.astype(">i2"), aff)
    img.header.set_slope_inter(0.5, 3.0)
    nib.save(img, tmp_path / "be.nii.gz")
    nib.save(nib.Nifti1Image(values, aff), tmp_path / "plain.nii")
    truth = write_dicom_series(tmp_path / "dcm", (7, 6, 5), orientation="oblique")
    lv.Volume(values, aff).to_zarr(tmp_path / "s.zarr", chunks=(2, 2, 2, 1), shards=True)
    return {
        "nii": (str(tmp_path / "plain.nii"), {"chunks": (3, 4, 2, 2)}, values),
        "nii.gz": (str(tmp_path / "be.nii.gz"), {"chunks": (7, 6, 2, 1)}, values * 0.5 + 3.0),
        "dicom": (str(tmp_path / "dcm"), {"chunks": (3, 6, 2)}, truth.stored),
        "zarr": (str(tmp_path / "s.zarr"), {}, values),
    }


@pytest.mark.parametrize("kind", ["nii", "nii.gz", "dicom", "zarr"])
def test_cuts_match_numpy_direct_and_through_dask(tmp_path, kind):
    """Random cuts (steps past the size, negative steps and starts, Ellipsis, integers on the
    4th axis) and cuts of cuts give numpy's values through the direct read and through dask,
    in the same dtype, with the affine of the first voxel kept and the steps taken."""
    path, options, values = _sources(tmp_path)[kind]
    vol = lv.open(path, **options)
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(200):
        index = _random_index(rng, vol.shape)
        want = values[index]
        if want.size == 0:
            with pytest.raises(IndexError):
                vol[index]
            continue
        cut = vol[index]
        direct, through_dask = cut.compute(), cut.data.compute()
        np.testing.assert_array_equal(direct, want, err_msg=str(index))
        np.testing.assert_array_equal(through_dask, want, err_msg=str(index))
        assert direct.dtype == through_dask.dtype == cut.dtype == vol.dtype
        canon = lv.geometry.canonical_index(index, vol.shape)
        first = [item.start for item in canon[:3]]
        expected = vol.affine.copy()
        expected[:3, :3] = vol.affine[:3, :3] * [item.step for item in canon[:3]]
        expected[:3, 3] = vol.affine[:3, :3] @ first + vol.affine[:3, 3]
        np.testing.assert_allclose(cut.affine, expected, atol=1e-9, err_msg=str(index))
        again = _random_index(rng, cut.shape)
        if want[again].size:
            np.testing.assert_array_equal(cut[again].compute(), want[again], err_msg=str(again))
        checked += 1
    assert checked > 30


def test_a_pickled_volume_keeps_its_direct_reads_and_its_assignments(nifti, monkeypatch):
    """A pickle holds a dask array's graph, not the reader's plan it carries: a volume whose
    ``.data`` had been used came back reading every block through dask (its plan's cached array
    then read as assigned into). It now comes back with its plan; an assigned array keeps its
    values."""
    import pickle

    import dask.array as da

    path, values = nifti
    used = lv.open(path)
    used.data.sum()  # (.data used, not assigned into)
    planned = lv.open(path)
    planned._arr.to_dask()  # (the plan's dask array made, e.g. by a cut through dask)
    assigned = lv.open(path)
    assigned.data[0, 0, 0] = -7.0
    clones = [pickle.loads(pickle.dumps(v)) for v in (used, planned, assigned)]
    want = values.copy()
    want[0, 0, 0] = -7.0
    np.testing.assert_array_equal(clones[2].compute(), want)

    def no_dask(*args, **kwargs):
        raise AssertionError("read through dask")

    monkeypatch.setattr(da.Array, "compute", no_dask)
    monkeypatch.setattr(da.Array, "__array__", no_dask)
    for clone in clones[:2]:
        np.testing.assert_array_equal(clone.compute(), values)
        np.testing.assert_array_equal(clone[1:3, 0:2, 2:5].compute(), values[1:3, 0:2, 2:5])


def test_a_volume_over_a_dask_array_of_unknown_chunk_sizes_is_refused_at_construction() -> None:
    # A boolean-mask selection has NaN chunk sizes: Volume(...) gave a bare numpy ValueError
    # ("cannot convert float NaN to integer") at .shape, far from its cause.
    import dask.array as da

    x = da.arange(64, chunks=8)
    unknown = x[x >= 0]  # (its length is known only once computed)
    cube = da.stack([unknown, unknown, unknown], axis=1)[:, :, None]
    assert any(n != n for n in cube.shape)
    with pytest.raises(lv.OptionError, match=r"compute_chunk_sizes\(\)"):
        lv.Volume(cube, np.eye(4))
    known = cube.compute_chunk_sizes()
    assert lv.Volume(known, np.eye(4)).shape == (64, 3, 1)
    with pytest.raises(ValueError, match="at least 3 axes"):  # (OptionError is a ValueError)
        lv.Volume(x, np.eye(4))


def test_the_data_setter_checks_its_array_as_the_constructor_does() -> None:
    # vol.data = ... took any object: a dask array of unknown chunk sizes failed later with
    # numpy's bare 'cannot convert float NaN to integer' at .shape, a 2-axis array with a bare
    # IndexError at slicing, a numpy array with AttributeError at .chunks and .compute().
    import dask.array as da

    vol = lv.Volume(np.arange(60, dtype="int16").reshape(3, 4, 5), np.eye(4))
    x = da.arange(64, chunks=8)
    unknown = da.stack([x[x >= 0]] * 3, axis=1)[:, :, None]
    with pytest.raises(lv.OptionError, match=r"compute_chunk_sizes\(\)"):
        vol.data = unknown
    with pytest.raises(lv.OptionError, match="at least 3 axes"):
        vol.data = da.zeros((5, 4))
    assert vol.shape == (3, 4, 5)  # (unchanged by a refused assignment)
    values = np.arange(24, dtype="float32").reshape(2, 3, 4)
    vol.data = values
    assert vol.chunks == ((2,), (3,), (4,))
    np.testing.assert_array_equal(vol.compute(), values)
    np.testing.assert_array_equal(vol[:, 1:2].compute(), values[:, 1:2])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_volume_with_a_non_finite_affine_is_refused_at_construction(bad: float) -> None:
    # Accepted before: its repr, orientation and to_xarray raised numpy's bare LinAlgError
    # 'SVD did not converge' (every reader refuses such a file; the writers refuse it, typed).
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[1, 3] = bad
    with pytest.raises(lv.OptionError, match=r"affine\[1, 3\]"):
        lv.Volume(np.zeros((2, 3, 4), "int16"), affine)
    assert lv.Volume(np.zeros((2, 3, 4), "int16"), np.diag([1e300, 1e-300, 3.0, 1.0])).shape


@pytest.mark.parametrize(
    "affine",
    [[["a"] * 4] * 4, np.eye(4) * (1 + 2j), [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0]]],
    ids=["text", "complex", "ragged"],
)
def test_an_affine_of_no_real_numbers_is_an_option_error(affine) -> None:
    # Text or ragged entries gave numpy's bare ValueError; a complex matrix was accepted with its
    # imaginary parts dropped (only a ComplexWarning).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(lv.OptionError, match="affine must be a 4x4 matrix of real numbers"):
            lv.Volume(np.zeros((2, 3, 4), "int16"), affine)


def test_an_array_of_python_objects_is_an_option_error() -> None:
    # dask's bare NotImplementedError ('Can not use auto rechunking with object dtype').
    with pytest.raises(lv.OptionError, match="dtype object"):
        lv.Volume(np.empty((2, 3, 4), object))
    vol = lv.Volume(np.zeros((2, 3, 4), "int16"))
    with pytest.raises(lv.OptionError, match="dtype object"):
        vol.data = np.empty((2, 3, 4), object)


_WHOLE_BOX_CUTS = [
    (Ellipsis, 2),  # one volume of a 4D series
    (slice(None), slice(None), slice(1, 2), -1),  # one slice of one volume
    (slice(None, None, -1), Ellipsis),  # a flip
    (slice(3, 0, -1), slice(None), slice(None, None, -1), slice(1, 3)),
    (slice(None), slice(None), slice(None), slice(None, None, -1)),  # volumes in reverse
]


@pytest.mark.parametrize("index", _WHOLE_BOX_CUTS)
def test_integer_and_reversed_cuts_are_read_directly(tmp_path, monkeypatch, index):
    # vol[..., t] and flips went through a dask graph (and imported dask.array: ~0.4 s and more in
    # a fresh process, 10x the read) though they read exactly a box of the file, as a plain box
    # cut does directly (issue 15). Same values, dtype and chunks as through dask.
    from lazyvol.chunking import PlanArray

    values = np.random.default_rng(3).integers(-900, 900, (5, 4, 3, 4)).astype(">i2")
    img = nib.Nifti1Image(values, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(0.5, 3.0)
    nib.save(img, tmp_path / "v.nii.gz")
    want = values[index] * 0.5 + 3.0
    vol = lv.open(tmp_path / "v.nii.gz", chunks=(5, 2, 1, 1))

    def no_dask(self):
        raise AssertionError("a dask graph was built")

    with monkeypatch.context() as m:
        m.setattr(PlanArray, "to_dask", no_dask)
        cut = vol[index]
        direct = cut.compute()
        again = cut[::-1, 1:][:, :, -1:].compute()  # (a cut of the cut: still direct)
        copied = __import__("pickle").loads(__import__("pickle").dumps(cut)).compute()
    np.testing.assert_array_equal(direct, want)
    np.testing.assert_array_equal(again, want[::-1, 1:][:, :, -1:])
    np.testing.assert_array_equal(copied, want)
    through_dask = vol.data[index]
    assert direct.dtype == cut.dtype == through_dask.dtype == cut.data.compute().dtype
    assert cut.chunks == through_dask.chunks
    np.testing.assert_array_equal(cut.data.compute(), want)
    first = (0,) * cut.ndim
    cut.data[first] = 7  # (an assignment into the cut's dask array is what it gives then)
    assert cut.compute()[first] == 7


@pytest.mark.parametrize("index", _WHOLE_BOX_CUTS)
def test_a_direct_cut_is_not_reached_by_a_later_assignment_into_its_source(tmp_path, index):
    # A cut taking the whole box held the source volume's dask array (``vol.data``, once made):
    # an assignment into that array after the cut then reached the cut's .data (not its
    # compute()), where dask's cut, made before the assignment, keeps the file's values.
    values = np.arange(5 * 4 * 3 * 4, dtype="int16").reshape(5, 4, 3, 4)
    nib.save(nib.Nifti1Image(values, np.eye(4)), tmp_path / "v.nii")
    for used_before in (False, True):
        vol = lv.open(tmp_path / "v.nii")
        if used_before:
            vol.data  # noqa: B018 (.data made before the cut)
        cut = vol[index]
        vol.data[0, 0, 0] = 999  # (after the cut)
        np.testing.assert_array_equal(cut.data.compute(), values[index])
        np.testing.assert_array_equal(cut.compute(), values[index])


@pytest.mark.parametrize("index", [(slice(None, None, -1),), (..., slice(None, None, -1))])
def test_a_reversed_cut_is_read_without_a_second_copy_of_the_volume(tmp_path, monkeypatch, index):
    # vol[::-1].compute() read the volume into one array and copied its reversed view: twice the
    # volume's size at the peak (a 4 GiB volume needed 8 GiB; dask's cut holds ~1.2x).
    import tracemalloc

    values = np.ones((128, 128, 64, 8), dtype="int16")
    values[0, 0, 0, 0] = 5
    nib.save(nib.Nifti1Image(values, np.eye(4)), tmp_path / "v.nii")
    vol = lv.open(tmp_path / "v.nii")
    # (pieces of 1 MiB, as a volume of GiBs is reversed in pieces of 16 MiB)
    monkeypatch.setattr("lazyvol._cut_plan._SWAP_BYTES", 1 << 20, raising=False)
    tracemalloc.start()
    try:
        got = vol[index].compute()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, values[index])
    assert peak < 1.4 * values.nbytes, peak / values.nbytes


@pytest.mark.parametrize("again", [(slice(None, None, -1),), (slice(None), slice(1, 3))])
def test_a_cut_of_a_reversed_cut_shares_no_array_with_it(tmp_path, again):
    # A cut of a CutPlan was planned on the CutPlan's own box; a plain cut of that box
    # (c[::-1] of c = vol[::-1]) was the box itself, so an assignment into its .data changed c
    # (compute, to_zarr) and every later cut of c, where dask's cuts are separate arrays.
    values = np.arange(9 * 7 * 5, dtype="int16").reshape(9, 7, 5)
    nib.save(nib.Nifti1Image(values, np.eye(4)), tmp_path / "v.nii")
    cut = lv.open(tmp_path / "v.nii")[::-1]
    other = cut[again]
    other.data[0, 0, 0] = 999
    np.testing.assert_array_equal(cut.compute(), values[::-1])
    np.testing.assert_array_equal(cut.data.compute(), values[::-1])
    np.testing.assert_array_equal(cut[::2].compute(), values[::-1][::2])
    out = cut.to_zarr(tmp_path / "c.zarr", chunks=(2, 2, 2), shards=False)
    np.testing.assert_array_equal(lv.open(out).data.compute(), values[::-1])
    assert other.compute()[0, 0, 0] == 999


@pytest.mark.parametrize("chunks", [None, {}])
def test_a_volume_made_of_an_xarray_image_stays_lazy(tmp_path, monkeypatch, chunks):
    """``lv.Volume(ds.image.isel(t=1), affine_of(...))`` (an engine's selection written back as
    NIfTI) took the DataArray through ``numpy.asarray``: the selection was read whole into
    memory when the Volume was made. Its dask array is taken now (lazily indexed: chunked
    "auto"); the values written equal nibabel's."""
    xr = pytest.importorskip("xarray")
    from lazyvol.xarray import affine_of

    values = np.random.default_rng(3).integers(-999, 999, size=(5, 6, 7, 3)).astype(np.int16)
    affine = np.array([[0, 0, -2.0, 10], [3.0, 0, 0, 20], [0, 1.5, 0, 30], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(values, affine), tmp_path / "bold.nii")
    ds = xr.open_dataset(tmp_path / "bold.nii", engine="lazyvol", chunks=chunks)
    part = ds.image.isel(t=1, i=slice(None, None, -1))

    def whole(*args, **kwargs):
        raise AssertionError("the DataArray was read whole (numpy.asarray)")

    monkeypatch.setattr(xr.DataArray, "__array__", whole)
    monkeypatch.setattr(xr.Variable, "__array__", whole)
    vol = lv.Volume(part, affine_of(part))
    vol.data = part  # (the setter takes the same path)
    monkeypatch.undo()
    assert vol.shape == (5, 6, 7) and vol.dtype == np.int16
    vol.to_nifti(tmp_path / "out.nii")
    out = nib.load(tmp_path / "out.nii")
    np.testing.assert_array_equal(np.asanyarray(out.dataobj), values[::-1, :, :, 1])
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = 4  # (voxel i of the selection is voxel 4 - i of the file)
    np.testing.assert_allclose(out.affine, affine @ flip)


@pytest.mark.parametrize(
    "order", [("k", "j", "i"), ("j", "i", "k"), ("t", "k", "i", "j"), ("i", "j", "t", "k")]
)
def test_a_volume_of_a_transposed_dataarray_keeps_its_voxels_at_their_places(order):
    """lv.Volume(image.transpose(...), affine_of(...)) took the array in the order it came while
    the affine's columns are the named axes i, j, k: every voxel was put at another voxel's
    place in the world without a word. The voxel dims are put back in order i, j, k; truth:
    each voxel's world position (the affine applied to its index) holds its own value."""
    pytest.importorskip("xarray")
    from lazyvol.xarray import affine_of

    four = "t" in order
    shape = (4, 5, 6, 3) if four else (4, 5, 6)
    values = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    affine = np.array(
        [[0.9, 0.1, 0.0, -5.0], [-0.1, 0.9, 0.2, 3.0], [0.0, -0.2, 1.8, 7.0], [0, 0, 0, 1]]
    )
    image = lv.Volume(values, affine).to_xarray().transpose(*order)
    vol = lv.Volume(image, affine_of(image))
    assert vol.shape == shape
    np.testing.assert_allclose(vol.affine, affine)
    np.testing.assert_array_equal(vol.compute(), values)
