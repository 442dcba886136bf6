"""Streaming NIfTI writer: nibabel reads back identical values and affine."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dask.array as da
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import nifti_write
from lazyvol.errors import WriteError
from lazyvol.testing import write_phantom_nifti

OBLIQUE = np.array(
    [
        [0.9, 0.1, 0.0, -10.25],
        [0.05, 1.1, 0.2, 5.5],
        [0.0, 0.3, 2.0, 7.125],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _nibabel_reference(a, affine, path):
    """What nibabel itself writes for the same array and affine (sform and qform, code 1)."""
    img = nib.Nifti1Image(a, affine, dtype=a.dtype)
    img.header.set_sform(affine, code=1)
    img.header.set_qform(affine, code=1)
    img.to_filename(path)
    return nib.load(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32", "float64", "int64"])
def test_numpy_volume_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(13, 11, 9)) * 100).astype(dtype)
    # chunks along k that do not divide it: slabs must follow them
    vol = lv.Volume(da.from_array(a, chunks=(13, 11, 4)), OBLIQUE)
    out = vol.to_nifti(tmp_path / f"v{suffix}")
    img = nib.load(out)
    ref = _nibabel_reference(a, OBLIQUE, str(tmp_path / f"ref{suffix}"))
    data = np.asanyarray(img.dataobj)
    assert data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(data, a)
    assert np.array_equal(img.affine, ref.affine)
    assert np.array_equal(img.get_qform(), ref.get_qform())
    assert np.array_equal(img.get_sform(), ref.get_sform())
    # OBLIQUE is sheared: the qform (the same fields as nibabel's) cannot hold it, so its code is 0
    assert img.header["sform_code"] == 1 and img.header["qform_code"] == 0


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_4d(tmp_path, suffix):
    rng = np.random.default_rng(2)
    a = rng.integers(-500, 500, (10, 9, 7, 4), dtype=np.int16)
    vol = lv.Volume(
        da.from_array(a, chunks=(10, 9, 3, 1)),
        np.diag([2.0, 2.0, 3.0, 1.0]),
        meta={"axis4_spacing": 1.5},
    )
    img = nib.load(vol.to_nifti(tmp_path / f"t{suffix}"))
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), a)
    assert img.header.get_zooms() == (2.0, 2.0, 3.0, 1.5)


def test_nifti_source_to_nifti_identical(tmp_path):
    src = write_phantom_nifti(tmp_path / "s.nii.gz", (40, 30, 25), dtype="int16", affine=OBLIQUE)
    out = lv.open(src).to_nifti(tmp_path / "o.nii")
    a, b = nib.load(src), nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(b.dataobj), np.asanyarray(a.dataobj))
    assert np.array_equal(a.affine, b.affine)


def test_zarr_to_nifti(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(20, 18, 16)).astype(np.float32)
    store = lv.Volume(a, OBLIQUE).to_zarr(tmp_path / "a.zarr", chunks=(8, 8, 8))
    img = nib.load(lv.open(store).to_nifti(tmp_path / "a.nii.gz"))
    np.testing.assert_array_equal(img.get_fdata(dtype=np.float32), a)


def test_bool_written_as_uint8(tmp_path):
    a = np.random.default_rng(4).random((6, 5, 4)) > 0.5
    img = nib.load(lv.Volume(a).to_nifti(tmp_path / "b.nii"))
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), a.astype(np.uint8))


def test_large_dimension_uses_nifti2(tmp_path):
    a = np.arange(40000, dtype=np.int8).reshape(40000, 1, 1)
    img = nib.load(lv.Volume(a).to_nifti(tmp_path / "long.nii"))
    assert isinstance(img, nib.Nifti2Image)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), a)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_affine_beyond_float32_uses_nifti2(tmp_path, suffix):
    """NIfTI-1 keeps the affine in 32-bit floats: a finite float64 affine past their range was
    written as an infinite sform (a file nibabel loads with an inf affine and lazyvol refuses).
    It is written as NIfTI-2 (64-bit floats), and reads back exactly."""
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    aff = np.diag([1e100, 2.0, 3.0, 1.0])
    aff[:3, 3] = [1e90, -5.0, 7.0]
    out = lv.Volume(a, aff).to_nifti(tmp_path / f"far{suffix}")
    img = nib.load(out)
    assert isinstance(img, nib.Nifti2Image)
    np.testing.assert_array_equal(img.affine, aff)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), a)
    back = lv.open(out)
    np.testing.assert_array_equal(back.affine, aff)
    np.testing.assert_array_equal(back.compute(), a)


def test_voxel_sizes_beyond_float32_use_nifti2(tmp_path):
    """Entries that fit float32 whose column norm (pixdim) does not (3e38 on two axes): NIfTI-2."""
    aff = np.eye(4)
    aff[:2, 0] = 3e38
    aff[1, 1] = -1.0
    img = nib.load(lv.Volume(np.zeros((2, 3, 4), np.int16), aff).to_nifti(tmp_path / "z.nii"))
    assert isinstance(img, nib.Nifti2Image)
    np.testing.assert_array_equal(img.affine, aff)


def test_affine_whose_voxel_sizes_overflow_any_nifti_is_refused(tmp_path):
    """A 1e300 mm voxel fits NIfTI-2's srow but its size overflows pixdim (written as inf, a
    qform no reader can use): refused, nothing written."""
    a = np.zeros((2, 3, 4), dtype=np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the refusal only: no numpy overflow RuntimeWarning first
        with pytest.raises(WriteError, match=r"far\.nii: .*pixdim / qform fields"):
            lv.Volume(a, np.diag([1e300, 2.0, 3.0, 1.0])).to_nifti(tmp_path / "far.nii")
    assert os.listdir(tmp_path) == []


def test_existing_file_untouched(tmp_path):
    p = tmp_path / "x.nii"
    p.write_bytes(b"keep me")
    with pytest.raises(WriteError, match="overwrite=True"):
        lv.Volume(np.ones((3, 3, 3))).to_nifti(p)
    assert p.read_bytes() == b"keep me"
    lv.Volume(np.ones((3, 3, 3), "int16")).to_nifti(p, overwrite=True)
    np.testing.assert_array_equal(np.asanyarray(nib.load(p).dataobj), 1)
    assert os.listdir(tmp_path) == ["x.nii"]


def test_failed_write_leaves_nothing(tmp_path):
    def boom(block):
        raise OSError(28, "No space left on device")

    bad = da.from_array(np.ones((8, 8, 8), "int16"), chunks=(8, 8, 2)).map_blocks(
        lambda b: b if b.mean() < 0 else boom(b), dtype="int16"
    )
    with pytest.raises(WriteError, match="No space left"):
        lv.Volume(bad).to_nifti(tmp_path / "x.nii.gz")
    assert os.listdir(tmp_path) == []


def test_read_only_destination(tmp_path, monkeypatch):
    def deny(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(nifti_write, "open", deny, raising=False)
    with pytest.raises(WriteError, match="Permission denied"):
        lv.Volume(np.ones((3, 3, 3))).to_nifti(tmp_path / "x.nii")
    assert os.listdir(tmp_path) == []


def test_missing_folder_is_named(tmp_path):
    dest = tmp_path / "missing" / "x.nii"
    with pytest.raises(WriteError, match=r"the folder .*missing does not exist; create it"):
        lv.Volume(np.ones((3, 3, 3))).to_nifti(dest)
    assert os.listdir(tmp_path) == []


def test_bad_suffix(tmp_path):
    with pytest.raises(WriteError, match=r"\.nii"):
        lv.Volume(np.ones((3, 3, 3))).to_nifti(tmp_path / "x.img")


def test_dicom_to_zarr_to_nifti(tmp_path):
    from lazyvol.testing.dicom import write_dicom_series

    truth = write_dicom_series(
        tmp_path / "ser", shape=(20, 16, 8), orientation="oblique", slope=0.5, intercept=3.0
    )
    vol = lv.open(tmp_path / "ser")
    store = vol.to_zarr(tmp_path / "s.zarr")
    back = lv.open(store)
    np.testing.assert_array_equal(back.compute(), truth.scaled(back.dtype))
    assert np.array_equal(back.affine, vol.affine) and back.meta == vol.meta
    np.testing.assert_allclose(back.affine, truth.affine, atol=1e-5)
    img = nib.load(back.to_nifti(tmp_path / "s.nii.gz"))
    ref = _nibabel_reference(truth.scaled(back.dtype), vol.affine, str(tmp_path / "ref.nii"))
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), truth.scaled(back.dtype))
    assert np.array_equal(img.affine, ref.affine)


def test_gz_is_multi_member_and_readable_everywhere(tmp_path, monkeypatch):
    import gzip

    monkeypatch.setattr(nifti_write, "GZ_PIECE", 4096)  # many members even for a small volume
    a = np.random.default_rng(5).integers(-2000, 2000, (24, 20, 18), dtype=np.int16)
    out = lv.Volume(da.from_array(a, chunks=(24, 20, 5)), OBLIQUE).to_nifti(tmp_path / "m.nii.gz")
    raw = Path(out).read_bytes()
    assert raw.count(b"\x1f\x8b\x08\x04") > 3  # several members, each with FEXTRA
    body = gzip.decompress(raw)  # the standard library reads all members
    assert len(body) == 352 + a.nbytes
    np.testing.assert_array_equal(np.frombuffer(body[352:], "<i2").reshape(a.shape, order="F"), a)
    np.testing.assert_array_equal(np.asanyarray(nib.load(out).dataobj), a)  # nibabel
    vol = lv.open(out)  # lazyvol's reader (indexed_gzip)
    np.testing.assert_array_equal(vol.compute(), a)
    np.testing.assert_array_equal(vol[:, :, 7:9].compute(), a[:, :, 7:9])


def test_progress_bars(tmp_path, capsys):
    a = np.arange(6 * 5 * 8, dtype=np.int16).reshape(6, 5, 8)
    vol = lv.Volume(da.from_array(a, chunks=(6, 5, 2)))
    np.testing.assert_array_equal(
        np.asanyarray(nib.load(vol.to_nifti(tmp_path / "p.nii", progress=True)).dataobj), a
    )
    np.testing.assert_array_equal(
        lv.open(vol.to_zarr(tmp_path / "p.zarr", progress=True)).compute(), a
    )
    err = capsys.readouterr().err
    assert "writing NIfTI" in err and "writing p.zarr" in err


@pytest.mark.parametrize("kind", ["nifti", "zarr"])
def test_a_url_destination_is_refused_not_written_as_a_local_folder(tmp_path, monkeypatch, kind):
    """ "s3://bucket/out.zarr" was taken for the relative path ./s3:/bucket/out.zarr (and written
    there when such a folder existed): writers take local paths only, and say so."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s3:" / "bucket").mkdir(parents=True)
    vol = lv.Volume(np.zeros((2, 3, 4), dtype=np.int16))
    write = vol.to_zarr if kind == "zarr" else vol.to_nifti
    name = "s3://bucket/out.zarr" if kind == "zarr" else "s3://bucket/out.nii"
    with pytest.raises(lv.UnsupportedError, match=r"s3://bucket/out\.\w+: lazyvol writes to local"):
        write(name)
    with pytest.raises(lv.UnsupportedError, match=r"simplecache::s3://bucket/out"):
        write("simplecache::" + name)  # an fsspec chain
    assert os.listdir(tmp_path / "s3:" / "bucket") == []


def _wrong_dtype(a, chunks):
    """``a`` as a dask array that declares float32 but whose blocks compute float64 (a map_blocks
    without the right ``dtype=``, as numpy's promotion gives)."""
    return da.from_array(a, chunks=chunks).map_blocks(lambda b: b * np.float64(1), dtype=a.dtype)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("chunks", [(4, 5, 6), (2, 5, 2)], ids=["one-block", "many-blocks"])
def test_blocks_computed_in_another_dtype_are_written_in_the_header_dtype(tmp_path, suffix, chunks):
    """A single-block slab was written as its float64 bytes: 1312 bytes where the header needs
    832, and nibabel read garbage. Every block is cast to the declared dtype."""
    a = np.arange(120, dtype=np.float32).reshape(4, 5, 6) * 2
    out = lv.Volume(_wrong_dtype(a, chunks)).to_nifti(tmp_path / f"w{suffix}")
    img = nib.load(out)
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), a)
    if suffix == ".nii":
        assert os.path.getsize(out) == 352 + a.nbytes


def test_a_block_of_another_shape_than_declared_is_refused(tmp_path):
    x = da.from_array(np.ones((4, 5, 6), np.int16), chunks=(4, 5, 3))
    bad = x.map_blocks(lambda b: b[:, :-1], dtype=np.int16)  # declares (4, 5, 3) blocks
    with pytest.raises(WriteError, match=r"b\.nii: a block .* computed shape \(4, 4, 3\)"):
        lv.Volume(bad).to_nifti(tmp_path / "b.nii")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_voxel_data_short_of_the_header_is_never_published(tmp_path, monkeypatch, suffix):
    slabs = nifti_write._slabs
    monkeypatch.setattr(nifti_write, "_slabs", lambda *a: list(slabs(*a))[:-1])
    vol = lv.Volume(da.from_array(np.ones((4, 5, 6), np.int16), chunks=(4, 5, 2)))
    with pytest.raises(WriteError, match=r"bytes of voxel data were written, but the header"):
        vol.to_nifti(tmp_path / f"s{suffix}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    "budget",
    [10**6, 2000, 480, 100, 10, 1],
    ids=["volumes", "k-chunks", "planes", "j-bands", "i-runs", "voxels"],
)
def test_slabs_stay_within_the_chunk_budget(tmp_path, monkeypatch, suffix, budget):
    """Slabs were whole k-chunks of whole planes whatever their size (1 GiB for (1024, 1024, 64)
    chunks of a 4096 x 4096 volume). Now each is within the budget (one voxel row allows it),
    and the file is still what nibabel writes for the same array."""
    a = np.random.default_rng(6).integers(-999, 999, (12, 10, 9, 3), dtype=np.int16)
    sizes = []
    compute = nifti_write._compute_slab

    def recording(data, index, dtype, dest):
        block = compute(data, index, dtype, dest)
        sizes.append(block.nbytes)
        return block

    monkeypatch.setattr(nifti_write, "chunk_budget", lambda: budget)
    monkeypatch.setattr(nifti_write, "_compute_slab", recording)
    vol = lv.Volume(da.from_array(a, chunks=(6, 5, 9, 1)))  # k-chunks of 2160 bytes
    img = nib.load(vol.to_nifti(tmp_path / f"m{suffix}"))
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), a)
    assert max(sizes) <= max(budget, a.itemsize)
    assert sum(sizes) == a.nbytes


def test_failed_writes_leave_no_threads_behind(tmp_path):
    """Slabs were computed in a throw-away thread, and dask keeps a thread pool per thread that
    computes: every failed write left one pool (a thread per core) alive."""
    import threading

    def broken(b, block_info=None):
        if block_info[0]["chunk-location"][2] == 2:
            raise RuntimeError("damaged source block")
        return b

    x = da.zeros((8, 8, 16), dtype=np.float32, chunks=(8, 8, 4))
    lv.Volume(x).to_nifti(tmp_path / "ok.nii.gz")  # the pools a good write keeps, made once
    before = threading.active_count()
    for n in range(3):
        with pytest.raises(RuntimeError, match="damaged"):
            lv.Volume(x.map_blocks(broken, dtype=np.float32)).to_nifti(tmp_path / f"{n}.nii.gz")
    assert threading.active_count() == before
    assert os.listdir(tmp_path) == ["ok.nii.gz"]


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_volume_without_voxels_is_refused_before_writing(tmp_path, suffix):
    # lv.Volume(np.zeros((0, 3, 3))) is a valid volume (to_zarr refuses it, typed); to_nifti
    # ended in memoryview's bare TypeError ('cannot cast view with zeros in shape or strides').
    vol = lv.Volume(np.zeros((3, 0, 3), "int16"))
    with pytest.raises(WriteError, match=r"shape \(3, 0, 3\) has no voxels"):
        vol.to_nifti(tmp_path / f"e{suffix}")
    assert os.listdir(tmp_path) == []
