"""An integer ``dtype=`` never truncates: values a scaling makes fractional (a slope or intercept
that is not a whole number) are refused at open, naming the fix, for NIfTI, DICOM and a Zarr
store alike; fractional values of float data are refused as their block is read. numpy's cast
truncated them without a word (RescaleSlope 0.5 read 0.75 as 0 into int32). nibabel gives scaled
values only as floats (``get_fdata`` takes float dtypes only; ``np.asarray(img.dataobj)`` is float
when scaled): the references are nibabel's and pydicom's float values."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_rescale

import lazyvol as lv
from lazyvol.testing import write_dicom_series


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


def _nifti(path, data, slope=None, inter=None):
    import nibabel as nib

    img = nib.Nifti1Image(data, np.eye(4))
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    nib.save(img, path)
    return nib.load(path)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16"])
@pytest.mark.parametrize(("slope", "inter"), [(0.5, 0.0), (1.0, 0.25), (2.0, -0.5)])
def test_a_fractional_scaling_into_an_integer_dtype_is_refused_at_open(
    tmp_path, dtype, slope, inter
):
    path = tmp_path / "a.nii"
    img = _nifti(path, np.arange(24, dtype=np.int16).reshape(2, 3, 4), slope, inter)
    assert not np.all(np.asarray(img.dataobj) == np.trunc(np.asarray(img.dataobj)))  # fractional
    with pytest.raises(lv.DataTypeError, match=r"scl_slope / scl_inter.*float32.*scale=False"):
        lv.open(path, dtype=dtype)
    # the fixes named: a float dtype gives nibabel's values; scale=False the stored integers
    np.testing.assert_array_equal(lv.open(path, dtype="float64").compute(), img.get_fdata())
    stored = lv.open(path, dtype=dtype, scale=False).compute()
    np.testing.assert_array_equal(stored, np.asarray(img.dataobj.get_unscaled()))


def test_a_whole_number_scaling_into_an_integer_dtype_still_reads(tmp_path):
    path = tmp_path / "a.nii"
    img = _nifti(path, np.arange(24, dtype=np.int16).reshape(2, 3, 4), 2.0, -3.0)
    got = lv.open(path, dtype="int32").compute()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, img.get_fdata())


def test_fractional_float_data_into_an_integer_dtype_is_refused_when_read(tmp_path):
    path = tmp_path / "f.nii"
    img = _nifti(path, (np.arange(24, dtype=np.float32) / 4).reshape(2, 3, 4))
    for scale in (True, False):
        vol = lv.open(path, dtype="int16", scale=scale)
        with pytest.raises(lv.DataTypeError, match=r"not whole numbers.*int16.*truncate"):
            vol.compute()
    whole = tmp_path / "w.nii"  # float data holding whole numbers (a label map): read exactly
    img = _nifti(whole, np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    np.testing.assert_array_equal(lv.open(whole, dtype="int16").compute(), img.get_fdata())


def test_a_dicom_series_of_fractional_rescale_into_an_integer_dtype_is_refused(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 3), slope=[1.0, 0.5, 1.0], intercept=0.0)
    with pytest.raises(lv.DataTypeError, match=r"RescaleSlope.*0\.5.*scale=False"):
        lv.open(tmp_path / "s", dtype="int32")
    ds = pydicom.dcmread(truth.files[1])
    ref = apply_rescale(ds.pixel_array, ds).T
    got = lv.open(tmp_path / "s", dtype="float64").compute()[:, :, 1]
    np.testing.assert_array_equal(got, ref)
    stored = lv.open(tmp_path / "s", dtype="int32", scale=False).compute()
    np.testing.assert_array_equal(stored, truth.stored)
    # a whole-number rescale (CT's -1024) into int32: exact, as pydicom's values
    ct = write_dicom_series(tmp_path / "ct", (8, 6, 3), intercept=-1024.0)
    got = lv.open(tmp_path / "ct", dtype="int32").compute()
    np.testing.assert_array_equal(got, ct.scaled())


def test_a_zarr_store_of_fractional_values_into_an_integer_dtype_is_refused(tmp_path):
    path = tmp_path / "a.nii"
    _nifti(path, np.arange(24, dtype=np.int16).reshape(2, 3, 4), 0.5, 0.25)
    lv.open(path).to_zarr(tmp_path / "a.zarr")
    vol = lv.open(tmp_path / "a.zarr", dtype="int32")
    with pytest.raises(lv.DataTypeError, match="not whole numbers"):
        vol.compute()


@pytest.mark.parametrize(
    ("stored", "values", "dtype"),
    [
        ("int32", [0, -1, 70000], "int16"),  # numpy's cast wraps 70000 to 4464
        ("int16", [-1, 0, 3], "uint8"),  # a label map's -1 read as 255
        ("float32", [0.0, np.nan, 2.0], "int16"),  # NaN read as 0 (or whatever the cast gives)
        ("float32", [0.0, 1.5, 2.0], "int32"),  # 1.5 truncated to 1
    ],
)
def test_numpys_dtype_on_a_volume_follows_the_integer_dtype_rule(tmp_path, stored, values, dtype):
    # np.asarray(vol, dtype=...) is a dtype= asked of lazyvol as lv.open(..., dtype=) is: the
    # values nibabel reads do not fit, so both refuse rather than wrap or truncate
    path = tmp_path / "a.nii"
    img = _nifti(path, np.array(values, stored).reshape(1, 1, 3))
    ref = np.asarray(img.dataobj).astype(np.float64)
    assert not np.array_equal(ref.astype(dtype).astype(np.float64), ref, equal_nan=True)
    with pytest.raises(lv.DataTypeError, match=str(path)):
        lv.open(path, dtype=dtype).compute()
    with pytest.raises(lv.DataTypeError, match=str(path)):
        np.asarray(lv.open(path), dtype=dtype)


def test_numpys_dtype_on_a_volume_gives_values_that_fit_exactly(tmp_path):
    path = tmp_path / "a.nii"
    img = _nifti(path, np.array([0, 3, 255, 7], np.int16).reshape(1, 2, 2), 2.0, -1.0)
    got = np.asarray(lv.open(path), dtype="int16")
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, img.get_fdata())
    assert np.asarray(lv.open(path), dtype="float32").dtype == np.float32


@pytest.mark.parametrize(
    ("stored", "slope", "inter"), [("float32", 1.0, 0.0), ("int16", 3.0, -7.0), ("uint8", 2.0, 1.0)]
)
def test_a_checked_integer_cast_needs_no_temporaries_of_the_blocks_size(stored, slope, inter):
    # a float32 block into int16 made float64, truncated and mask temporaries of the whole
    # block (peak 10x the output); an exact int64 scaling one of 4x an int16 block
    import tracemalloc

    from lazyvol.scaling import apply_scale

    values = (np.arange(2**22) % 251).astype(stored)
    truth = values.astype(np.int64) * int(slope) + int(inter)  # (whole numbers, all fit int16)
    tracemalloc.start()
    try:
        got = apply_scale(values, slope, inter, np.dtype("int16"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, truth)
    assert peak < got.nbytes + 16 * 2**20  # the output, and pieces of 2**18 values
