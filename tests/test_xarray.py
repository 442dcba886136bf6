"""xarray: ``vol.to_xarray()`` and ``xr.open_dataset(path, engine="lazyvol")``.

Values are compared with nibabel's reads and the synthetic DICOM truth, world coordinates with
nibabel's ``apply_affine``; "nothing read at open" is checked with a dask task counter and the
process's read byte counter (/proc/self/io).
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from dask.callbacks import Callback

import lazyvol as lv
from lazyvol.testing import (
    write_dicom_series,
    write_enhanced_dicom,
    write_ome_zarr,
    write_phantom_nifti,
)
from lazyvol.xarray import affine_of

xr = pytest.importorskip("xarray")


class _Tasks(Callback):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _posttask(self, *args):
        self.n += 1


def _rchar() -> int | None:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar")))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("xr")
    nii = write_phantom_nifti(d / "p.nii", (64, 60, 40), dtype="int16")
    truth = write_dicom_series(d / "dcm", (32, 40, 12), spacing=(0.8, 0.7, 2.5))
    lv.open(nii).to_zarr(d / "p.zarr")
    return {"nifti": nii, "dicom": str(d / "dcm"), "zarr": str(d / "p.zarr"), "truth": truth}


def _reference(sources, kind):
    if kind == "dicom":
        return sources["truth"].stored
    return np.asarray(nib.load(sources["nifti"]).dataobj)


@pytest.mark.parametrize("kind", ["nifti", "dicom", "zarr"])
def test_open_dataset_equals_lazyvol_and_reference(sources, kind):
    path = sources[kind]
    ref = _reference(sources, kind)
    ds = xr.open_dataset(path, engine="lazyvol")
    assert ds.image.dims == ("i", "j", "k") and ds.image.shape == ref.shape
    np.testing.assert_array_equal(ds.image.values, ref)
    np.testing.assert_array_equal(ds.image.values, lv.open(path).compute())
    vol = lv.open(path)
    np.testing.assert_allclose(affine_of(ds.image), vol.affine)
    np.testing.assert_allclose(
        affine_of(ds), nib.load(sources["nifti"]).affine if kind != "dicom" else vol.affine
    )
    # a selection reads and returns just that part
    np.testing.assert_array_equal(ds.image[3:9, ::2, 5].values, ref[3:9, ::2, 5])
    np.testing.assert_array_equal(ds.image.isel(k=-1, i=2).values, ref[2, :, -1])
    # dask-backed when asked
    dk = xr.open_dataset(path, engine="lazyvol", chunks={})
    assert dk.image.chunks is not None
    np.testing.assert_array_equal(dk.image.sum().values, ref.astype(np.int64).sum())


@pytest.mark.parametrize("kind", ["nifti", "dicom", "zarr"])
def test_open_reads_nothing(sources, kind):
    path = sources[kind]
    xr.open_dataset(path, engine="lazyvol")  # warm: imports, scan index
    nbytes = _reference(sources, kind).nbytes
    counter = _Tasks()
    before = _rchar()
    with counter:
        ds = xr.open_dataset(path, engine="lazyvol")
        image = lv.open(path).to_xarray()
    after = _rchar()
    assert counter.n == 0
    if before is not None:
        assert after - before < nbytes / 4, (after - before, nbytes)
    assert ds.image.shape == image.shape


def test_world_coordinates_axis_aligned(sources):
    path = sources["nifti"]
    aff = nib.load(path).affine
    ref = np.asarray(nib.load(path).dataobj)
    image = lv.open(path).to_xarray()
    grid = nib.affines.apply_affine(
        aff, np.stack(np.meshgrid(*map(np.arange, ref.shape), indexing="ij"), -1)
    )
    np.testing.assert_allclose(image.x.values, grid[:, 0, 0, 0])
    np.testing.assert_allclose(image.y.values, grid[0, :, 0, 1])
    np.testing.assert_allclose(image.z.values, grid[0, 0, :, 2])
    z = float(grid[0, 0, 7, 2]) + 0.3 * aff[2, 2]
    np.testing.assert_array_equal(image.sel(z=z, method="nearest").values, ref[:, :, 7])
    ds = xr.open_dataset(path, engine="lazyvol")
    np.testing.assert_array_equal(ds.image.sel(z=z, method="nearest").values, ref[:, :, 7])
    # a cut volume keeps its world coordinates
    np.testing.assert_allclose(lv.open(path)[:, :, 5:].to_xarray().z.values, grid[0, 0, 5:, 2])


def test_world_coordinates_oblique(tmp_path):
    c, s = np.cos(0.3), np.sin(0.3)
    aff = np.array([[c, -s, 0, 10], [s, c, 0, -5], [0, 0, 2.0, 3], [0, 0, 0, 1]])
    aff[:3, :3] = (
        aff[:3, :3]
        @ np.diag([0.9, 0.9, 1.0])
        @ np.array([[1, 0, 0], [0, np.cos(0.2), -np.sin(0.2)], [0, np.sin(0.2), np.cos(0.2)]])
    )
    x = np.arange(6 * 5 * 4, dtype="float32").reshape(6, 5, 4)
    nib.save(nib.Nifti1Image(x, aff), tmp_path / "o.nii")
    image = lv.open(tmp_path / "o.nii").to_xarray()
    assert image.x.dims == ("i", "j", "k") and image.x.chunks is not None  # lazy
    ref_aff = nib.load(tmp_path / "o.nii").affine
    grid = nib.affines.apply_affine(
        ref_aff, np.stack(np.meshgrid(*map(np.arange, x.shape), indexing="ij"), -1)
    )
    for n, name in enumerate("xyz"):
        np.testing.assert_allclose(image[name].values, grid[..., n], atol=1e-5)


def test_time_and_axis4_coordinates(tmp_path):
    x = np.zeros((4, 4, 3, 5), dtype="int16")
    img = nib.Nifti1Image(x, np.eye(4))
    img.header.set_zooms((1, 1, 1, 1500.0))
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, tmp_path / "bold.nii")
    image = lv.open(tmp_path / "bold.nii").to_xarray()
    assert image.dims == ("i", "j", "k", "t")
    np.testing.assert_allclose(image.time.values, np.arange(5) * 1.5)
    assert image.time.attrs["units"] == "s"
    np.testing.assert_allclose(
        lv.open(tmp_path / "bold.nii")[..., 2:].to_xarray().time, [3.0, 4.5, 6.0]
    )
    img.header["toffset"] = 500.0  # the first volume at 0.5 s (toffset, in the time unit)
    nib.save(img, tmp_path / "late.nii")
    np.testing.assert_allclose(
        lv.open(tmp_path / "late.nii").to_xarray().time, 0.5 + np.arange(5) * 1.5
    )
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (8, 8, 4), n_volumes=2)
    ds = xr.open_dataset(truth.files[0], engine="lazyvol")
    ref = pydicom.dcmread(truth.files[0], stop_before_pixels=True)
    temporal = sorted(
        {
            int(f.FrameContentSequence[0].TemporalPositionIndex)
            for f in ref.PerFrameFunctionalGroupsSequence
        }
    )
    name = next(n for n in ds.coords if ds.coords[n].dims == ("t",))
    assert ds.coords[name].values.tolist() == temporal


def test_dicom_slice_attributes(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 8, 5), reverse_instance_numbers=True)
    image = lv.open(tmp_path / "s").to_xarray()
    assert image.InstanceNumber.chunks is not None  # not read yet
    refs = [pydicom.dcmread(f, stop_before_pixels=True) for f in truth.files]
    refs.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    assert image.InstanceNumber.values.tolist() == [int(d.InstanceNumber) for d in refs]
    assert image.SOPInstanceUID.values.tolist() == [str(d.SOPInstanceUID) for d in refs]
    sub = image.isel(k=slice(1, 3))
    assert sub.SOPInstanceUID.values.tolist() == [str(d.SOPInstanceUID) for d in refs[1:3]]
    cut = lv.open(tmp_path / "s")[:, :, 3:].to_xarray()
    assert cut.InstanceNumber.values.tolist() == [int(d.InstanceNumber) for d in refs[3:]]


def test_a_filled_slice_has_missing_image_attributes(tmp_path):
    """A series opened with ``allow_gaps=True``: the filled slice has no file, and reading the
    per-image coordinates (``.load()``, ``to_netcdf``, the engine's dataset) raised HeaderError
    "slice 3 has no file". Its InstanceNumber is -1 and its UID and time empty, the others the
    files'."""
    positions = np.array([[0.0, 0.0, 2.5 * k] for k in (0, 1, 2, 4, 5)])
    truth = write_dicom_series(tmp_path / "s", (6, 5, 5), positions=positions)
    refs = sorted(
        (pydicom.dcmread(f, stop_before_pixels=True) for f in truth.files),
        key=lambda d: float(d.ImagePositionPatient[2]),
    )
    numbers = [int(d.InstanceNumber) for d in refs]
    uids = [str(d.SOPInstanceUID) for d in refs]
    vol = lv.open(tmp_path / "s", allow_gaps=True)
    assert vol.meta["filled_slices"] == [3]
    for image in (
        vol.to_xarray(),
        xr.open_dataset(tmp_path / "s", engine="lazyvol", allow_gaps=True)["image"],
    ):
        assert image.InstanceNumber.values.tolist() == [*numbers[:3], -1, *numbers[3:]]
        assert image.SOPInstanceUID.values.tolist() == [*uids[:3], "", *uids[3:]]
        assert image.AcquisitionTime.values[3] == ""
    cut = vol[:, :, 2:5].to_xarray()
    assert cut.InstanceNumber.values.tolist() == [numbers[2], -1, numbers[3]]
    vol.to_xarray().to_dataset().to_netcdf(tmp_path / "f.nc")


def test_a_zarr_copy_of_dicom_opens_without_its_source_files(tmp_path):
    """A store converted from DICOM listed the per-image attributes as coordinates, read from the
    original files: once those were gone, ``InstanceNumber.values`` and ``to_netcdf`` raised
    SourceNotFoundError (and the store keeps one source header, not each image's). The store's
    dataset has the pixels, the affine and the world coordinates on its own."""
    import shutil

    truth = write_dicom_series(tmp_path / "s", (8, 8, 5))
    store = lv.open(tmp_path / "s").to_zarr(tmp_path / "c.zarr")
    shutil.rmtree(tmp_path / "s")
    ds = xr.open_dataset(store, engine="lazyvol")
    assert not {"InstanceNumber", "AcquisitionTime", "SOPInstanceUID"} & set(ds.coords)
    np.testing.assert_array_equal(ds["image"].values, truth.stored)
    ds.to_netcdf(tmp_path / "c.nc")
    back = xr.open_dataset(tmp_path / "c.nc")
    np.testing.assert_array_equal(back["image"].values, truth.stored)
    np.testing.assert_array_equal(affine_of(back), lv.open(store).affine)
    # The folder there again but emptied (or holding other files): still the store's own.
    (tmp_path / "s").mkdir()
    assert "InstanceNumber" not in xr.open_dataset(store, engine="lazyvol").coords


def test_dicom_image_attributes_of_a_4d_series_follow_every_volume(tmp_path):
    """4D: each volume's images are other files, so the attributes lie on (k, t): the file named
    by SOPInstanceUID at (k, t) holds the pixels at (k, t) (they came from volume 0 for every t)."""
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp_path / "s", (6, 5, 4), 3, labels=())
    vol = lv.open(tmp_path / "s")
    image = vol.to_xarray()
    assert image.SOPInstanceUID.dims == ("k", "t") and image.InstanceNumber.chunks is not None
    by_uid = {str(d.SOPInstanceUID): d for d in map(pydicom.dcmread, truth.files)}
    data = vol.compute()
    for k in range(4):
        for t in range(3):
            ds = by_uid[str(image.SOPInstanceUID.values[k, t])]
            np.testing.assert_array_equal(ds.pixel_array.T, data[:, :, k, t])
            assert int(image.InstanceNumber.values[k, t]) == int(ds.InstanceNumber)
    late = image.isel(t=2)
    assert late.SOPInstanceUID.dims == ("k",)
    assert late.SOPInstanceUID.values.tolist() == image.SOPInstanceUID.values[:, 2].tolist()


def test_guess_can_open(sources, tmp_path):
    from lazyvol.xarray import LazyvolBackendEntrypoint

    be = LazyvolBackendEntrypoint()
    assert be.guess_can_open(sources["nifti"]) and be.guess_can_open(sources["zarr"])
    assert be.guess_can_open(sources["truth"].files[0])
    (tmp_path / "x.nc").write_bytes(b"CDF\x01")
    assert not be.guess_can_open(str(tmp_path / "x.nc"))
    ds = xr.open_dataset(sources["nifti"])  # no engine: the entry point is found
    assert "image" in ds and "affine" in ds.attrs


def test_a_store_with_megabytes_of_group_metadata_is_known_as_lazyvols(tmp_path):
    """A store of a large DICOM series carries its file list in the group metadata (megabytes for
    tens of thousands of files): reading at most 1 MiB of it, the engine did not know it as a
    lazyvol store (xarray then picked no engine)."""
    from lazyvol.xarray import LazyvolBackendEntrypoint

    files = [f"/data/series/IM{n:06d}.dcm" for n in range(20_000)]  # ~0.6 MB of names
    vol = lv.Volume(np.zeros((4, 4, 2), np.int16), np.eye(4), meta={"files": files, "n": files})
    store = vol.to_zarr(tmp_path / "big.zarr")
    assert os.path.getsize(os.path.join(store, "zarr.json")) > 1 << 20
    assert LazyvolBackendEntrypoint().guess_can_open(str(store))
    np.testing.assert_array_equal(xr.open_dataset(store)["image"].values, np.zeros((4, 4, 2)))


def test_distributed(sources):
    distributed = pytest.importorskip("distributed")
    ref = _reference(sources, "dicom")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        ds = xr.open_dataset(sources["dicom"], engine="lazyvol", chunks={})
        assert int(ds.image.sum().compute()) == int(ref.astype(np.int64).sum())
        nii = lv.open(sources["nifti"]).to_xarray()
        ref_n = _reference(sources, "nifti")
        np.testing.assert_allclose(
            nii.mean(dim=("i", "j")).compute().values, ref_n.mean(axis=(0, 1))
        )
        assert os.getpid() not in cluster.scheduler_info.get("workers", {})


@pytest.mark.parametrize("kind", ["nifti-oblique", "dicom"])
def test_to_netcdf_round_trip_keeps_values_and_affine(tmp_path, kind):
    """netCDF attributes are numbers, strings or 1-D lists: the affine is stored flat (row order)
    and comes back as the same 4x4 matrix (compared with nibabel's / the synthetic truth's)."""
    if kind == "dicom":
        truth = write_dicom_series(tmp_path / "dcm", (12, 10, 6), orientation="oblique")
        vol, ref, ref_affine = lv.open(tmp_path / "dcm"), truth.stored, truth.affine
    else:
        data = np.arange(12 * 10 * 6, dtype=np.int16).reshape(12, 10, 6)
        affine = np.array(
            [[0.9, -0.3, 0.1, -40.5], [0.3, 0.9, -0.2, 12.25], [0.0, 0.2, 2.4, 7.0], [0, 0, 0, 1]]
        )
        nib.save(nib.Nifti1Image(data, affine), tmp_path / "o.nii")
        img = nib.load(tmp_path / "o.nii")
        vol, ref, ref_affine = lv.open(tmp_path / "o.nii"), data, img.affine
    out = tmp_path / "image.nc"
    vol.to_xarray().to_netcdf(out)  # raised "Invalid value for attr 'affine'" with a 4x4 attribute
    with xr.open_dataset(out) as back:
        np.testing.assert_array_equal(back.image.values, ref)
        np.testing.assert_allclose(affine_of(back.image), ref_affine, atol=1e-5)
        assert np.asarray(back.image.attrs["affine"]).shape == (16,)
    ds = xr.open_dataset(
        tmp_path / "o.nii" if kind != "dicom" else tmp_path / "dcm", engine="lazyvol"
    )
    ds.to_netcdf(tmp_path / "engine.nc")
    with xr.open_dataset(tmp_path / "engine.nc") as back:
        np.testing.assert_allclose(affine_of(back), ref_affine, atol=1e-5)
        np.testing.assert_array_equal(back.image.values, ref)


def test_affine_of_refuses_what_is_not_an_affine():
    with pytest.raises(KeyError, match="no 'affine'"):
        affine_of({})
    with pytest.raises(ValueError, match="holds 9 values"):
        affine_of({"affine": list(range(9))})
    np.testing.assert_array_equal(affine_of({"affine": np.eye(4)}), np.eye(4))


def test_volumes_past_four_axes_open_with_named_extra_dims(tmp_path):
    """A 5D NIfTI (vector intent: components on the 5th axis) raised a bare ValueError in the
    engine and in to_xarray; the axes past t are dim5, dim6, ... (lazyvol's OME-Zarr names)."""
    values = np.arange(3 * 4 * 5 * 1 * 3, dtype=np.float32).reshape(3, 4, 5, 1, 3)
    path = tmp_path / "vec.nii"
    nib.save(nib.Nifti1Image(values, np.eye(4)), path)
    ds = xr.open_dataset(path, engine="lazyvol")
    assert ds["image"].dims == ("i", "j", "k", "t", "dim5")
    np.testing.assert_array_equal(ds["image"].values, np.asanyarray(nib.load(path).dataobj))
    da_ = lv.open(path).to_xarray()
    assert da_.dims == ("i", "j", "k", "t", "dim5")
    np.testing.assert_array_equal(da_.isel(dim5=2).values, values[..., 2])


def test_foreign_ome_axes_past_space_keep_their_names(tmp_path):
    """An OME-Zarr image with a channel axis (c, z, y, x) named its channels 't' in xarray, as if
    they were time points; the store's own axis names (and time coordinates on a time axis) now
    name the dimensions past the three space axes."""
    truth = np.arange(3 * 4 * 5 * 6, dtype=np.int16).reshape(3, 4, 5, 6)  # c, z, y, x
    write_ome_zarr(tmp_path / "c.zarr", truth, axes="czyx", scale=[1, 3, 2, 1])
    ds = xr.open_dataset(tmp_path / "c.zarr", engine="lazyvol")
    assert ds["image"].dims == ("i", "j", "k", "c")
    assert "time" not in ds.coords
    np.testing.assert_array_equal(ds["image"].isel(c=1).values, truth[1].transpose())
    image = lv.open(tmp_path / "c.zarr").to_xarray()
    assert image.dims == ("i", "j", "k", "c")


def _oblique_nifti(path):
    c, s = np.cos(0.3), np.sin(0.3)
    aff = np.array([[c, -s, 0.1, 10], [s, c, 0, -5], [0, 0.2, 2.0, 3], [0, 0, 0, 1]])
    data = np.arange(7 * 6 * 5, dtype=np.int16).reshape(7, 6, 5)
    nib.save(nib.Nifti1Image(data, aff), path)
    return path


@pytest.mark.parametrize("oblique", [False, True], ids=["axis-aligned", "oblique"])
def test_affine_of_a_selection_is_the_selections(tmp_path, oblique):
    """``affine_of`` returned the affine of the volume as opened for any selection (xarray keeps
    attributes through isel/sel), after a netCDF round trip too: voxel (0, 0, 0) of a crop placed
    at the volume's origin. Compared with nibabel's ``apply_affine`` at the selected voxels."""
    if oblique:
        path = _oblique_nifti(tmp_path / "o.nii")
    else:
        path = write_phantom_nifti(tmp_path / "a.nii", (7, 6, 5), dtype="int16")
    ref = nib.load(path).affine
    ds = xr.open_dataset(path, engine="lazyvol")
    picks = {"i": slice(5, 0, -2), "j": slice(1, 6, 1), "k": slice(4, None)}
    sub = ds.isel(picks)
    sub.to_netcdf(tmp_path / "sub.nc")
    index = [np.arange(7)[picks["i"]], np.arange(6)[picks["j"]], np.arange(5)[picks["k"]]]
    for got in (affine_of(sub.image), affine_of(xr.open_dataset(tmp_path / "sub.nc").image)):
        for ijk in [(0, 0, 0), (1, 2, 0), (1, 4, 0)]:
            want = nib.affines.apply_affine(ref, [index[a][n] for a, n in enumerate(ijk)])
            np.testing.assert_allclose(nib.affines.apply_affine(got, ijk), want, atol=1e-6)
    # lazyvol's own slicing gives the same matrix, bit for bit
    np.testing.assert_array_equal(affine_of(sub.image), lv.open(path)[5:0:-2, 1:6, 4:].affine)
    # one slice kept by an integer index: its position, the other columns as opened
    one = affine_of(ds.image.isel(k=3))
    np.testing.assert_allclose(one[:3, 3], nib.affines.apply_affine(ref, [0, 0, 3]), atol=1e-6)
    with pytest.raises(ValueError, match="not evenly spaced"):
        affine_of(ds.image.isel(i=[0, 1, 3]))


@pytest.mark.parametrize("oblique", [False, True])
def test_affine_of_a_selection_repeating_one_voxel_is_refused(tmp_path, oblique):
    """A selection taking one voxel again and again along an axis (``isel(i=[2, 2, 2])``) has
    even steps of zero: ``affine_of`` gave an affine with a zero column (singular, every voxel
    along the axis at one place) where a list of uneven indices is refused; now refused too."""
    if oblique:
        path = _oblique_nifti(tmp_path / "o.nii")
    else:
        path = write_phantom_nifti(tmp_path / "a.nii", (7, 6, 5), dtype="int16")
    ds = xr.open_dataset(path, engine="lazyvol")
    for image in (ds.image, lv.open(path).to_xarray()):
        with pytest.raises(ValueError, match="do not advance"):
            affine_of(image.isel(i=[2, 2, 2]))
        with pytest.raises(ValueError, match="do not advance"):
            affine_of(image.isel(j=[1, 1], k=slice(0, 3)))
        # a regular list selection still has its affine, and one voxel kept keeps the column
        got = affine_of(image.isel(i=[4, 2, 0]))
        assert abs(np.linalg.det(got[:3, :3])) > 0
        np.testing.assert_allclose(got, lv.open(path)[4::-2].affine, atol=1e-6)
        np.testing.assert_allclose(affine_of(image.isel(i=[3])), lv.open(path)[3:4].affine)


def test_a_dicom_dataset_pickles_with_the_standard_library(tmp_path):
    """The per-image attributes' graph held a lambda: pickle.dumps of the DataArray (and of the
    engine's Dataset) failed, and with it a multiprocessing pool; the NIfTI ones pickled."""
    import pickle

    truth = write_dicom_series(tmp_path / "s", (8, 8, 4), reverse_instance_numbers=True)
    image = pickle.loads(pickle.dumps(lv.open(tmp_path / "s").to_xarray()))
    ds = pickle.loads(pickle.dumps(xr.open_dataset(tmp_path / "s", engine="lazyvol")))
    numbers = sorted(int(pydicom.dcmread(f).InstanceNumber) for f in truth.files)
    assert sorted(image.InstanceNumber.values.tolist()) == numbers
    np.testing.assert_array_equal(ds.image.values, truth.stored)


def test_a_zarr_copy_of_dicom_shows_headers_only_of_the_files_it_was_written_from(
    tmp_path, monkeypatch
):
    """A store written from DICOM read its per-image attributes and headers from whatever files
    were at its source path: rewritten files gave their new InstanceNumber and SOPInstanceUID to
    the store's (old) pixels, and a relative source path was read from the working directory,
    so another folder of the same name answered. Now the store records its source as an
    absolute path and the source files' identity: other files give no attributes, and their
    headers are refused."""
    from lazyvol.errors import SourceChangedError

    monkeypatch.chdir(tmp_path)
    truth = write_dicom_series("s", (8, 8, 4))
    store = str(lv.open("s").to_zarr(tmp_path / "c.zarr"))
    numbers = sorted(int(pydicom.dcmread(f).InstanceNumber) for f in truth.files)
    vol = lv.open(store)
    assert vol.source == str(tmp_path / "s")
    assert sorted(xr.open_dataset(store, engine="lazyvol").InstanceNumber.values) == numbers
    # another folder of the same name, from another working directory: not the store's source
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    write_dicom_series("s", (8, 8, 4), seed=5)
    assert int(lv.open(store).header.InstanceNumber) in numbers
    # the source files rewritten (same series, new numbers): their headers are not the store's
    for f in truth.files:
        ds = pydicom.dcmread(tmp_path / f)
        ds.InstanceNumber = int(ds.InstanceNumber) + 900
        ds.save_as(tmp_path / f)
    assert "InstanceNumber" not in xr.open_dataset(store, engine="lazyvol").coords
    with pytest.raises(SourceChangedError, match="changed since"):
        lv.open(store).dicom_header(0)
    with pytest.raises(SourceChangedError, match="changed since"):
        _ = lv.open(store).header
    # every selection of the store's volume, not only a crop (the identity is in its meta)
    back = lv.open(store)
    for part in (back[:, :, ::2], back[::-1], back.rechunk((4, 4, 2)), back[:, :, 1:]):
        with pytest.raises(SourceChangedError, match="changed since"):
            part.dicom_header(0)
    assert "InstanceNumber" not in back[:, :, ::-1].to_xarray().coords
    np.testing.assert_array_equal(back.compute(), truth.stored)  # (its own pixels)


@pytest.mark.parametrize("name", ["a.nii", "a.img", "a.img.gz"])
def test_a_zarr_copy_of_nifti_refuses_a_rewritten_sources_header(tmp_path, name):
    """The same for a NIfTI source: the header of a file rewritten since the store's writing was
    shown as the store's source header; for an Analyze / NIfTI pair only its header file rewritten
    (a gzipped pair's p.hdr.gz was not among the files the store recorded)."""
    from lazyvol.errors import SourceChangedError

    src = tmp_path / name
    nib.save(nib.Nifti1Pair(np.zeros((6, 5, 4), np.int16), np.eye(4)), src)
    if name == "a.nii":
        nib.save(nib.Nifti1Image(np.zeros((6, 5, 4), np.int16), np.eye(4)), src)
    store = lv.open(src).to_zarr(tmp_path / "a.zarr")
    assert lv.open(store).header["dim"][1] == 6
    img = nib.load(src)
    img.header.set_zooms((3.0, 3.0, 3.0))
    header_file = (img.file_map.get("header") or img.file_map["image"]).filename
    mode = "r+b" if name == "a.nii" else "wb"  # (the header alone rewritten, in place)
    with nib.openers.ImageOpener(header_file, mode) as f:
        img.header.write_to(f)
    assert nib.load(src).header.get_zooms() == (3.0, 3.0, 3.0)
    with pytest.raises(SourceChangedError, match="changed since"):
        _ = lv.open(store).header


@pytest.mark.parametrize("kind", ["nifti", "dicom", "zarr"])
def test_an_empty_descending_selection_selects_nothing(sources, kind):
    # xarray's split of a descending slice took the last index of an empty one (a bare
    # IndexError 'range object index out of range'); numpy, and the dataset with chunks={},
    # select nothing
    ref = _reference(sources, kind)
    ds = xr.open_dataset(sources[kind], engine="lazyvol")
    n = ref.shape[2]
    for sel in (
        {"k": slice(-4, -1, -1)},
        {"i": slice(None, None, -1), "k": slice(0, 3, -2)},
        {"j": [0, 2], "k": slice(2, 5, -1)},
        # a descending slice starting before the front: xarray composed it as the whole axis
        # reversed (slice.indices' -1 read as the last index), silently
        {"k": slice(-n - 3, None, -1)},
        {"i": slice(2, 5), "k": slice(-n - 1, -n - 2, -2)},
    ):
        want = ref
        for dim, item in sel.items():
            want = want[(slice(None),) * "ijk".index(dim) + (item,)]
        got = ds.image.isel(sel)
        assert got.shape == want.shape and got.values.shape == want.shape
        assert got.values.dtype == ds.image.dtype
        # composed onto an earlier selection too
        chained = ref[:, :, 1:]
        for dim, item in sel.items():
            chained = chained[(slice(None),) * "ijk".index(dim) + (item,)]
        assert ds.image.isel(k=slice(1, None)).isel(sel).values.shape == chained.shape


def test_coordinates_follow_an_empty_descending_selection(tmp_path):
    """An oblique DICOM series' world coordinates and per-image attributes (dask arrays) kept every
    slice of a selection the image reads as empty: a dataset whose variables disagreed on k."""
    write_dicom_series(tmp_path / "obl", (6, 5, 4), orientation="oblique")
    ds = xr.open_dataset(tmp_path / "obl", engine="lazyvol")
    for sel in ({"k": slice(-7, None, -1)}, {"k": slice(None, None, -3), "i": slice(1, 4)}):
        part = ds.isel(sel)
        want = ds.sizes["k"] if "i" not in sel else len(range(4)[sel["k"]])
        want = 0 if "i" not in sel else want
        for name in ("image", "x", "y", "z", "InstanceNumber", "SOPInstanceUID"):
            assert part[name].sizes["k"] == want, name
            assert part[name].values.shape[part[name].dims.index("k")] == want, name
        if want:
            np.testing.assert_array_equal(
                part.InstanceNumber.values, ds.InstanceNumber.values[sel["k"]]
            )
            np.testing.assert_array_equal(part.x.values, ds.x.values[sel["i"], :, sel["k"]])


def test_a_file_name_not_in_utf8_is_written_to_netcdf(tmp_path):
    """A NIfTI file named in Latin-1 (an old archive's ``caf\\xe9.nii``: not valid UTF-8, so
    Python holds its name with a lone surrogate) gave its image a ``source`` attribute that
    ``to_netcdf`` could not encode (UnicodeEncodeError), from the engine and from ``to_xarray``;
    the attribute now writes those bytes as backslash escapes, and names the file still."""
    name = os.fsdecode(b"caf\xe9 scan.nii")
    path = os.path.join(os.fsdecode(bytes(tmp_path)), name)
    values = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    nib.save(nib.Nifti1Image(values, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    engine = xr.open_dataset(path, engine="lazyvol").image
    for label, image in [("engine", engine), ("to_xarray", lv.open(path).to_xarray())]:
        out = tmp_path / f"{label}.nc"
        image.to_dataset().to_netcdf(out)
        back = xr.open_dataset(out).image.load()
        np.testing.assert_array_equal(back.values, values)
        assert back.attrs["source"].endswith("caf\\xe9 scan.nii"), back.attrs["source"]
